"""What normalization costs per event: ``normalize_with_time_value`` (the function worker
processes run on every event) over the parsed events of a messy corpus, in this process.

    python benchmarks/normalize_cost.py --events 200000 --rounds 9
    python benchmarks/normalize_cost.py --against ../other-checkout    # a paired comparison

``--against`` loads the normalize package of another checkout beside this one and times both on
the same events in alternating rounds, so a load that comes and goes on a shared machine falls
on both alike; it prints each one's best round and the median of the per-round ratios.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import SHAPES, generate  # noqa: E402

from faultsim_desktop.core import normalize as here  # noqa: E402
from faultsim_desktop.core.parsing import split_text  # noqa: E402

RECEIVED = "2024-01-01T00:00:00.000000Z"


def _load(checkout: Path):
    """The normalize package of another checkout, as a package of its own name."""
    folder = checkout / "faultsim_desktop" / "core" / "normalize"
    spec = importlib.util.spec_from_file_location(
        "other_normalize", folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["other_normalize"] = module
    spec.loader.exec_module(module)
    return module


def _round(fn, objs) -> float:
    start = time.perf_counter()
    for obj in objs:
        try:
            fn(obj, received_at=RECEIVED)
        except Exception:  # a rejection costs what it costs; both sides reject alike
            pass
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--shape", choices=SHAPES, default="feed",
                    help="corpus shape (benchmarks/corpus.py): feed, like real feeds, or tidy")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--against", type=Path, help="another checkout to compare with")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="faultsim-normalize-") as tmp:
        path = Path(tmp) / "corpus.ndjson"
        generate(path, args.events, shape=args.shape)
        objs = [c.obj for c in split_text(path.read_bytes(), "corpus") if c.obj is not None]
    sides = {"this": here.normalize_with_time_value}
    if args.against is not None:
        sides["against"] = _load(args.against).normalize_with_time_value
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides.items())
    for _ in range(args.rounds):
        for name, fn in order:
            times[name].append(_round(fn, objs))
        order.reverse()  # neither side always runs first
    out = {"events": len(objs), "shape": args.shape, "rounds": args.rounds}
    for name, ts in times.items():
        out[name] = {"best_seconds": round(min(ts), 3),
                     "events_per_s": round(len(objs) / min(ts))}
    if args.against is not None:
        ratios = [a / b for a, b in zip(times["this"], times["against"])]
        out["this_over_against_median"] = round(statistics.median(ratios), 4)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
