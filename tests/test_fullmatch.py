"""A whole string is checked as a whole (issue 11 item 9): no pattern in the package ends in
``$`` (which lets a trailing newline through with ``match``); whole-string checks use
``fullmatch``. The gateway's ids and names are tested against a hostile server in
test_gateway_hostile.py; this guard keeps the rest of the tree from drifting back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "iplos_tui"
RE_CALLS = {"compile", "match", "search", "fullmatch", "finditer", "sub"}


def patterns():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RE_CALLS:
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == "re" and node.args and isinstance(node.args[0], ast.Constant):
                    yield path, node.lineno, node.args[0].value


def test_no_pattern_relies_on_dollar():
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path, line, value in patterns()
        if isinstance(value, (str, bytes)) and value.endswith("$" if isinstance(value, str) else b"$") and not value.endswith("\\$" if isinstance(value, str) else b"\\$")
    ]
    assert found == [], "use fullmatch (a trailing newline passes '$'): " + ", ".join(found)


def test_the_guard_sees_patterns():
    assert sum(1 for _ in patterns()) > 20
