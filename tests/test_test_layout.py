"""Test helpers live in tests/support/: no test imports conftest or another test module.

A test module imported by another runs its module-level code twice under two
names, and its helpers change with its tests; conftest is for fixtures only.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def forbidden(name: str) -> bool:
    top = name.split(".")[0]
    return top == "conftest" or top.startswith("test_") or name.startswith(".")


def test_no_test_module_imports_conftest_or_another_test_module() -> None:
    checked = sorted(TESTS.glob("test_*.py")) + sorted((TESTS / "support").glob("*.py"))
    assert len(checked) > 30  # the walk found the tests and their helpers
    offenders = [
        f"{path.relative_to(TESTS)}: {name}"
        for path in checked
        for name in sorted(imported(path))
        if forbidden(name)
    ]
    assert offenders == []


def test_helpers_are_in_the_support_package() -> None:
    """Beside the tests themselves only conftest.py, which holds fixtures."""
    loose = [
        p.name
        for p in TESTS.glob("*.py")
        if not p.name.startswith("test_") and p.name != "conftest.py"
    ]
    assert loose == []
    assert (TESTS / "support" / "__init__.py").exists()


def test_conftest_holds_only_fixtures() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    helpers = [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        or (
            isinstance(node, ast.FunctionDef)
            and not any("fixture" in ast.unparse(d) for d in node.decorator_list)
        )
    ]
    assert helpers == []
