"""``faultsim schema list|show|history|set|retire|preview``: per-client mappings."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.schemas import TIME_FORMATS, UNITS, Mapping, MappingError, new_mapping
from ..core.service import IngestService
from .common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, clean, db_of, existing_db, table


def add_parser(sub, common) -> None:
    p = sub.add_parser("schema", parents=[common],
                       help="per-client mappings: list, show, set, preview, history")
    ssub = p.add_subparsers(dest="action", metavar="ACTION")
    q = ssub.add_parser("list", parents=[common], help="every client's active mapping")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("show", parents=[common], help="one client's mapping")
    q.add_argument("client")
    q.add_argument("--version", type=int, default=None, help="an older version (default: active)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("history", parents=[common],
                        help="every version of a client's mapping, with the events each normalized")
    q.add_argument("client")
    q.add_argument("--json", action="store_true")
    mapping = argparse.ArgumentParser(add_help=False)
    g = mapping.add_argument_group("mapping (the whole mapping: what is not given is not mapped)")
    g.add_argument("--amount", metavar="FIELD", help="field of the amount; dotted for nested "
                                                     "(payment.value)")
    units = g.add_mutually_exclusive_group()
    units.add_argument("--units", choices=tuple(UNITS), default=None,
                       help="what one unit of the amount field is worth (default: units)")
    units.add_argument("--cents", action="store_const", const="cents", dest="units",
                       help="the amount field counts cents (same as --units cents)")
    g.add_argument("--currency", metavar="CODE", help="ISO 4217 code used when the event names "
                                                      "no currency")
    g.add_argument("--time", metavar="FIELD", help="field of the event time")
    g.add_argument("--time-format", choices=TIME_FORMATS, default=None,
                   help="format of the time field (default: auto)")
    g.add_argument("--key", metavar="FIELD", help="field of the idempotency key")
    g.add_argument("--client-field", metavar="FIELD",
                   help="field that names the client (default: the usual client fields)")
    q = ssub.add_parser("set", parents=[common, mapping],
                        help="store a new version of a client's mapping")
    q.add_argument("client")
    q.add_argument("--note", default="", help="why this version (kept with it)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("retire", parents=[common],
                        help="hand a client back to the heuristics (a new version; the history "
                             "and stored events stay)")
    q.add_argument("client")
    q.add_argument("--note", default="", help="why (kept with the version)")
    q.add_argument("--json", action="store_true")
    q = ssub.add_parser("preview", parents=[common, mapping],
                        help="how a file's first events normalize under the client's current "
                             "mapping, or under the one the options give; stores nothing")
    q.add_argument("client")
    q.add_argument("file", type=Path, help="JSON/NDJSON file; - for stdin")
    q.add_argument("-n", "--limit", type=int, default=50, help="events to show (default 50)")
    q.add_argument("--json", action="store_true")



def _mapping_json(m: Mapping) -> dict:
    return {**m.fields(), "version": m.version, "created_at": m.created_at, "note": m.note}


def _mapping_from_args(args) -> Mapping:
    return new_mapping(args.client, args.amount, units=args.units or "units",
                       currency=args.currency, time_field=args.time,
                       time_format=args.time_format or "auto", key_field=args.key,
                       client_field=args.client_field, note=getattr(args, "note", ""))


def _mapping_given(args) -> bool:
    return any(getattr(args, k) is not None for k in (
        "amount", "units", "currency", "time", "time_format", "key", "client_field"))


def _print_mapping(m: Mapping) -> None:
    rows = [("client", m.client), ("version", f"v{m.version}"), ("created", m.created_at or ""),
            ("client field", m.client_field or "(the usual client fields)"),
            ("amount field", m.amount_field), ("units", m.units),
            ("default currency", m.currency or "(none)"),
            ("time field", m.time_field or "(the usual time fields)"),
            ("time format", m.time_format),
            ("idempotency key", m.key_field or "(the usual key fields)"),
            ("note", m.note or "")]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k + ':':<{width + 1}}  {clean(v)}")


def _print_saved(saved: Mapping, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_mapping_json(saved), ensure_ascii=False))
        return
    print(f"saved {saved.label}: {saved.describe()}")
    print("events sent from now on use " + ("the heuristics" if saved.retired else "it")
          + "; stored events keep the version that normalized them", file=sys.stderr)


def run(args) -> int:
    action = args.action or "list"
    if action == "set":
        try:
            mapping = _mapping_from_args(args)
        except MappingError as exc:
            print(f"faultsim: {exc}", file=sys.stderr)
            return EXIT_USAGE
        with IngestService(db_of(args), workers=0) as svc:
            saved = svc.save_mapping(mapping)
        _print_saved(saved, args.json)
        return EXIT_OK
    if action == "retire":
        with IngestService(existing_db(args), workers=0) as svc:
            try:
                saved = svc.retire_mapping(args.client, args.note)
            except MappingError as exc:
                print(f"faultsim: {exc}", file=sys.stderr)
                return EXIT_ERROR
        _print_saved(saved, args.json)
        return EXIT_OK
    proposed = None
    if action == "preview" and _mapping_given(args):
        try:
            proposed = _mapping_from_args(args)
        except MappingError as exc:
            print(f"faultsim: {exc}", file=sys.stderr)
            return EXIT_USAGE
    with IngestService(existing_db(args), workers=0) as svc:
        if action == "list":
            rows = svc.mappings()
            if args.json:
                print(json.dumps([_mapping_json(m) for m in rows], ensure_ascii=False))
            else:
                table(["client", "version", "created", "mapping", "note"],
                       [[m.client, f"v{m.version}", m.created_at or "", m.describe(),
                         m.note[:60]] for m in rows])
            return EXIT_OK
        if action == "preview":
            return _schema_preview(svc, args, proposed)
        history = svc.mapping_history(args.client)
        if not history:
            print(f"faultsim: client {args.client!r} has no mapping (faultsim schema set "
                  f"CLIENT --amount FIELD creates one)", file=sys.stderr)
            return EXIT_ERROR
        if action == "show":
            chosen = [m for m in history if args.version in (None, m.version)]
            if not chosen:
                print(f"faultsim: client {args.client!r} has no mapping v{args.version} "
                      f"(versions: {', '.join(f'v{m.version}' for m in history)})",
                      file=sys.stderr)
                return EXIT_ERROR
            m = chosen[0]
            if args.json:
                print(json.dumps(_mapping_json(m), ensure_ascii=False))
            else:
                _print_mapping(m)
            return EXIT_OK
        usage = svc.mapping_usage(args.client)
        if args.json:
            print(json.dumps({"client": history[0].client,
                              "versions": [{**_mapping_json(m), "events": usage.get(m.version, 0)}
                                           for m in history],
                              "events_by_heuristics": usage.get(None, 0)}, ensure_ascii=False))
        else:
            table(["version", "created", "events", "mapping", "note"],
                   [[f"v{m.version}", m.created_at or "", f"{usage.get(m.version, 0):,}",
                     m.describe(), m.note[:60]] for m in history], right={2})
            if usage.get(None):
                print(f"{usage[None]:,} stored event(s) of this client were normalized by the "
                      "heuristics (before any mapping)")
        return EXIT_OK


def _schema_preview(svc: IngestService, args, proposed: Mapping | None) -> int:
    if proposed is None and svc.registry().get(args.client) is None:
        print(f"faultsim: client {args.client!r} has no mapping yet: the preview shows the "
              "heuristics (give --amount ... to preview a proposed mapping)", file=sys.stderr)
    try:
        if str(args.file) == "-":
            items = svc.preview(sys.stdin.buffer.read(), proposed, max(1, args.limit))
        else:
            items = svc.preview_file(args.file, proposed, max(1, args.limit))
    except OSError as exc:
        print(f"faultsim: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    rows = [_preview_row(p) for p in items]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        table(["line", "outcome", "mapping", "client", "amount", "currency", "time", "key",
                "warnings / reason"],
               [[r["line"], r["outcome"], f"v{r['mapping_version']}" if r["mapping_version"]
                 else ("heuristics" if r["outcome"] == "normalized" else ""),
                 r["client"] or "", r["amount"] or "", r["currency"] or "",
                 r["event_time"] or "", r["idempotency_key"] or "",
                 (r["reason"] or "; ".join(r["warnings"]))[:100]] for r in rows], right={0, 4})
    return EXIT_OK


def _preview_row(p) -> dict:
    rejected = p.reject_code is not None
    return {"line": p.line, "column": p.column,
            "outcome": "rejected" if rejected else "normalized",
            "mapping_version": p.mapping_version, "client": p.client, "amount": p.amount,
            "currency": p.currency, "event_time": p.event_time,
            "idempotency_key": p.idempotency_key, "warnings": list(p.warnings),
            "code": p.reject_code, "reason": p.reason}
