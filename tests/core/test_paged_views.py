"""The queries behind the Pending and Quarantine views: true counts (the text filter's too),
keyset pages that reach the oldest row, and sorting done over every row, on both backends."""
import pytest

from faultsim_desktop.core.faults import FaultConfig, FaultMode, FaultPoint, FaultSwitch
from faultsim_desktop.core.paging import (PENDING_SORTS, QUARANTINE_SORTS, PageQuery, ViewCount,
                                          sort_key)
from faultsim_desktop.core.retry import RetryPolicy
from faultsim_desktop.core.service import IngestService


def bad_lines(n, client="c", start=0):
    """``n`` distinct lines the engine rejects (an amount with no number in it)."""
    return "\n".join('{"client": "%s%d", "amount": "bad%d"}' % (client, i % 7, i)
                     for i in range(start, start + n))


def every_page(read, sort="id", descending=True, text="", limit=500):
    """Every row, a keyset page at a time, as a view that scrolls to the end reads them."""
    sorts = QUARANTINE_SORTS if sort in QUARANTINE_SORTS else PENDING_SORTS
    rows, after = [], None
    while True:
        page = read(PageQuery(text=text, sort=sort, descending=descending, after=after,
                              limit=limit))
        rows += page
        if len(page) < limit:
            return rows
        after = sort_key(page[-1], sorts, sort)


def test_every_open_entry_is_counted_and_paged_newest_first(db, open_service):
    svc = open_service(db)
    assert svc.submit_text(bad_lines(3019), source="bad.ndjson").wait(60).rejected == 3019
    assert svc.quarantine_count() == ViewCount(3019, 3019)  # not capped at 1,000
    rows = every_page(lambda q: svc.quarantine_page("open", q))
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)) == 3019
    assert ids == sorted(ids, reverse=True)
    assert (rows[0].line, rows[-1].line) == (3019, 1)  # newest first; the oldest is reached
    oldest_first = every_page(lambda q: svc.quarantine_page("open", q), descending=False)
    assert oldest_first == rows[::-1]


@pytest.fixture
def varied(db, open_service):
    """Entries from two files, some seen twice, one resolved: ties in every sort column."""
    svc = open_service(db)
    svc.submit_text(bad_lines(40), source="b.ndjson").wait(30)
    svc.submit_text(bad_lines(25, client="Zed", start=100) + '\n{"client": "x", ',
                    source="a.ndjson").wait(30)
    svc.submit_text(bad_lines(10, start=5), source="again.ndjson").wait(30)  # seen twice
    first = svc.quarantine_page("open", PageQuery(descending=False, limit=1))[0]
    assert svc.resubmit_quarantined(first.id, '{"client": "c0", "amount": 1}').accepted == 1
    return svc


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("sort", sorted(QUARANTINE_SORTS))
def test_the_quarantine_sorts_over_every_entry(varied, sort, descending):
    everything = varied.quarantine(None, limit=10_000)
    assert len(everything) == 66 and {e.times_seen for e in everything} == {1, 2}
    for status in ("open", "resolved", None):
        expected = sorted((e for e in everything if status in (None, e.status)),
                          key=lambda e: sort_key(e, QUARANTINE_SORTS, sort), reverse=descending)
        got = every_page(lambda q: varied.quarantine_page(status, q), sort, descending, limit=7)
        assert got == expected


def test_the_text_filter_and_the_status_narrow_counts_and_pages(varied):
    assert varied.quarantine_count("open") == ViewCount(65, 65)
    assert varied.quarantine_count("resolved") == ViewCount(1, 1)
    assert varied.quarantine_count(None) == ViewCount(66, 66)
    # the client is in the raw text; case does not matter
    zed = every_page(lambda q: varied.quarantine_page("open", q), text="zED", limit=4)
    assert len(zed) == 25 and all('"Zed' in e.raw for e in zed)
    assert varied.quarantine_count("open", "zED") == ViewCount(65, 25)
    # the reason and the source are searched too
    assert varied.quarantine_count("open", "end of input") == ViewCount(65, 1)
    assert varied.quarantine_count("open", "A.NDJSON") == ViewCount(65, 26)
    # the resolved entry is found under its status only
    assert varied.quarantine_count("resolved", '"c0"') == ViewCount(1, 1)
    assert varied.quarantine_count(None, "bad0\"") == ViewCount(66, 1)
    assert varied.quarantine_count("open", "bad0\"") == ViewCount(65, 0)
    assert varied.quarantine_page("open", PageQuery(text="bad0\"")) == []


def test_like_wildcards_in_the_filter_are_plain_characters(db, open_service):
    svc = open_service(db)
    svc.submit_text('{"client": "100%_sure", "amount": "x1"}\n'
                    '{"client": "1000 sure", "amount": "x2"}\n'
                    '{"client": "back\\\\slash", "amount": "x3"}').wait(30)
    assert svc.quarantine_count("open", "0%_s") == ViewCount(3, 1)
    assert svc.quarantine_count("open", "%") == ViewCount(3, 1)
    assert svc.quarantine_count("open", "_") == ViewCount(3, 1)
    assert svc.quarantine_count("open", "k\\\\s") == ViewCount(3, 1)
    [entry] = svc.quarantine_page("open", PageQuery(text="%_"))
    assert "100%_sure" in entry.raw


def test_upto_reads_from_the_top_down_to_a_row_as_rows_arrive(db, open_service):
    svc = open_service(db)
    svc.submit_text(bad_lines(50), source="first").wait(30)
    shown = svc.quarantine_page("open", PageQuery(limit=20))
    bound = sort_key(shown[-1], QUARANTINE_SORTS, "id")
    assert svc.quarantine_page("open", PageQuery(upto=bound, limit=1000)) == shown
    svc.submit_text(bad_lines(5, start=500), source="later").wait(30)
    again = svc.quarantine_page("open", PageQuery(upto=bound, limit=1000))
    assert [e.source for e in again[:5]] == ["later"] * 5 and again[5:] == shown


def test_an_unknown_sort_is_refused(service):
    with pytest.raises(ValueError, match="cannot sort by 'raw'"):
        service.quarantine_page("open", PageQuery(sort="raw"))
    with pytest.raises(ValueError, match="cannot sort by 'reason'"):
        service.pending_page(PageQuery(sort="reason"))


def test_twenty_thousand_waiting_events_are_counted_sorted_filtered_and_paged(db_path):
    faults = FaultSwitch(3)
    faults.set(FaultPoint.BEFORE_WRITE, FaultConfig(FaultMode.ALWAYS))
    events = ['{"client": "%s", "amount": %d}' % ("early" if i < 100 else f"c{i % 9}", i)
              for i in range(20_000)]
    with IngestService(db_path, faults=faults, workers=0,
                       retry=RetryPolicy(attempts=1, base_delay_s=0, cap_s=0)) as svc:
        assert svc.submit_text("\n".join(events[:100]), source="early").wait(60).failed == 100
        assert svc.retry_pending().failed == 100  # these 100 now show 2 attempts
        assert svc.submit_text("\n".join(events[100:]), source="late").wait(120).failed == 19_900
        assert svc.pending_count() == ViewCount(20_000, 20_000)  # not capped at 1,000

        rows = every_page(svc.pending_page, limit=1000)
        ids = [p.id for p in rows]
        assert len(set(ids)) == 20_000 and ids == sorted(ids, reverse=True)
        assert rows[0].raw == events[-1] and rows[-1].raw == events[0]  # newest first, oldest last

        everything = svc.pending(None)
        for sort in PENDING_SORTS:
            for descending in (True, False):
                expected = sorted(everything, key=lambda p: sort_key(p, PENDING_SORTS, sort),
                                  reverse=descending)
                assert every_page(svc.pending_page, sort, descending, limit=3000) == expected
        by_attempts = every_page(svc.pending_page, "attempts", limit=3000)
        assert {p.attempts for p in by_attempts[:100]} == {2}
        assert {p.raw for p in by_attempts[:100]} == set(events[:100])

        assert svc.pending_count("EARLY") == ViewCount(20_000, 100)
        early = every_page(svc.pending_page, text="EARLY", limit=30)
        assert [p.raw for p in early] == events[:100][::-1]
        assert svc.pending_count("simulated database crash").matching == 20_000
