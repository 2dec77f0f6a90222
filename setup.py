"""Builds the compiled copies of the engine's hot modules (faultsim_desktop/speedups.py).

Cython compiles each listed ``.py`` file as it is; the SHA-256 of every source compiled goes
to ``faultsim_desktop/_compiled.json``, which tells the package at import time which compiled
modules still match their source. Without Cython or a C compiler, or with
``FAULTSIM_PURE_PYTHON=1`` set while building, the package is plain Python, which behaves the
same and runs slower. Everything else about the package is in pyproject.toml.
"""
import ast
import hashlib
import json
import os
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent


def compiled_modules() -> tuple[str, ...]:
    tree = ast.parse((HERE / "faultsim_desktop" / "speedups.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "COMPILED_MODULES"):
            return ast.literal_eval(node.value)
    raise RuntimeError("faultsim_desktop/speedups.py has no COMPILED_MODULES")


def source_of(name: str) -> str:
    folder = Path(*name.split("."))
    return str(folder / "__init__.py" if (HERE / folder).is_dir() else folder.with_suffix(".py"))


def extensions() -> list:
    if os.environ.get("FAULTSIM_PURE_PYTHON", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        return []
    # a package's __init__ is compiled as pkg/__init__.so, beside its source
    modules = [Extension(name + ".__init__" if source_of(name).endswith("__init__.py") else name,
                         [source_of(name)], extra_compile_args=["-g0"])  # no debug symbols
               for name in compiled_modules()]
    return cythonize(modules, build_dir="build/cython", quiet=True, language_level=3,
                     compiler_directives={
                         "binding": True,  # functions keep their signatures and pickle by name
                         "annotation_typing": False,  # annotations stay documentation
                         "embedsignature": True,
                     })


class OptionalBuildExt(build_ext):
    """Compiles what it can; a module that fails to compile stays plain Python."""

    def run(self):
        self.built = {}
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - no compiler: the plain Python package
            self.warn(f"compiled modules not built ({exc}); faultsim-desktop runs as plain Python")
        manifest = json.dumps(self.built, indent=1, sort_keys=True) + "\n"
        targets = [Path(self.build_lib) / "faultsim_desktop"]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(HERE / "faultsim_desktop")
        for folder in targets:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "_compiled.json").write_text(manifest, encoding="utf-8")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - this one module stays plain Python
            self.warn(f"{ext.name} not compiled ({exc}); its source runs instead")
            return
        name = ext.name.removesuffix(".__init__")
        self.built[name] = hashlib.sha256((HERE / source_of(name)).read_bytes()).hexdigest()

    def get_outputs(self):
        return super().get_outputs() + [str(Path(self.build_lib) / "faultsim_desktop"
                                            / "_compiled.json")]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
