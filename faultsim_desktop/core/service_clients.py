"""IngestService's reads of one client's stored events: the drill-down's pages and sums, and
the history chart's series. A base class of IngestService, which provides ``_reader``.

Clients are named as a user writes them (any spelling that groups with the name); the reads
look the grouping key up, as ingestion does."""
from __future__ import annotations

from typing import Iterable

from .client_events import ClientEvent, ClientImport, CurrencyTotal, EventFilter, HistorySeries
from .paging import PageQuery
from .service_mappings import client_key


class ClientMethods:
    """The per-client read half of IngestService's public methods."""

    def client_events_page(self, client: str, filters: EventFilter = EventFilter(),
                           query: PageQuery = PageQuery()) -> list[ClientEvent]:
        """One keyset page of the client's events that ``filters`` select: newest first by
        arrival (``query.sort`` "id") or by event time ("event_time")."""
        with self._reader() as r:
            return r.client_events_page(client_key(client), filters, query)

    def client_events_summary(self, client: str, filters: EventFilter = EventFilter()
                              ) -> list[CurrencyTotal]:
        """Count and exact total per currency of the client's events that ``filters``
        select, read from the events themselves; with no filter, they equal the client's
        aggregate rows (``client_totals``)."""
        with self._reader() as r:
            return r.client_events_summary(client_key(client), filters)

    def client_totals(self, client: str) -> list[CurrencyTotal]:
        """The client's aggregate rows, one per currency (what the Clients table shows)."""
        with self._reader() as r:
            return r.client_totals(client_key(client))

    def client_imports(self, client: str, limit: int = 200) -> list[ClientImport]:
        """The newest ``limit`` imports holding events of the client, with how many each."""
        with self._reader() as r:
            return r.client_imports(client_key(client), limit)

    def client_history(self, clients: Iterable[str], since_event_id: int | None = None
                       ) -> list[HistorySeries]:
        """Every event of ``clients`` (only those with an id above ``since_event_id`` when
        given) as one series per client and currency, in event-time order. Series of a
        client come in the order of ``clients``, currencies by code, none last."""
        names: dict[str, str] = {}
        for c in clients:
            names.setdefault(client_key(c), c)  # the first spelling names the series
        with self._reader() as r:
            found = r.client_history(names, since_event_id or 0)
        order = {k: i for i, k in enumerate(names)}
        ranked = sorted(found.items(), key=lambda kv: (order.get(kv[0][0], len(order)),
                                                       kv[0][1] is None, kv[0][1] or ""))
        return [HistorySeries(names.get(key, key), currency, ids, times, amounts)
                for (key, currency), (ids, times, amounts) in ranked]
