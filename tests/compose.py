"""docker-compose.yml as the tests read it: the parsed file and compose's interpolation of
``${VAR}`` values (tests/unit/test_compose.py checks the file; tests/integration/
test_production.py runs its services as processes)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


@functools.cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


_TOKEN = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def references(text: str) -> list[tuple[str, str]]:
    """(name, modifier) of each ``${NAME...}`` / ``$NAME`` in a compose value; ``$$`` is a
    literal dollar, as in compose."""
    found = []
    for match in _TOKEN.finditer(text):
        if match.group(1):
            continue
        found.append((match.group(2) or match.group(4), match.group(3) or ""))
    return found


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:?m}``,
    ``${V?m}``, ``$V``. A required variable that is missing raises with compose's message."""

    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(4)
        modifier = match.group(3) or ""
        value = env.get(name)
        for op, empty_counts in ((":-", True), ("-", False), (":?", True), ("?", False)):
            if modifier.startswith(op):
                arg = modifier[len(op) :]
                missing = value is None or (empty_counts and value == "")
                if not missing:
                    return value or ""
                if "?" in op:
                    raise ValueError(f"required variable {name} is missing a value: {arg}")
                return arg
        assert not modifier, f"unsupported interpolation ${{{name}{modifier}}}"
        return value or ""

    return _TOKEN.sub(one, text)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """The compose tree with every string value interpolated (comments never are)."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    return node
