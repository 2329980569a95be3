"""docs/feedback.md cannot rot: every test its attack table names exists, and every link into it
from the other documents (docs/reliability.md links to the attack table) finds its section."""

from __future__ import annotations

import re

from tests.test_invariants_doc import REFERENCE, ROOT, broken_references

DOC = ROOT / "docs" / "feedback.md"
LINK = re.compile(r"\]\((?:docs/)?feedback\.md#([\w-]+)\)")


def anchors(text: str) -> set[str]:
    """The section anchors a Markdown renderer makes (GitHub's rule: lower case, punctuation
    dropped, spaces to hyphens)."""
    found = set()
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def test_every_test_named_in_the_attack_table_exists():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Attacks the suite runs") :]
    table = "\n".join(line for line in section[: section.index("\n## ")].splitlines() if line.startswith("| "))
    named = [f"{path}::{name}" for path, name in REFERENCE.findall(table) if path.startswith("tests/test_")]
    assert len(named) >= 20, named
    assert not [name for name in named if "::test_" not in name], "name the test, not only its file"
    assert not re.search(r"(?<![:\w])`test_\w+`", table), "a bare test name: write tests/file.py::test_name"
    assert broken_references(text) == []


def test_every_link_into_the_document_finds_its_section():
    have = anchors(DOC.read_text(encoding="utf-8"))
    assert "attacks-the-suite-runs-and-what-the-console-does" in have
    sources = [*ROOT.glob("docs/*.md"), ROOT / "README.md"]
    wanted = {(path.name, anchor) for path in sources for anchor in LINK.findall(path.read_text(encoding="utf-8"))}
    assert not [f"{name} -> #{anchor}" for name, anchor in wanted if anchor not in have]
