"""The SQLite dedup key is (time_bucket, fingerprint). The bucket only buys index locality; it
must never let a retry past the UNIQUE key, so it must be equal whenever fingerprints are."""
import datetime as dt
import json
import random
import sqlite3
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from faultsim_desktop.core.storage import sqlite_schema as store
from faultsim_desktop.core.fingerprint import fingerprint, time_bucket
from faultsim_desktop.core.parsing import decode_value
from faultsim_desktop.core.service import IngestService

TIME_SPELLINGS = ["ts", "TS", "T_S", "timestamp", "Time-Stamp", "time", "date", "created_at",
                  "CreatedAt", "occurred_at", "event_time", "eventTime"]


def parsed(text: str) -> dict:
    obj = decode_value(text).obj
    assert obj is not None, text
    return obj


def test_the_bucket_comes_from_the_best_time_field_whatever_the_key_order():
    assert time_bucket(parsed('{"client": "a", "ts": 1700000000}')) == 1700000000
    assert time_bucket(parsed('{"time": 5, "ts": 7}')) == 7
    assert time_bucket(parsed('{"ts": 7, "time": 5}')) == 7
    # two spellings of one name: the smaller key, in either order
    assert time_bucket(parsed('{"ts": 7, "T_S": 5}')) == 5
    assert time_bucket(parsed('{"T_S": 5, "ts": 7}')) == 5
    # an object under a time name is a container, as normalization reads it
    assert time_bucket(parsed('{"timestamp": {"at": 1}, "ts": 5}')) == 5
    assert time_bucket(parsed('{"ts": "2023-11-14T22:13:20.123456+02:00"}')) == 202311142213201234
    assert time_bucket(parsed('{"ts": 1700000000.999}')) == 1700000000
    assert time_bucket(parsed('{"ts": -1.5}')) == -1
    # nothing to read: 0 (these events simply share bucket 0, as all events did before)
    for text in ('{"client": "a"}', '{"ts": null}', '{"ts": true}', '{"ts": "soon"}',
                 '{"ts": [1]}', '{"ts": {"at": 1}}', '{"ts": 1e400}',
                 '{"ts": 99999999999999999999}'):
        assert time_bucket(parsed(text)) == 0, text


def test_numerically_equal_times_share_the_bucket_as_they_share_the_fingerprint():
    spellings = ['1700000000', '1700000000.0', '1.7e9', '17E8', '1700000000.000e0']
    objs = [parsed('{"client": "a", "amount": 1, "ts": %s}' % s) for s in spellings]
    assert len({fingerprint(o) for o in objs}) == 1
    assert {time_bucket(o) for o in objs} == {1700000000}
    big = [parsed('{"ts": %s}' % s) for s in ('1000000000000000000', '1e18', '10E17')]
    assert len({fingerprint(o) for o in big}) == 1 and len({time_bucket(o) for o in big}) == 1


_names = st.sampled_from(TIME_SPELLINGS + ["client", "amount", "note", "seq"])
_numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=3,
                min_value=-(10**19), max_value=10**19))
_values = st.one_of(_numbers, st.text(max_size=30), st.none(), st.booleans())


def _respell(value) -> str:
    """The same JSON value written another way: other number forms, escapes."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, Decimal)):
        d = Decimal(value)
        return random.choice([f"{d:f}", f"{d:E}", f"{d:f}0" if "." in f"{d:f}" else f"{d:f}.0"])
    return json.dumps(value, ensure_ascii=random.random() < 0.5)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_names, _values, min_size=1, max_size=6), st.randoms())
def test_equal_fingerprints_always_mean_equal_buckets(event, rnd):
    random.seed(rnd.random())
    plain = "{" + ",".join(f"{json.dumps(k)}: {_respell(v)}" for k, v in event.items()) + "}"
    items = list(event.items())
    rnd.shuffle(items)
    other = "{" + ",".join(f"{json.dumps(k)}:{_respell(v)}" for k, v in items) + "}"
    a, b = decode_value(plain).obj, decode_value(other).obj
    if a is None or b is None:  # e.g. a number over the digit limit: rejected either way
        return
    if fingerprint(a) == fingerprint(b):
        assert time_bucket(a) == time_bucket(b), (plain, other)


def _version_2_database(path, texts):
    """A database as faultsim wrote it before the bucket existed (schema version 2), holding
    ``texts`` stored by the engine of that time (UNIQUE on the fingerprint alone)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in store._SCHEMA_V1 + store._SCHEMA_V2:
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {store.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    total = Decimal(0)
    for line, text in enumerate(texts, 1):
        amount = Decimal(json.loads(text)["amount"])
        total += amount
        conn.execute("INSERT INTO events(fingerprint, client, client_key, currency, amount,"
                     " event_time, received_at, idempotency_key, warnings, source, line, raw)"
                     " VALUES (?,'acme','acme','',?,'2024-01-01T00:00:00.000000Z',"
                     "'2024-01-01T00:00:00.000000Z',NULL,NULL,'old',?,?)",
                     (fingerprint(parsed(text)), str(amount), line, text))
    conn.execute("INSERT INTO clients VALUES ('acme', 'acme')")
    conn.execute("INSERT INTO aggregates VALUES ('acme', '', ?, ?, '2024-01-01T00:00:00.000000Z',"
                 " '2024-01-01T00:00:00.000000Z')", (len(texts), str(total)))
    conn.close()
    return total


def test_an_older_database_gets_buckets_and_its_events_stay_duplicates(tmp_path):
    texts = [
        '{"client": "acme", "amount": "1.10", "ts": 1700000000}',
        '{"client": "acme", "amount": "2.20", "timestamp": "2024-03-01T10:00:00Z"}',
        '{"client": "acme", "amount": "3.30", "ts": 1700000000123, "time": 5}',
        '{"client": "acme", "amount": "4.40"}',
        '{"client": "acme", "amount": "5.50", "ts": "yesterday 9 o\'clock"}',
    ]
    db = tmp_path / "v2.db"
    total = _version_2_database(db, texts)
    resent = [json.dumps(dict(reversed(list(json.loads(t).items()))), indent=1) for t in texts]
    with IngestService(db, workers=0) as svc:
        summary = svc.submit_text("\n".join(t.replace("\n", " ") for t in resent)).wait(30)
        assert (summary.accepted, summary.duplicates) == (0, len(texts))
        summary = svc.submit_text('{"client": "acme", "amount": "0.01", "ts": 1700000000}').wait(30)
        assert summary.accepted == 1
        [row] = svc.stats()
        assert (row.count, row.total) == (len(texts) + 1, total + Decimal("0.01"))
        assert svc.integrity_check() == "ok"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION == 5
    buckets = [b for (b,) in conn.execute("SELECT time_bucket FROM events ORDER BY id LIMIT 5")]
    assert buckets == [1700000000, 20240301100000, 1700000000123, 0, 9]  # "9 o'clock": 9
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events_fingerprint'").fetchone()
    assert "time_bucket" in sql[0]
    conn.close()


_keys = st.sampled_from(TIME_SPELLINGS + ["client", "amount"])


def _written(value) -> str:
    if isinstance(value, dict):  # an object under a time name: normalization looks inside
        return "{" + ",".join(f"{json.dumps(k)}: {_respell(v)}" for k, v in value.items()) + "}"
    return _respell(value)
_time_values = st.one_of(_values, st.dictionaries(st.sampled_from(["at", "ts"]), _numbers,
                                                  max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_keys, _time_values), max_size=6))
def test_the_ingest_path_and_the_migration_read_the_same_bucket(pairs):
    """Workers take the bucket from normalization's own scan of the keys; the migration and
    every other path call time_bucket. Both must agree on every event."""
    import io

    from faultsim_desktop.core.parsing import iter_chunks
    from faultsim_desktop.core.pipeline import prepare_one, process_chunk

    event = {"client": "a", "amount": 1}
    event.update(dict(pairs))  # later spellings of one key win, as in JSON
    text = "{" + ",".join(f"{json.dumps(k)}: {_written(v)}" for k, v in event.items()) + "}"
    [chunk] = list(iter_chunks(io.BytesIO(text.encode() + b"\n"), "t"))
    [row] = process_chunk(chunk, "2024-01-01T00:00:00.000000Z")
    obj = decode_value(text).obj
    if row[12] is not None:  # rejected: nothing to store, no bucket needed
        return
    assert row[16] == time_bucket(obj) == prepare_one(decode_value(text),
                                                      "2024-01-01T00:00:00.000000Z").time_bucket


def test_feed_times_keep_their_order_in_the_bucket_in_every_written_form():
    # the dedup index stays local on feed-shaped data only while each time form, arriving
    # roughly in time order, gives buckets in that order (docs/benchmarks.md, the dedup index
    # on unordered times); RFC 2822 puts the day first, so this holds within a month
    plus2, utc = dt.timezone(dt.timedelta(hours=2)), dt.timezone.utc
    forms = [lambda t: dt.datetime.fromtimestamp(t, plus2).isoformat(),
             lambda t: dt.datetime.fromtimestamp(t, utc).strftime("%Y-%m-%d %H:%M:%S"),
             lambda t: dt.datetime.fromtimestamp(t, utc).strftime("%a, %d %b %Y %H:%M:%S +0000"),
             lambda t: t]
    start = 1_772_366_400  # 2026-03-01T12:00:00Z
    rng = random.Random(15)
    times = sorted(start + rng.randrange(20 * 86_400) for _ in range(2_000))
    assert len(set(times)) > 1_900
    for form in forms:
        buckets = [time_bucket({"client": "a", "timestamp": form(t)}) for t in times]
        assert 0 not in buckets
        assert buckets == sorted(buckets), form(times[0])
