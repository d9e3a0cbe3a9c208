"""Governance sits beside the core: nothing below the composition root imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import crowdalpha

SRC = Path(crowdalpha.__file__).resolve().parent
BELOW = (
    "tournament",
    "ledger",
    "payouts",
    "scoring",
    "submissions",
    "dataset",
    "market",
    "metamodel",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_core_and_the_pure_stages_never_import_governance() -> None:
    checked = 0
    for package in BELOW:
        for path in (SRC / package).rglob("*.py"):
            checked += 1
            offending = {n for n in _imports(path) if n.startswith("crowdalpha.governance")}
            assert not offending, f"{path.relative_to(SRC)} imports {offending}"
    assert checked > 50
