"""Fast checks of what the distribution installs (pyproject's explicit package list and its
package-dir mapping), so a new package or a stray generic import is caught without building a
wheel (tests/packaging/test_wheel.py builds and runs one)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
# the repository folders installed under another name, and the name
MAPPED = {"flows": "arlm_flows", "data_catalog": "arlm.data_catalog"}


def _folder(package: str) -> Path:
    """The repository folder of an installed package name, through pyproject's package-dir."""
    dirs = SETUPTOOLS.get("package-dir", {})
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in dirs:
            return REPO / dirs[".".join(parts[:i])] / Path(*parts[i:])
    return REPO / Path(*parts)


def test_every_package_under_arlm_is_installed():
    listed = set(SETUPTOOLS["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "arlm").rglob("__init__.py")}
    missing = sorted(on_disk - listed)
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {missing}: the wheel would not ship them"
    for package in listed:
        assert (_folder(package) / "__init__.py").is_file(), f"{package}: no {_folder(package)}/__init__.py"
    for folder, name in MAPPED.items():
        assert name in listed and _folder(name) == REPO / folder


def test_the_editable_install_maps_the_same_names():
    for folder, name in MAPPED.items():
        spec = importlib.util.find_spec(name)
        assert spec is not None and Path(spec.origin).resolve() == (REPO / folder / "__init__.py").resolve(), spec


def test_no_code_imports_the_folders_by_their_generic_names():
    bad = []
    for py in sorted(REPO.glob("*/**/*.py")):
        if py.relative_to(REPO).parts[0] not in ("arlm", "flows", "data_catalog", "tests", "benchmarks"):
            continue
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"), str(py))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            bad += [f"{py.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in MAPPED]
    assert not bad, "import the installed names (arlm_flows, arlm.data_catalog) instead:\n" + "\n".join(bad)
