"""The compiled copies of the engine's hot modules (faultsim_desktop/speedups.py, setup.py):
the module a process imports is the compiled one only while it matches its source, and
compiled or not, every row, total, log entry and quarantine entry is the same."""
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.corpus import generate
from faultsim_desktop import speedups

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(speedups.__file__).resolve().parent

# lines the corpora never hold: every kind of refusal and every general-path detour
ODD_LINES = [
    '{"client": "acme", "amount": "1.234,50 €"}',
    '{"client": "acme", "amount": "1.234,50 €"}',  # sent again as it was
    '{"amount": "12.50", "client": "acme"}',  # the same event, keys reordered
    '{"client": "acme", "client": "other", "amount": 1}',  # duplicate key
    '{"client": "a\\u003ab", "amount": 2}',  # an escaped colon
    '{"client": "b", "amount": 1e400}',
    '{"client": "b", "amount": "NaN"}',
    '{"client": "b", "amount": 99999999999999999999999999999999999}',
    '{"customerId": {"id": 7, "name": " Zed "}, "price_cents": 1999, "ts": "12:00:00"}',
    '{"source": "ünï", "value": "$1,234.50", "ts": "Sun, 01 Mar 2026 12:00:00 +0000"}',
    '{"client": "c", "amount": 3, "idempotency_key": "k-1"}',
    '{"client": "c", "amount": 4, "idempotency_key": "k-1"}',  # the key reused
    '[1, 2, 3]',
    '{"client": "d", "amount": 5',
    '{"client": "d"}',
    'not json at all',
    '{"client": "e", "amount": 6, "nested": ' + "[" * 40 + "]" * 40 + "}",
    '\ufeff{"client": "f", "amount": 7}',
    '{"client": "\ud800", "amount": 8}',
]


def _probe(tmp_path: Path, files: list[Path], pure: bool) -> dict:
    name = "pure" if pure else "default"
    folder = tmp_path / name
    folder.mkdir()
    out = tmp_path / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if k != speedups.PURE_PYTHON_ENV}
    if pure:
        env[speedups.PURE_PYTHON_ENV] = "1"
    subprocess.run([sys.executable, "-m", "tests.support.speedups_probe", str(out), str(folder),
                    *map(str, files)], cwd=ROOT, env=env, check=True, timeout=600)
    return json.loads(out.read_text(encoding="utf-8"))


def test_compiled_and_plain_python_store_the_same_of_messy_feeds(tmp_path):
    feed, tidy, odd = tmp_path / "feed.jsonl", tmp_path / "tidy.jsonl", tmp_path / "odd.jsonl"
    generate(feed, 40_000, seed=7, shape="feed")
    generate(tidy, 5_000, seed=8, shape="tidy")
    odd.write_bytes("\n".join(ODD_LINES).encode("utf-8", "surrogatepass") + b"\n\xff\xfe{}\n")
    files = [feed, tidy, odd]

    default = _probe(tmp_path, files, pure=False)
    pure = _probe(tmp_path, files, pure=True)

    assert all(how.startswith("source") for how in pure["status"].values())
    assert all(path.endswith(".py") for path in pure["files"])
    built = [name for name, how in default["status"].items() if how == "compiled"]
    assert all(not path.endswith(".py") for path in default["files"]) == bool(built)
    assert len(default["rows"]) == len(pure["rows"]) > 35_000
    assert default["rows"] == pure["rows"]
    for table, rows in pure["tables"].items():
        assert default["tables"][table] == rows, table
    assert len(pure["tables"]["events"]) > 20_000
    assert len(pure["tables"]["quarantine"]) > 1_000
    assert {row[0] for row in pure["tables"]["log"]} >= {"duplicate", "rejected"}


def test_every_compiled_module_in_the_build_matches_its_source():
    """A stale build runs correctly (from source) but slowly: rebuild with pip install -e ."""
    built = PACKAGE / speedups.MANIFEST
    if not built.is_file():  # a plain Python install: nothing to check
        assert all(how.startswith("source") for how in speedups.status().values())
        return
    names = json.loads(built.read_text(encoding="utf-8"))
    status = speedups.status()
    assert {name: status[name] for name in names} == {name: "compiled" for name in names}
    for name in names:
        module = __import__(name, fromlist=["_"])
        assert not module.__file__.endswith(".py"), module.__file__


def _fake_build(tmp_path: Path, edited: str | None = None, missing: str | None = None,
                manifest: bool = True) -> Path:
    """A copy of the compiled modules' sources, an (empty) extension file beside each but
    ``missing``, and the build's record of their sources; ``edited`` changed afterwards."""
    root = tmp_path / "faultsim_desktop"
    record = {}
    for name in speedups.COMPILED_MODULES:
        target = speedups.source_path(name, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(speedups.source_path(name), target)
        record[name] = speedups.source_hash(target)
        if name != missing:
            stem = "__init__" if target.name == "__init__.py" else target.stem
            target.with_name(stem + importlib.machinery.EXTENSION_SUFFIXES[0]).write_bytes(b"")
    if manifest:
        (root / speedups.MANIFEST).write_text(json.dumps(record), encoding="utf-8")
    if edited:
        with speedups.source_path(edited, root).open("a", encoding="utf-8") as f:
            f.write("\n# edited after the build\n")
    return root


FASTLANE = "faultsim_desktop.core.fastlane"
AMOUNTS = "faultsim_desktop.core.normalize.amounts"
NORMALIZE = "faultsim_desktop.core.normalize"


def test_a_build_that_matches_its_sources_runs_compiled(tmp_path):
    decided = speedups.decide(_fake_build(tmp_path))
    assert decided == {name: "compiled" for name in speedups.COMPILED_MODULES}


def test_a_module_edited_after_the_build_runs_from_its_source(tmp_path):
    for edited in (AMOUNTS, NORMALIZE):
        decided = speedups.decide(_fake_build(tmp_path / edited, edited=edited))
        assert decided.pop(edited) == "source: stale, rebuild with pip install -e ."
        assert set(decided.values()) == {"compiled"}


def test_a_module_not_built_runs_from_its_source_and_the_rest_compiled(tmp_path):
    decided = speedups.decide(_fake_build(tmp_path, missing=FASTLANE))
    assert decided.pop(FASTLANE) == "source: not built"
    assert set(decided.values()) == {"compiled"}


def test_extensions_without_the_build_record_are_not_trusted(tmp_path):
    decided = speedups.decide(_fake_build(tmp_path, manifest=False))
    assert set(decided.values()) == {"source: stale, rebuild with pip install -e ."}


def test_pure_python_asked_for_runs_every_source(tmp_path):
    decided = speedups.decide(_fake_build(tmp_path, missing=FASTLANE), pure=True)
    assert decided.pop(FASTLANE) == "source: not built"
    assert set(decided.values()) == {"source: FAULTSIM_PURE_PYTHON"}


def test_a_stale_compiled_module_is_not_the_one_a_process_imports(tmp_path):
    """The import system itself, in a process of its own, routed by speedups.install."""
    root = _fake_build(tmp_path, edited=AMOUNTS)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import faultsim_desktop.speedups as s\n"
        "s._ROOT = s.Path(sys.argv[1]) / 'faultsim_desktop'\n"
        "s._status.clear(); print(s.install()[sys.argv[2]])\n"
        "finder = [f for f in sys.meta_path if isinstance(f, s._SourceFinder)][0]\n"
        "print(sorted(finder.sources))\n"
        "print(finder.find_spec(sys.argv[2]).origin)\n"
    )
    shutil.copyfile(speedups.__file__, root / "speedups.py")
    (root / "__init__.py").write_text("", encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path), AMOUNTS], cwd=tmp_path,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    how, routed, origin = out.splitlines()
    assert how == "source: stale, rebuild with pip install -e ."
    assert routed == repr([AMOUNTS])
    assert origin == str(speedups.source_path(AMOUNTS, root))


def test_ingesting_a_chunk_leaves_nothing_for_the_cycle_collector(tmp_path):
    """Every event's temporaries go as soon as they are done with (reference counts): none is
    left in a reference cycle (closures that call each other make one a call when compiled),
    which would grow a worker's memory until a full collection."""
    import gc

    from faultsim_desktop.core.parsing import iter_chunks
    from faultsim_desktop.core.pipeline import process_chunk

    feed = tmp_path / "feed.jsonl"
    generate(feed, 5_000, seed=11, shape="feed")
    feed.write_bytes(feed.read_bytes() + "\n".join(ODD_LINES).encode("utf-8", "surrogatepass"))
    with feed.open("rb") as stream:
        chunks = list(iter_chunks(stream, "feed.jsonl"))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        rows = [row for chunk in chunks for row in process_chunk(chunk, "2026-03-01T12:00:00Z")]
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(rows) > 5_000
    assert left == []
