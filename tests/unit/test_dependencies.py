"""The runtime dependencies in pyproject.toml are exactly what the package imports.

A test-only package imported at runtime crashes `pip install .` users (tests/install checks
that end to end); a declared package nothing imports is weight in every image. This reads
every import of operator/sandlot with `ast` and compares it with `[project] dependencies`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Imported by name through uvicorn[standard] (`--loop uvloop`): declared as that extra.
VIA_UVICORN_STANDARD = {"uvloop"}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "operator" / "sandlot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "sandlot"}


def test_runtime_dependencies_are_exactly_the_runtime_imports() -> None:
    declared = {_normalize(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0])
                for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    providers = packages_distributions()
    imported = {}
    for module in _imported_top_levels() - VIA_UVICORN_STANDARD:
        dists = providers.get(module)
        assert dists, f"{module} is imported by the package but installed by no distribution"
        imported[module] = {_normalize(d) for d in dists}
    undeclared = {m: d for m, d in imported.items() if not d & declared}
    assert not undeclared, f"imported at runtime but not in [project] dependencies: {undeclared}"
    unused = declared - {d for dists in imported.values() for d in dists}
    assert not unused, f"declared in [project] dependencies but never imported by the package: {unused}"
