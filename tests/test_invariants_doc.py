"""docs/invariants.md defines every invariant id the tree cites, and what it points to exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "invariants.md"
ID = re.compile(r"\b[IF]\d{2}\b")
REFERENCE = re.compile(r"`((?:iplos_tui|tests)/[\w/]+\.py)(?:::([\w.]+))?`")


def _cited() -> dict[str, set[str]]:
    cited: dict[str, set[str]] = {}
    files = [*ROOT.glob("iplos_tui/**/*.py"), *ROOT.glob("iplos_tui/**/*.toml"), *ROOT.glob("tests/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]
    for path in files:
        if path == DOC:
            continue
        for found in ID.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(found, set()).add(str(path.relative_to(ROOT)))
    return cited


def test_every_cited_id_is_defined():
    defined = set(re.findall(r"^### ([IF]\d{2})$", DOC.read_text(encoding="utf-8"), re.M))
    missing = {found: sorted(where) for found, where in _cited().items() if found not in defined}
    assert not missing, f"define these in docs/invariants.md: {missing}"


def broken_references(text: str) -> list[str]:
    """The `path` and `path::name` references in ``text`` whose file or definition is gone."""
    broken = []
    for path, name in REFERENCE.findall(text):
        file = ROOT / path
        if not file.is_file():
            broken.append(path)
            continue
        source = file.read_text(encoding="utf-8")
        for part in name.split(".") if name else ():
            if not re.search(rf"^\s*(async def|def|class) {re.escape(part)}\b", source, re.M):
                broken.append(f"{path}::{name}")
                break
    return broken


def test_every_reference_exists():
    broken = broken_references(DOC.read_text(encoding="utf-8"))
    assert not broken, f"docs/invariants.md points at things that are gone: {broken}"
