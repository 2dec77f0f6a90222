"""IngestService's per-client mapping methods: store, retire, list and preview mappings
(core/schemas.py). A base class of IngestService, which provides ``_reader``, ``in_writer``,
``registry`` and ``_load_registry``."""
from __future__ import annotations

import itertools
import logging
import os
from dataclasses import replace

from .model import Candidate, Prepared
from .normalize import client_display
from .parsing import iter_file, split_text
from .pipeline import prepare_one
from .schemas import Mapping, MappingError, retirement
from .writer import utc_now

PREVIEW_LIMIT = 500  # events a schema preview normalizes

log = logging.getLogger(__name__)


def client_key(client: str) -> str:
    return client_display(client).casefold()


def mappings_from(rows) -> list[Mapping]:
    out = []
    for key, version, text, at, note in rows:
        try:
            out.append(Mapping.from_row(version, text, at, note))
        except (ValueError, TypeError):  # never written by this code; left out, said once
            log.error("mapping v%s of %r cannot be read", version, key)
    return out


class MappingMethods:
    """The mapping half of IngestService's public methods."""

    def save_mapping(self, mapping: Mapping) -> Mapping:
        """Store ``mapping`` (from ``schemas.new_mapping``) as the newest version of its
        client's mapping; events submitted from now on use it, stored ones keep theirs."""
        now = utc_now()
        version = self.in_writer(lambda s: s.save_mapping(mapping.client_key, mapping.to_json(),
                                                         mapping.note, now))
        self._load_registry(force=True)
        return replace(mapping, version=version, created_at=now)

    def mappings(self) -> list[Mapping]:
        """The active mapping of every client that has one, by client name."""
        with self._reader() as r:
            rows = r.mappings()
        return sorted((m for m in mappings_from(rows) if not m.retired),
                      key=lambda m: (m.client_key, m.client))

    def retire_mapping(self, client: str, note: str = "") -> Mapping:
        """Hand ``client`` back to the heuristics: a new version that maps nothing. Stored
        events keep the version that normalized them; the history stays."""
        active = self.registry().get(client) if client_display(client) else None
        if active is None:
            self._load_registry(force=True)
            active = self._registry.get(client) if client_display(client) else None
        if active is None:
            raise MappingError(f"client {client!r} has no active mapping")
        return self.save_mapping(retirement(active.client, note))

    def mapping_history(self, client: str) -> list[Mapping]:
        """Every version of a client's mapping, newest first."""
        with self._reader() as r:
            rows = r.mapping_history(client_key(client))
        return mappings_from(rows)

    def mapping_usage(self, client: str) -> dict[int | None, int]:
        """Stored events of a client per mapping version that normalized them (None: the
        heuristics)."""
        with self._reader() as r:
            return r.mapping_usage(client_key(client))

    def recent_raw(self, client: str, limit: int = 20) -> list[str | bytes]:
        """The raw text of a client's newest stored events (samples for a schema preview)."""
        with self._reader() as r:
            return r.recent_raw(client_key(client), limit)

    def preview(self, text: str | bytes, mapping: Mapping | None = None,
                limit: int = PREVIEW_LIMIT) -> list[Prepared]:
        """How the events of ``text`` would be normalized now (by ``mapping`` for its client
        when given: a proposed version, numbered as the next one), through the same function as
        ingestion; nothing is stored."""
        return self._preview(split_text(text, "preview")[:limit], mapping)

    def preview_file(self, path: str | os.PathLike, mapping: Mapping | None = None,
                     limit: int = PREVIEW_LIMIT) -> list[Prepared]:
        """``preview`` of the first ``limit`` events of a file (read no further)."""
        with open(path, "rb") as f:
            return self._preview(list(itertools.islice(iter_file(f, str(path)), limit)), mapping)

    def _preview(self, candidates: list[Candidate], mapping: Mapping | None) -> list[Prepared]:
        registry = self.registry()
        if mapping is not None:
            if mapping.version is None:  # after the newest stored version, a retired one too
                newest = max((m.version or 0 for m in self.mapping_history(mapping.client)),
                             default=0)
                mapping = replace(mapping, version=newest + 1)
            registry = registry.with_mapping(mapping)
        now = utc_now()
        return [prepare_one(c, now, None, registry) for c in candidates]
