"""One client's events read from the database, as the drill-down and the history chart read
them: keyset pages newest first, filters, exact per-currency sums that equal the aggregate
rows, and history series in event-time order. On SQLite and PostgreSQL alike."""
from dataclasses import replace
from decimal import Decimal
from itertools import accumulate

import pytest

from faultsim_desktop.core.client_events import CurrencyTotal, EventFilter, filter_time
from faultsim_desktop.core.paging import PageQuery


def ev(client, amount, currency=None, t=None, **more):
    parts = [f'"client": "{client}"', f'"amount": "{amount}"']
    if currency:
        parts.append(f'"currency": "{currency}"')
    if t:
        parts.append(f'"timestamp": "{t}"')
    parts += [f'"{k}": "{v}"' for k, v in more.items()]
    return "{" + ", ".join(parts) + "}"


def store(service, lines, source="pasted"):
    summary = service.submit_text("\n".join(lines), source=source).wait(60)
    assert summary.accepted == len(lines), summary
    return summary


def mixed(n=60):
    """Acme in three currencies (and none), with amounts whose float sum is not exact."""
    currencies = ["EUR", "USD", "JPY", None]
    return [ev("Acme" if i % 5 else "  ACME ", f"{i}.{i % 100:02d}1", currencies[i % 4],
               f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z", note=f"n{i}") for i in range(n)]


def test_with_no_filter_the_sums_equal_the_aggregate_rows_per_currency(service):
    store(service, mixed())
    store(service, [ev("Other", "999.99", "EUR"), ev("Other", "1", "USD")])
    summary = service.client_events_summary("acme")
    assert summary == service.client_totals("Acme")
    stats = {(r.currency, r.count, r.total) for r in service.stats() if r.client.casefold() == "acme"}
    assert {(r.currency, r.count, r.total) for r in summary} == stats
    assert [r.currency for r in summary] == ["EUR", "JPY", "USD", None]
    assert sum(r.count for r in summary) == 60
    eur = next(r for r in summary if r.currency == "EUR")
    expected = sum((Decimal(f"{i}.{i % 100:02d}1") for i in range(0, 60, 4)), Decimal(0))
    assert eur.total == expected and isinstance(eur.total, Decimal)


def test_pages_come_newest_first_and_reach_every_event_once(service):
    store(service, mixed(250))
    seen, after = [], None
    while True:
        page = service.client_events_page("Acme", EventFilter(),
                                          PageQuery(after=after, limit=40))
        seen += page
        if len(page) < 40:
            break
        after = (page[-1].id,)
    ids = [e.id for e in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 250
    by_time = service.client_events_page("Acme", EventFilter(),
                                         PageQuery(sort="event_time", limit=300))
    keys = [(e.event_time, e.id) for e in by_time]
    assert keys == sorted(keys, reverse=True) and len(keys) == 250
    newest = seen[0]
    assert (newest.amount, newest.currency, newest.source, newest.line) == ("249.491", "USD",
                                                                            "pasted", 250)
    assert '"note": "n249"' in newest.raw


def test_filters_select_what_they_say_and_the_sums_follow(service):
    store(service, mixed(), source="first.ndjson")
    store(service, [ev("Acme", "0.5", "EUR", "2024-02-10T00:00:00Z", note="special")],
          source="second.ndjson")
    everything = service.client_events_page("Acme", EventFilter(), PageQuery(limit=1000))

    def check(f):
        rows = service.client_events_page("Acme", f, PageQuery(limit=1000))
        sums = service.client_events_summary("Acme", f)
        expected = {}
        for e in rows:
            n, t = expected.get(e.currency, (0, Decimal(0)))
            expected[e.currency] = (n + 1, t + Decimal(e.amount))
        assert {s.currency: (s.count, s.total) for s in sums} == expected
        return rows

    eur = check(EventFilter(currency="EUR"))
    assert len(eur) == 16 and {e.currency for e in eur} == {"EUR"}
    none = check(EventFilter(currency=""))
    assert len(none) == 15 and {e.currency for e in none} == {None}
    jan = check(EventFilter(time_from=filter_time("2024-01-10"),
                            time_to=filter_time("2024-01-12", end=True)))
    assert jan and {e.event_time[:10] for e in jan} == {"2024-01-10", "2024-01-11", "2024-01-12"}
    assert len(jan) == sum(1 for e in everything if "2024-01-10" <= e.event_time[:10]
                           <= "2024-01-12")
    special = check(EventFilter(text="SPECIAL"))  # the raw text, whatever the case
    assert [(e.amount, e.source) for e in special] == [("0.5", "second.ndjson")]
    by_source = check(EventFilter(text="first.nd"))
    assert len(by_source) == 60
    assert check(EventFilter(text="100%_")) == []  # LIKE's wildcards are taken literally
    both = check(replace(EventFilter(currency="EUR"), time_from=filter_time("2024-02-01")))
    assert [e.amount for e in both] == ["0.5"]
    other = service.client_events_summary("Nobody")
    assert other == []


def test_a_time_the_filter_cannot_read_says_what_was_typed():
    with pytest.raises(ValueError, match="'next tuesday' is not a time"):
        filter_time("next tuesday")
    assert filter_time("  ") is None
    assert filter_time("2024-01-31", end=True) == "2024-01-31T23:59:59.999999Z"
    assert filter_time("2024-01-31T10:00:00+02:00", end=True) == "2024-01-31T08:00:00.000000Z"


def test_history_series_per_client_and_currency_in_event_time_order(service):
    lines = [ev("Acme", "1.10", "EUR", "2024-01-03T00:00:00Z"),
             ev("Acme", "2.20", "EUR", "2024-01-01T00:00:00Z"),
             ev("Beta", "5", "USD", "2024-01-02T00:00:00Z"),
             ev("Acme", "3", None, "2024-01-02T00:00:00Z"),
             ev("Acme", "0.01", "EUR", "2024-01-02T00:00:00Z")]
    store(service, lines)
    series = service.client_history(["beta", "ACME", "Acme", "Nobody"])
    assert [(s.client, s.currency) for s in series] == [("beta", "USD"), ("ACME", "EUR"),
                                                        ("ACME", None)]
    eur = series[1]
    assert eur.times == ["2024-01-01T00:00:00.000000", "2024-01-02T00:00:00.000000",
                         "2024-01-03T00:00:00.000000"]
    assert list(accumulate(eur.amounts)) == [Decimal("2.20"), Decimal("2.21"), Decimal("3.31")]
    last = max(i for s in series for i in s.ids)
    store(service, [ev("Acme", "7", "EUR", "2024-01-04T00:00:00Z"),
                    ev("Gamma", "1", "EUR", "2024-01-04T00:00:00Z")])
    newer = service.client_history(["Acme", "Beta"], since_event_id=last)
    assert [(s.client, s.currency, s.amounts) for s in newer] == [("Acme", "EUR",
                                                                   [Decimal("7")])]
    assert CurrencyTotal("EUR", 4, Decimal("10.31")) in service.client_totals("acme")


def test_the_import_filter_and_the_clients_imports(service):
    store(service, [ev("Acme", "1.10", "EUR"), ev("Acme", "2", "USD"), ev("Beta", "9", "EUR")],
          source="first.ndjson")
    store(service, [ev("Acme", "3.30", "EUR")], source="second.ndjson")
    imports = service.client_imports("ACME")
    assert [(i.source, i.events, i.undone_at) for i in imports] == [("second.ndjson", 1, None),
                                                                     ("first.ndjson", 2, None)]
    first, second = imports[1].id, imports[0].id
    rows = service.client_events_page("Acme", EventFilter(import_id=first), PageQuery())
    assert [(e.amount, e.import_id) for e in rows] == [("2", first), ("1.10", first)]
    assert service.client_events_summary("Acme", EventFilter(import_id=second)) == [
        CurrencyTotal("EUR", 1, Decimal("3.30"))]
    # an undone import's events leave the drill-down and its sums, as they leave the totals
    service.undo_import(first)
    assert service.client_events_summary("Acme") == service.client_totals("Acme") == [
        CurrencyTotal("EUR", 1, Decimal("3.30"))]
    assert [i.id for i in service.client_imports("Acme")] == [second]
    assert service.client_events_page("Acme", EventFilter(import_id=first), PageQuery()) == []
