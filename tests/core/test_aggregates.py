"""Per (client, currency) aggregates: exact, grouped case-insensitively, equal to a GROUP BY."""
from decimal import Decimal


def ingest(service, text):
    return service.submit_text(text).wait(30)


def test_totals_are_exact_decimals(service):
    ingest(service, "\n".join('{"client": "a", "amount": 0.1, "n": %d}' % i for i in range(10)))
    [row] = service.stats()
    assert row.total == Decimal("1.0") and row.count == 10


def test_clients_group_case_insensitively_shown_in_first_seen_form(service):
    ingest(service, '{"client": "  Acme   Corp ", "amount": 1}\n'
                    '{"client": "ACME CORP", "amount": 2}\n'
                    '{"client": "acme corp", "amount": 3}\n')
    [row] = service.stats()
    assert (row.client, row.count, row.total) == ("Acme Corp", 3, Decimal(6))


def test_currencies_are_never_added_together(service):
    ingest(service, '{"client": "a", "amount": "$10"}\n{"client": "a", "amount": "10 EUR"}\n'
                    '{"client": "a", "amount": "€2.50"}\n{"client": "a", "amount": 1}\n')
    rows = {(r.client, r.currency): (r.count, r.total) for r in service.stats()}
    assert rows == {("a", None): (1, Decimal(1)), ("a", "EUR"): (2, Decimal("12.50")),
                    ("a", "USD"): (1, Decimal(10))}


def test_first_and_last_seen_come_from_event_times(service):
    ingest(service, '{"client": "a", "amount": 1, "ts": "2024-03-01T00:00:00Z"}\n'
                    '{"client": "a", "amount": 1, "ts": "2024-01-01T00:00:00Z"}\n'
                    '{"client": "a", "amount": 1, "ts": "2024-02-01T00:00:00Z"}\n')
    [row] = service.stats()
    assert row.first_seen.startswith("2024-01-01") and row.last_seen.startswith("2024-03-01")


def test_big_and_tiny_amounts_stay_exact(service):
    ingest(service, '{"client": "a", "amount": 12345678901234567890}\n'
                    '{"client": "a", "amount": 0.000000000000000001}\n')
    [row] = service.stats()
    assert row.total == Decimal("12345678901234567890.000000000000000001")


def test_aggregates_equal_group_by_over_events(service):
    lines = [f'{{"customer": "c{i % 7}", "price": "{i},{i % 100:02d} €"}}' for i in range(500)]
    lines += [f'{{"source": "C{i % 5}", "cost": {i}.5}}' for i in range(300)]
    ingest(service, "\n".join(lines))
    assert service.stats() == service.stats_from_events()
    assert sum(r.count for r in service.stats()) == 800
