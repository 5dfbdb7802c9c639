"""The layering rule, read from the imports.

- The leaves (`daemon/errors.py`, `daemon/models.py`, `daemon/addresses.py`,
  `daemon/textsafety.py`, `daemon/files.py`, `connectors/base.py`) import nothing of
  pursuit but the errors.
- `config` and `connectors` import from the core (`pursuit.daemon`) only the leaves,
  and connectors never read the configuration: the edge (`daemon/app.py`) hands
  them what they need. The store imports no connector.
- The store alone speaks SQL: no other module imports sqlite3 or reaches its connection.
- No two modules import each other, none imports another's private names, and the
  connector of one outside system never imports another's (what they share is in a
  module of its own: `connectors/secrets.py`, `text.py`, `ical.py`...).
- The dashboard (`daemon/web/`) alone knows the web framework; the command line and the
  service reach it only inside the functions that start it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = {ROOT / "daemon" / "store.py", *(ROOT / "daemon" / "store").rglob("*.py")}


def modules() -> list[Path]:
    found = [
        p for folder in ("daemon", "connectors", "config") for p in (ROOT / folder).rglob("*.py")
    ]
    assert len(found) > 20  # the walk found the code
    return [p for p in found if p not in STORE]


@functools.cache
def parsed(path: Path) -> ast.Module:
    """Each file read and parsed once per test process: every rule walks them all."""
    return ast.parse(path.read_text())


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
        if any(name.split(".")[0] == "sqlite3" for name in imported(parsed(path)))
    ]
    assert offenders == []


def test_no_module_outside_the_store_reaches_its_connection() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in modules()
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Attribute) and node.attr in ("db", "_db")
    ]
    assert offenders == []


#: The leaves may use the errors, and the errors clean what a source said with textsafety.
TEXTSAFETY = "pursuit.daemon.textsafety"
LEAVES = {
    "pursuit.daemon.errors",
    "pursuit.daemon.models",
    "pursuit.daemon.addresses",
    "pursuit.daemon.textsafety",
    "pursuit.daemon.files",
    "pursuit.connectors.base",
}


def pursuit_imports(path: Path) -> set[str]:
    """Every pursuit module `path` imports, at the top or inside a function
    (`from pursuit.daemon import views` is pursuit.daemon.views)."""
    tree = parsed(path)
    names = {name for name in imported(tree) if name.startswith("pursuit.")}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pursuit."):
            inner = {f"{node.module}.{alias.name}" for alias in node.names}
            if inner & ALL_MODULES:
                names.discard(node.module or "")
                names.update(inner & ALL_MODULES)
    return names


def module_name(path: Path) -> str:
    return "pursuit." + ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
        ".__init__"
    )


EVERY_FILE = [
    p for folder in ("daemon", "connectors", "config") for p in (ROOT / folder).rglob("*.py")
]
ALL_MODULES = {module_name(p) for p in EVERY_FILE}


def test_the_leaves_import_nothing_of_pursuit_but_the_errors() -> None:
    leaves = [p for p in modules() if module_name(p) in LEAVES]
    assert len(leaves) == len(LEAVES)
    offenders = {
        module_name(p): sorted(pursuit_imports(p) - {"pursuit.daemon.errors", TEXTSAFETY})
        for p in leaves
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_config_and_connectors_use_only_the_leaves_of_the_core() -> None:
    offenders: dict[str, list[str]] = {}
    for path in modules():
        top = path.relative_to(ROOT).parts[0]
        if top not in ("config", "connectors"):
            continue
        wrong = sorted(
            name
            for name in pursuit_imports(path)
            if (name.startswith("pursuit.daemon") and name not in LEAVES)
            or (top == "connectors" and name.startswith("pursuit.config"))
        )
        if wrong:
            offenders[str(path.relative_to(ROOT))] = wrong
    assert offenders == {}


def test_the_store_imports_no_connector() -> None:
    """What the store needs of the file system (a private folder) is a leaf of the core,
    `daemon/files.py`, not a connector's."""
    store = [p for p in EVERY_FILE if p in STORE]
    assert ROOT / "daemon" / "store.py" in store or len(store) > 1
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            name for name in pursuit_imports(p) if name.startswith("pursuit.connectors")
        )
        for p in store
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_no_two_modules_import_each_other() -> None:
    """A module that needs a little of another's, which needs it back, takes it from a
    leaf both use: the views import the export's records, and the export takes the
    terminal-safety helpers from `daemon/textsafety.py`, not from the views."""
    graph = {module_name(p): pursuit_imports(p) for p in EVERY_FILE}
    assert "pursuit.daemon.views" not in graph["pursuit.daemon.export"]
    assert "pursuit.daemon.export" in graph["pursuit.daemon.views"]  # the walk sees imports
    both_ways = sorted(
        f"{a} <-> {b}"
        for a, found in graph.items()
        for b in found
        if a < b and a in graph.get(b, ())
    )
    assert both_ways == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
        for path in EVERY_FILE
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pursuit.")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert offenders == []


#: The connectors of one outside system each (Google's share `google_api.py` and
#: `google_auth.py`, Microsoft's `graph.py` and `microsoft_auth.py`, the calendars
#: `ical.py`, which are no system's).
SYSTEMS = {
    f"pursuit.connectors.{name}"
    for name in (
        *("gmail", "google_calendar", "imap", "smtp", "caldav", "ics", "eml"),
        *("outlook_calendar", "outlook_mail"),
    )
}


def test_no_connector_of_one_system_imports_another_systems() -> None:
    """Sending the summary by SMTP must not load the IMAP library, nor CalDAV's the
    .ics file's: a bit two systems share lives in a shared module."""
    systems = [p for p in EVERY_FILE if module_name(p) in SYSTEMS]
    assert len(systems) == len(SYSTEMS)  # the walk found them
    offenders = {module_name(p): sorted(pursuit_imports(p) & SYSTEMS) for p in systems}
    assert {name: found for name, found in offenders.items() if found} == {}


#: The edge: the only modules that know which accounts there are.
EDGE = {"pursuit.daemon.app", "pursuit.daemon.cli", "pursuit.daemon.doctor"}


def test_only_the_accounts_room_builds_an_accounts_connectors() -> None:
    """Which provider serves what is decided in `daemon/accounts.py` alone: no other
    module of the core names a mailbox, calendar or sender connector (the consent flow
    of `pursuit auth google` and `pursuit auth microsoft` are the commands that talk to a
    sign-in service), and
    only the edge imports the accounts."""
    signing_in = {"pursuit.connectors.google_auth", "pursuit.connectors.microsoft_auth"}
    allowed = {"pursuit.daemon.cli": signing_in}
    accounts = "pursuit.daemon.accounts"
    builds: dict[str, list[str]] = {}
    knows_accounts: list[str] = []
    for path in EVERY_FILE:
        name = module_name(path)
        if not name.startswith("pursuit.daemon") or name == accounts:
            continue
        found = pursuit_imports(path)
        wrong = found & (SYSTEMS | signing_in)
        wrong -= allowed.get(name, set())
        if wrong:
            builds[name] = sorted(wrong)
        if accounts in found and name not in EDGE:
            knows_accounts.append(name)
    assert builds == {}
    assert knows_accounts == []
    every_system = pursuit_imports(ROOT / "daemon" / "accounts.py")
    assert SYSTEMS - every_system == set(), "the walk sees the accounts' imports"


WEB_LIBRARIES = ("flask", "werkzeug", "waitress", "itsdangerous", "blinker")


def test_the_dashboard_is_a_room_of_its_own() -> None:
    """Only `daemon/web/` knows the web framework, and the rest reaches the dashboard
    from inside the two functions that start it (`pursuit web`, a service serving it):
    importing the command line never loads Flask."""
    knows_the_framework: list[str] = []
    reaches_the_dashboard: dict[str, str] = {}
    for path in EVERY_FILE:
        name = module_name(path)
        if name.startswith("pursuit.daemon.web"):
            continue
        tree = parsed(path)
        if any(n.split(".")[0] in WEB_LIBRARIES for n in imported(tree)):
            knows_the_framework.append(name)
        outside_functions = [
            node for node in tree.body if not isinstance(node, ast.FunctionDef | ast.ClassDef)
        ]
        at_the_top = imported(ast.Module(body=outside_functions, type_ignores=[]))
        everywhere = {n for n in imported(tree) if n.startswith("pursuit.daemon.web")}
        if any(n.startswith("pursuit.daemon.web") for n in at_the_top):
            reaches_the_dashboard[name] = "at the top"
        elif everywhere and name not in {"pursuit.daemon.cli", "pursuit.daemon.service"}:
            reaches_the_dashboard[name] = "inside a function"
    assert knows_the_framework == []
    assert reaches_the_dashboard == {}
