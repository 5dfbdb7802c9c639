"""The three folders install as pursuit.daemon, pursuit.connectors and pursuit.config."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_declared() -> None:
    """A sub-package left out of `packages` silently vanishes from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    declared = set(config["packages"])
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == declared


def test_no_tests_package() -> None:
    """A tests/__init__.py would let bare `import config` work in tests but not installed."""
    assert not (ROOT / "tests" / "__init__.py").exists()
