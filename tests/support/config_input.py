"""The real keys of `config.toml`, read from `config/example.toml` (which documents
every key), and a small TOML writer, for the reliability suite's generated configs."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, datetime, time
from typing import Any

from pursuit.config.settings import EXAMPLE_CONFIG

_SECTION = re.compile(r"^#?\s*\[\[?([a-z_]+)\]\]?\s*$")
_KEY = re.compile(r"^#\s?([a-z_]+) = (.+?)(\s+#.*)?$")


def example_keys() -> dict[str, dict[str, Any]]:
    """Section ("" for the top) -> key -> the example's value, for every documented key."""
    keys: dict[str, dict[str, Any]] = {"": {}}
    section = ""
    for line in EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines():
        if found := _SECTION.match(line):
            section = found.group(1)
            keys.setdefault(section, {})
            continue
        if (found := _KEY.match(line)) is None:
            continue
        try:
            value = tomllib.loads(f"v = {found.group(2)}")["v"]
        except tomllib.TOMLDecodeError:
            continue  # a multi-line value (the feeds list): its keys are listed below
        keys[section].setdefault(found.group(1), value)
    keys["organization"].setdefault("feeds", [{"url": "https://acme.com/rss.xml", "kind": "press"}])
    return keys


def _string(text: str) -> str:
    # JSON escapes are TOML's, except that TOML wants DEL escaped too
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"not a TOML value: {value!r}")


def to_toml(document: dict[str, Any]) -> str:
    """Top-level keys first, then each table, then each array of tables."""
    lines = [f"{_string(k)} = {toml_value(v)}" for k, v in document.items() if not _is_table(v)]
    for name, value in document.items():
        if isinstance(value, dict):
            lines.append(f"[{_string(name)}]")
            lines += [f"{_string(k)} = {toml_value(v)}" for k, v in value.items()]
        elif _is_table(value):
            for table in value:
                lines.append(f"[[{_string(name)}]]")
                lines += [f"{_string(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )
