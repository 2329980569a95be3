"""safe_text(): nothing from outside may act on the terminal."""

from __future__ import annotations

import json
import sys
import tomllib
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from iplos_tui.core.text import escape_unsafe, is_safe, safe_text

# What may act on a terminal or hide from the reader: controls (Cc), format characters (Cf: bidi
# overrides, zero-width characters, U+FEFF, tag characters), line/paragraph separators (Zl, Zp),
# lone surrogates (Cs). Tab and newline are allowed unless one_line.
UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def _bad(ch: str, one_line: bool = False) -> bool:
    if ch in "\t\n":
        return one_line
    return unicodedata.category(ch) in UNSAFE_CATEGORIES or 0xE0000 <= ord(ch) <= 0xE007F


# Text that is mostly the dangerous kinds, so that hypothesis finds every one of them quickly.
hostile_chars = st.one_of(
    st.characters(whitelist_categories=("Cc", "Cf", "Zl", "Zp", "Cs")),
    st.characters(min_codepoint=0xE0000, max_codepoint=0xE007F),
    st.sampled_from("\u200b\u200c\u200d\u2060\ufeff\u2028\u2029\u202e\u2066\u180e\u00ad"),
    st.characters(),
)
hostile_text = st.text(alphabet=hostile_chars)


@given(hostile_text)
def test_no_control_survives(text):
    out = safe_text(text)
    assert not any(_bad(ch) for ch in out)
    assert is_safe(out)


@given(hostile_text)
def test_one_line_has_no_newline_or_tab(text):
    out = safe_text(text, one_line=True)
    assert not any(_bad(ch, one_line=True) for ch in out)


@given(hostile_text)
def test_idempotent(text):
    once = safe_text(text)
    assert safe_text(once) == once


@given(st.binary())
def test_any_bytes_decode(data):
    out = safe_text(data)
    assert not any(_bad(ch) for ch in out)


@given(st.text(alphabet=st.characters(blacklist_categories=tuple(UNSAFE_CATEGORIES), blacklist_characters="\U000e0000")))
def test_ordinary_text_is_unchanged(text):
    assert safe_text(text) == text


def test_known_attacks_are_visible():
    assert safe_text("\x1b]0;PWNED\x07") == "␛]0;PWNED␇"
    assert safe_text("\x9b2J") == "<9B>2J"
    assert safe_text("navn\u202etxt.exe") == "navn<U+202E>txt.exe"
    assert safe_text(b"ok \xff\xfe") == "ok \ufffd\ufffd"
    assert safe_text("a\tb\nc") == "a\tb\nc"
    assert safe_text("a\tb\nc", one_line=True) == "a␉b␊c"
    assert safe_text("x" * 10, limit=5) == "xxxx…"
    assert safe_text(None) == ""


def test_invisible_and_line_breaking_characters_are_visible():
    """Item 17 of issue 11: these reached the TUI unchanged."""
    assert safe_text("a\u200bb") == "a<U+200B>b"  # zero-width space
    assert safe_text("a\u200c\u200db\u2060") == "a<U+200C><U+200D>b<U+2060>"
    assert safe_text("\ufeffname") == "<U+FEFF>name"
    assert safe_text("one\u2028two\u2029three") == "one<U+2028>two<U+2029>three"
    assert safe_text("ok\U000e0041\U000e007f") == "ok<U+E0041><U+E007F>"  # tag characters


def test_every_unsafe_code_point_is_caught():
    """The sanitiser's own table against this Python's Unicode database, every code point."""
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if _bad(ch):
            assert not is_safe(ch), f"U+{code:04X} ({unicodedata.category(ch)}) passes safe_text"


@given(st.dictionaries(st.sampled_from(["a", "b"]), hostile_text.filter(lambda text: not any(unicodedata.category(ch) == "Cs" for ch in text))))
def test_escaped_documents_read_back_the_same(values):
    """escape_unsafe() leaves a TOML or JSON document that prints nothing raw and reads back equal."""
    import tomli_w

    toml_text = escape_unsafe(tomli_w.dumps({"t": values}), style="toml")
    json_text = escape_unsafe(json.dumps({"t": values}, ensure_ascii=False), style="json")
    for text in (toml_text, json_text):
        assert all(not _bad(ch) for ch in text.replace("\n", ""))
    assert tomllib.loads(toml_text) == {"t": values}
    assert json.loads(json_text) == {"t": values}
