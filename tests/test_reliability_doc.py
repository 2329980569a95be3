"""docs/reliability.md (the attack table) cannot rot: every row names a test, every test it names
exists, and the README points at it."""

from __future__ import annotations

import re

from tests.test_invariants_doc import REFERENCE, ROOT, broken_references

DOC = ROOT / "docs" / "reliability.md"


def _rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if not line.startswith("|") or line.startswith("|---"):
            continue
        assert len(cells) == 4, f"a row of four cells (no ' | ' inside a cell): {line[:80]}"
        if cells[2] != "test":
            rows.append(cells)
    return rows


def test_every_row_names_a_test_that_exists():
    rows = _rows()
    assert len(rows) >= 60, len(rows)  # the table is there, not an empty shell
    untested = [row[0] for row in rows if not re.search(r"`tests/test_\w+\.py::test_\w+`", row[2])]
    assert not untested, f"rows without a test: {untested}"
    broken = broken_references(DOC.read_text(encoding="utf-8"))
    assert not broken, f"docs/reliability.md names tests that are gone: {broken}"


def test_every_named_test_is_a_test():
    named = [(path, name) for path, name in REFERENCE.findall(DOC.read_text(encoding="utf-8"))
             if path.startswith("tests/test_") and name]
    assert len(named) >= 100, len(named)
    assert not [f"{path}::{name}" for path, name in named if not name.startswith("test_")]


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_sections_it_links_exist_and_the_readme_links_it():
    links = re.findall(r"\]\(([\w-]+\.md)(?:#([\w-]+))?\)", DOC.read_text(encoding="utf-8"))
    assert links
    for name, anchor in links:
        target = DOC.parent / name
        assert target.is_file(), name
        headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), re.M)
        assert not anchor or anchor in {_slug(h) for h in headings}, f"{name}#{anchor}"
    assert "docs/reliability.md" in (ROOT / "README.md").read_text(encoding="utf-8")
