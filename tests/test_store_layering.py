"""The store alone speaks SQL: no other module imports sqlite3 or reaches its connection."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = {ROOT / "daemon" / "store.py", *(ROOT / "daemon" / "store").rglob("*.py")}


def modules() -> list[Path]:
    found = [
        p for folder in ("daemon", "connectors", "config") for p in (ROOT / folder).rglob("*.py")
    ]
    assert len(found) > 20  # the walk found the code
    return [p for p in found if p not in STORE]


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_outside_the_store_imports_sqlite3() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules()
        if any(name.split(".")[0] == "sqlite3" for name in imported(ast.parse(path.read_text())))
    ]
    assert offenders == []


def test_no_module_outside_the_store_reaches_its_connection() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ("db", "_db")
    ]
    assert offenders == []
