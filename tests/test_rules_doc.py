"""docs/rules.md is the rules table and the catalog, generated and kept in sync."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from iplos_tui.core import i18n
from iplos_tui.core.extract.catalogue import rules_markdown
from iplos_tui.core.extract.rules import CATALOGUE_VERSION, LEVELS, RULES, rule_check, rule_fix

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "rules.md"
#: catalogue version -> fingerprint of its rules and levels. A rule added, removed or moved to
#: another level changes the fingerprint: raise CATALOGUE_VERSION and add the pair here.
FINGERPRINTS = {"2": "9729c131fc117f9c", "3": "bcf947b4ecdafbc1"}


def fingerprint() -> str:
    return hashlib.sha256(";".join(f"{rule}={level}" for rule, level in sorted(RULES.items())).encode()).hexdigest()[:16]


def test_the_document_is_generated_from_the_table():
    assert DOC.read_text(encoding="utf-8") == rules_markdown(), (
        "docs/rules.md is out of date: python -m iplos_tui.core.extract.catalogue > docs/rules.md"
    )


def test_the_module_writes_the_document():
    result = subprocess.run([sys.executable, "-m", "iplos_tui.core.extract.catalogue"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == rules_markdown()


def test_the_catalogue_version_follows_the_rules():
    assert FINGERPRINTS.get(CATALOGUE_VERSION) == fingerprint(), "the rules changed: raise CATALOGUE_VERSION"
    assert f"version {CATALOGUE_VERSION}" in DOC.read_text(encoding="utf-8").splitlines()[0]


def test_every_rule_is_documented_with_its_level():
    text = DOC.read_text(encoding="utf-8")
    for rule, level in RULES.items():
        assert f"### `{rule}`" in text, rule
        section = text.split(f"### `{rule}`", 1)[1].split("###", 1)[0]
        assert f"**{level}**" in section and "- Checks: " in section and "- Rett: " in section, rule
    for level in LEVELS:
        count = sum(1 for value in RULES.values() if value == level)
        assert re.search(rf"\| \*\*{level}\*\* \| [^|]+ \| {count} \|", text), level


@pytest.mark.parametrize("language", ["nb", "en"])
def test_every_rule_says_what_it_checks_and_what_to_fix(language):
    i18n.set_language(language)
    for rule in RULES:
        for text in (rule_check(rule), rule_fix(rule)):
            assert text and not text.startswith("rules.") and "{" not in text, (rule, text)


def test_readme_links_the_catalogue():
    assert "docs/rules.md" in (ROOT / "README.md").read_text(encoding="utf-8")
