"""safe_text(): nothing from outside may act on the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iplos_tui.core.text import is_safe, safe_text


def _bad(ch: str, one_line: bool = False) -> bool:
    code = ord(ch)
    if code in (0x09, 0x0A):
        return one_line
    return code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F or 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or 0xD800 <= code <= 0xDFFF


@given(st.text())
def test_no_control_survives(text):
    out = safe_text(text)
    assert not any(_bad(ch) for ch in out)
    assert is_safe(out)


@given(st.text())
def test_one_line_has_no_newline_or_tab(text):
    out = safe_text(text, one_line=True)
    assert not any(_bad(ch, one_line=True) for ch in out)


@given(st.text())
def test_idempotent(text):
    once = safe_text(text)
    assert safe_text(once) == once


@given(st.binary())
def test_any_bytes_decode(data):
    out = safe_text(data)
    assert not any(_bad(ch) for ch in out)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")))
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
