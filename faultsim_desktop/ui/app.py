"""``faultsim-desktop``: QApplication set-up, settings and command-line flags."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ..core.dburl import is_postgres_url, parse_db
from .system_libs import check_before_qt

ORGANIZATION = "faultsim"
APPLICATION = "faultsim-desktop"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faultsim-desktop",
                                description="The faultsim window: ingest messy JSON, watch totals, "
                                            "simulate database crashes.")
    p.add_argument("--db", type=parse_db, metavar="PATH|URL",
                   help="SQLite database file or PostgreSQL URL postgresql://USER@HOST/DBNAME "
                        "(default: the last one used)")
    p.add_argument("--demo", action="store_true",
                   help="play the scripted demo (in a temporary database of its own; "
                        "yours is left as it is)")
    p.add_argument("--screenshot", type=Path, metavar="FILE.png",
                   help="render the window to a PNG and exit: after the demo with --demo; "
                        "with files, once they are ingested and their totals shown")
    p.add_argument("--reset-settings", action="store_true",
                   help="forget the remembered layout, window size, database and fault settings")
    p.add_argument("--workers", type=int, default=None,
                   help="parsing processes for large files (default: one per core; 0: none)")
    p.add_argument("files", nargs="*", type=Path, help="JSON files to ingest at start")
    return p


def make_settings(path: str | os.PathLike | None = None):
    """The app's QSettings; a path gives an INI file (tests, benchmarks)."""
    from PySide6.QtCore import QSettings

    if path is not None:
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def make_application(argv: list[str] | None = None):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from .paths import icon_path

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("faultsim-desktop")
    app.setDesktopFileName(APPLICATION)
    icon = icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True)
    return app


def create_window(db_path: Path | str, settings, *, workers: int | None = None,
                  seed: int | None = 7, restore: bool = True):
    """Open the engine on ``db_path`` and build the window around it."""
    from ..core.retry import RetryPolicy
    from ..core.service import IngestService
    from .main_window import MainWindow

    def factory(path: Path | str) -> IngestService:
        return IngestService(path, retry=RetryPolicy(attempts=4, base_delay_s=0.1, cap_s=2.0),
                             workers=workers, seed=seed)
    service = factory(db_path)
    try:
        return MainWindow(service, settings, service_factory=factory, restore=restore)
    except BaseException:
        service.close()
        raise


def open_first_window(db_path: Path | str, settings, *, workers: int | None = None,
                      restore: bool = True):
    """The window on ``db_path``; when that database cannot be opened (damaged, another
    program's, locked, read-only...), the file is left as it was and the user chooses: a new
    database at a new path, another file, another try, or quit (then None)."""
    from PySide6.QtWidgets import QFileDialog

    from ..core.service import default_db_path
    from ..core.errors import StorageError
    from .db_banner import OpenFailedDialog

    while True:
        try:
            return create_window(db_path, settings, workers=workers, restore=restore)
        except StorageError as exc:
            dialog = OpenFailedDialog(exc, db_path)
            dialog.exec()
            choice = dialog.choice()
            if choice == OpenFailedDialog.NEW:
                db_path = dialog.new_path
            elif choice == OpenFailedDialog.OPEN:
                folder = (default_db_path() if is_postgres_url(db_path) else db_path).parent
                path, _ = QFileDialog.getOpenFileName(
                    None, "Open database", str(folder),
                    "SQLite databases (*.db *.sqlite);;All files (*)")
                if path:
                    db_path = Path(path)
            elif choice != OpenFailedDialog.RETRY:
                return None


def screenshot(window, path: Path) -> bool:
    """Render the window to a PNG (works with QT_QPA_PLATFORM=offscreen)."""
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    return window.grab().save(str(path), "PNG")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_before_qt()  # Qt's own failure here is an abort naming one library
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    app = make_application()
    from PySide6.QtCore import QTimer

    from ..core.service import default_db_path
    from ..core.errors import StorageError

    settings = make_settings(os.environ.get("FAULTSIM_SETTINGS") or None)
    if args.reset_settings:
        settings.clear()
    if args.db is not None:
        db_path = args.db
    elif args.demo:
        db_path = Path(tempfile.mkdtemp(prefix="faultsim-demo-")) / "demo.db"
    else:
        last = settings.value("database/last")
        db_path = parse_db(last) if isinstance(last, str) and last else default_db_path()
    headless = args.screenshot is not None
    if headless:
        try:
            # a screenshot shows the default layout at 1440x900, whatever this user last left
            window = create_window(db_path, settings, workers=args.workers, restore=False)
        except StorageError as exc:
            print(f"faultsim-desktop: {exc}", file=sys.stderr)
            return 1
    else:
        window = open_first_window(db_path, settings, workers=args.workers)
        if window is None:
            return 1
    if args.db is None and args.demo:
        window.remember_db = False  # the demo's temporary database is not the user's
    window.show()
    exit_code = [0]
    pictured = []

    def finish() -> None:
        if args.screenshot is not None and not pictured:  # once, whatever asks twice
            pictured.append(args.screenshot)
            ok = screenshot(window, args.screenshot)
            if not ok:
                print(f"faultsim-desktop: could not write {args.screenshot}", file=sys.stderr)
                exit_code[0] = 1
            window.close()
            app.quit()

    ingesting = False
    if args.files:
        window.ingest_files([str(f) for f in args.files])
        ingesting = window.bridge.busy  # not when a file could not be read (said in the window)
    if args.demo:
        demo = window.play_demo(speed=4.0 if headless else 1.0)
        def demo_ended(verified: bool) -> None:
            if headless and not verified:
                print("faultsim-desktop: the demo's totals did not match the recount",
                      file=sys.stderr)
                exit_code[0] = 1
            # the screenshot shows the demo's result, before the user's database comes back
            QTimer.singleShot(400 if headless else 0, finish)
        demo.scriptEnded.connect(demo_ended)
    elif headless and ingesting:
        # The picture shows the files ingested: every outcome in the log, and the totals read
        # after the last of them (while files stream in, the totals are read once a second).
        def when_settled() -> None:
            if window.bridge.settled():
                QTimer.singleShot(300, finish)  # the views' deferred updates come first
            else:
                QTimer.singleShot(50, when_settled)

        def files_done(*_) -> None:
            window.bridge.refresh()
            QTimer.singleShot(0, when_settled)
        window.bridge.filesFinished.connect(files_done)
        window.bridge.taskFailed.connect(files_done)
    elif headless:
        QTimer.singleShot(800, finish)  # let the first aggregates arrive and paint
    code = app.exec()
    window.close()
    return exit_code[0] or code


if __name__ == "__main__":
    sys.exit(main())
