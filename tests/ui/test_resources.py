"""What the window needs at run time (samples, icon, desktop entry) lives inside the package and
is found through importlib.resources, so a wheel installed by pip or pipx is whole. (.ci/run also
builds the wheel, installs it into a fresh environment and plays the demo from it.)"""
import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

import faultsim_desktop
from faultsim_desktop.ui.paths import icon_path, resources_dir, samples_dir

PROJECT = Path(__file__).resolve().parents[2]
SAMPLES = {"bad_lines.ndjson", "idempotency_conflicts.ndjson", "messy_field_names.ndjson",
           "money_locales.ndjson", "nested_clients.json", "retries_reordered_keys.ndjson"}


def test_resources_are_found_inside_the_package(monkeypatch):
    monkeypatch.delenv("FAULTSIM_RESOURCES", raising=False)
    package = Path(str(resources.files("faultsim_desktop")))
    assert resources_dir() == package / "resources"
    assert {p.name for p in samples_dir().iterdir()} == SAMPLES
    assert icon_path() == package / "resources" / "faultsim-desktop.svg"
    assert (resources_dir() / "faultsim-desktop.desktop").read_text().startswith(
        "[Desktop Entry]")


def test_every_resource_file_is_in_the_wheel_package_data():
    """A file under faultsim_desktop/resources that no package-data pattern names would be
    left out of the wheel: the app would then work from a checkout only."""
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["faultsim_desktop"]
    root = Path(faultsim_desktop.__file__).parent
    files = [p.relative_to(root).as_posix() for p in (root / "resources").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) >= len(SAMPLES) + 3
    missing = [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)]
    assert missing == []


def test_the_samples_menu_lists_every_sample(window):
    actions = [a for a in window.editor.samples_menu.actions() if a.isEnabled()]
    assert {Path(a.data()).name for a in actions} == SAMPLES
    assert all(Path(a.data()).parent == samples_dir() for a in actions)


def test_the_demo_says_so_when_its_samples_are_missing(qtbot, window, tmp_path, monkeypatch):
    """Without its samples the demo stops at once with a message instead of waiting forever."""
    messages = []
    window.message.connect(messages.append)
    monkeypatch.setattr(window.editor, "samples_dir", tmp_path)
    with qtbot.waitSignal(window.play_demo(speed=100.0).finished, timeout=10_000) as blocker:
        pass
    assert blocker.args == [False]
    assert any("cannot play: the samples" in m and "are not installed" in m for m in messages)
