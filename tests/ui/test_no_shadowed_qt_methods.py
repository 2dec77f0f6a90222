"""No class in faultsim_desktop/ui gives an attribute the name of a method of its Qt or
pyqtgraph bases: Qt calls its own method and finds the attribute (QWidget.grab() calls
self.metric(); a combo box named `metric` crashed the process)."""
import ast
import importlib
import importlib.util
import inspect
import pkgutil
import sys
import textwrap

import faultsim_desktop.ui as ui_package

QT_ROOTS = ("PySide6", "shiboken6", "pyqtgraph")


def _ui_modules():
    for info in pkgutil.walk_packages(ui_package.__path__, ui_package.__name__ + "."):
        yield importlib.import_module(info.name)


def _qt_bases(cls) -> list[type]:
    return [b for b in cls.__mro__ if b.__module__.split(".")[0] in QT_ROOTS]


def _assigned_names(node: ast.AST):
    """(name, line) of every `self.<name> = ...`, tuple target, annotated or augmented
    assignment, and setattr(self, "<name>", ...) under ``node``."""
    def targets(t):
        if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
            yield t.attr, t.lineno
        elif isinstance(t, (ast.Tuple, ast.List)):
            for elt in t.elts:
                yield from targets(elt)
        elif isinstance(t, ast.Starred):
            yield from targets(t.value)

    for n in ast.walk(node):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                yield from targets(t)
        elif isinstance(n, (ast.AnnAssign, ast.AugAssign)):
            yield from targets(n.target)
        elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
            yield from targets(n.target)
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                if item.optional_vars is not None:
                    yield from targets(item.optional_vars)
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr"
              and len(n.args) >= 2 and isinstance(n.args[0], ast.Name) and n.args[0].id == "self"
              and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str)):
            yield n.args[1].value, n.lineno


def _qt_classes():
    seen = set()
    for module in _ui_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and cls not in seen and _qt_bases(cls):
                seen.add(cls)
                yield cls


def _own_classes(cls) -> list[type]:
    """``cls`` and the mixins it takes code from: its bases from this project or its module."""
    qt = set(_qt_bases(cls))
    return [c for c in cls.__mro__ if c not in qt and (
        c.__module__ == cls.__module__ or c.__module__.startswith("faultsim_desktop."))]


def shadowed(cls) -> list[str]:
    """'Class.attr (line N) hides Base.attr()' for every offending assignment in ``cls`` or in
    a mixin it inherits (a mixin's ``self`` is the Qt object too)."""
    found = []
    for own in _own_classes(cls):
        tree = ast.parse(textwrap.dedent(inspect.getsource(own)))
        for name, line in _assigned_names(tree):
            for base in _qt_bases(cls):
                member = base.__dict__.get(name)
                if member is not None and callable(member):
                    found.append(f"{own.__module__}.{own.__qualname__}.{name} (line "
                                 f"{inspect.getsourcelines(own)[1] + line - 1}) hides "
                                 f"{base.__module__}.{base.__qualname__}.{name}()")
                    break
    return found


def test_the_check_sees_every_qt_class_and_every_form_of_assignment(tmp_path, monkeypatch):
    names = {c.__qualname__ for c in _qt_classes()}
    assert {"MainWindow", "TotalsChart", "Lane", "FaultPanel", "DemoPlayer"} <= names

    path = tmp_path / "bad_widget.py"
    path.write_text(textwrap.dedent('''
        from PySide6.QtWidgets import QWidget


        class Bad(QWidget):
            def __init__(self):
                super().__init__()
                self.fine = 0
                self.ok, (self.size, *self.font) = 1, (2, 3)
                self.pos: int = 3
                self.metric = 1
                setattr(self, "height", 4)

            def later(self):
                for self.width in range(2):
                    pass
                self.x += 1
        '''), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("bad_widget", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bad_widget", module)  # inspect finds its source there
    spec.loader.exec_module(module)
    problems = shadowed(module.Bad)
    hidden = {p.split(" ")[0].rsplit(".", 1)[1] for p in problems}
    assert hidden == {"size", "font", "pos", "metric", "height", "width", "x"}
    assert "bad_widget.Bad.metric (line 11) hides PySide6.QtWidgets.QWidget.metric()" in problems


def test_the_check_reads_the_mixins_a_qt_class_inherits(tmp_path, monkeypatch):
    path = tmp_path / "bad_mixin.py"
    path.write_text(textwrap.dedent('''
        from PySide6.QtWidgets import QWidget


        class Helper:
            def build(self):
                self.fine = 0
                self.font = 1


        class Composed(Helper, QWidget):
            pass
        '''), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("bad_mixin", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bad_mixin", module)
    spec.loader.exec_module(module)
    assert shadowed(module.Composed) == [
        "bad_mixin.Helper.font (line 8) hides PySide6.QtWidgets.QWidget.font()"]
    main_window = importlib.import_module("faultsim_desktop.ui.main_window")
    read = {c.__qualname__ for c in _own_classes(main_window.MainWindow)}
    assert {"MainWindow", "WindowActions", "StatusReports", "FileLoading"} <= read


def test_no_ui_class_shadows_a_qt_or_pyqtgraph_method():
    problems = [p for cls in _qt_classes() for p in shadowed(cls)]
    assert not problems, "\n".join(problems)
