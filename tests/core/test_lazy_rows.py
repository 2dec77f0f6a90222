"""A worker's answer reaches the writer packed (``pipeline.LazyRows``) and is taken apart by
the writer thread, not by the thread that reads the file. Whatever size the writer's batches
are, a file ingested through the worker processes stores exactly what one ingested without
them stores."""
import io
import pickle
import threading

import pytest

from benchmarks.corpus import generate

from faultsim_desktop.core import pipeline
from faultsim_desktop.core import service as service_module
from faultsim_desktop.core.model import ImportTag
from faultsim_desktop.core.parsing import iter_chunks
from faultsim_desktop.core.service import IngestService

RECEIVED = "2026-03-01T12:00:00.000000Z"
FEED_LINES = 3_000


@pytest.fixture(scope="module")
def feed(tmp_path_factory):
    path = tmp_path_factory.mktemp("feed") / "feed.ndjson"
    generate(path, FEED_LINES, seed=23, shape="feed")
    return path


def _answers(data: bytes):
    """Each chunk's answer as the pool hands it to the parent (pickled and back)."""
    for chunk in iter_chunks(io.BytesIO(data), "feed.jsonl", chunk_bytes=16 << 10):
        sent = pickle.dumps(pipeline.process_chunk_packed(chunk, RECEIVED))
        yield chunk, pickle.loads(sent)


def test_lazy_rows_are_the_rows_of_the_chunk(feed):
    tag = ImportTag(3, "feed.jsonl", "file", RECEIVED, "")
    for chunk, answer in _answers(feed.read_bytes()):
        lazy = pipeline.LazyRows(answer, tag)
        expected = pipeline.process_chunk(chunk, RECEIVED, None, tag)
        assert len(lazy) == len(expected)  # known before anything is taken apart
        assert list(lazy) == expected
        assert lazy[0] == expected[0] and lazy[-2:] == expected[-2:]
        assert lazy.rows() is lazy.rows()  # taken apart once
        assert all(row[-1] is tag for row in lazy)


def _stored(svc: IngestService) -> dict:
    return {
        "totals": sorted((r.client, r.currency or "", r.count, r.total) for r in svc.stats()),
        # in id order: the chunks' rows reach the writer in the file's order either way (the
        # ids themselves differ on PostgreSQL, whose refused inserts use up sequence numbers)
        "events": [(e.fingerprint, e.amount, e.line)
                   for e in svc.events_page(limit=FEED_LINES)],
        "quarantine": sorted((q.line, q.column, q.code, q.reason)
                             for q in svc.quarantine(status=None, limit=FEED_LINES)),
    }


@pytest.fixture
def small_pool_chunks(monkeypatch):
    """Send even a small file through the worker processes, in chunks of 32 KiB."""
    monkeypatch.setattr(service_module, "POOL_THRESHOLD_BYTES", 64 << 10)
    monkeypatch.setattr(service_module, "POOL_CHUNK_BYTES", 32 << 10)


@pytest.mark.parametrize("batch_size", [7, 50_000])
def test_a_pooled_ingest_stores_what_an_ingest_without_workers_stores(
        new_db, feed, small_pool_chunks, batch_size):
    """Batches of 7 events cut every chunk into slices; batches of 50,000 take them whole.
    On each backend: the writer is the same, the statements are not."""
    with IngestService(new_db("plain"), workers=0) as svc:
        plain = svc.ingest_file(feed)
        expected = _stored(svc)
    with IngestService(new_db("pooled"), workers=1, batch_size=batch_size) as svc:
        pooled = svc.ingest_file(feed)
        assert _stored(svc) == expected
    assert (pooled.received, pooled.accepted, pooled.duplicates, pooled.rejected,
            pooled.failed) == (plain.received, plain.accepted, plain.duplicates,
                               plain.rejected, plain.failed) == (
        FEED_LINES, plain.accepted, plain.duplicates, plain.rejected, 0)
    assert plain.duplicates > 0 and plain.rejected > 0


def test_the_writer_thread_takes_the_workers_rows_apart(tmp_path, feed, small_pool_chunks,
                                                        monkeypatch):
    threads = []
    unpack = pipeline.unpack_rows

    def noting_thread(packed, tag):
        threads.append(threading.current_thread().name)
        return unpack(packed, tag)

    monkeypatch.setattr(pipeline, "unpack_rows", noting_thread)
    with IngestService(tmp_path / "pooled.db", workers=1) as svc:
        summary = svc.ingest_file(feed)
    assert summary.received == FEED_LINES
    assert len(threads) > 1  # one per chunk
    assert set(threads) == {"faultsim-writer"}
