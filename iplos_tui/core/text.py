"""safe_text(): the one sanitiser for every string that comes from outside.

File contents, zip entry names, CSV cells, server messages and exception texts all pass through
here before they reach a screen, a log line or a report. Control characters, format characters
(bidi overrides, zero-width characters, tag characters, U+FEFF) and line separators become visible
placeholders instead of acting on the operator's terminal or hiding from the reader.
"""

from __future__ import annotations

import re
from typing import Literal

_SURROGATE = re.compile("[\ud800-\udfff]")

# C0 controls (except tab and newline) -> the Unicode "control pictures" block, DEL -> ␡.
_C0 = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
_C0[0x7F] = "\u2421"
# C1 controls have no pictures; show them as a code in brackets.
_C1 = {code: f"<{code:02X}>" for code in range(0x80, 0xA0)}
# Format characters (Unicode category Cf: bidi embeddings, overrides and isolates, zero-width
# characters, U+FEFF, tag characters ...) reorder or hide what the operator reads; the line and
# paragraph separators (Zl, Zp) break lines where nothing shows a newline. Every code point of those
# categories (Unicode 15), whole blocks where a block is reserved for them.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E),
    (0x2060, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE007F),
    (0xD800, 0xDFFF),  # lone surrogates: replaced before the match, listed for is_safe()
)
_TABLE = {**_C0, **_C1}
_ONE_LINE = {**_TABLE, 0x09: "\u2409", 0x0A: "\u240a"}


def _pattern(table: dict[int, str]) -> re.Pattern[str]:
    singles = "".join(re.escape(chr(code)) for code in sorted(table))
    ranges = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in _INVISIBLE_RANGES)
    return re.compile(f"[{singles}{ranges}]")


_UNSAFE = _pattern(_TABLE)
_UNSAFE_ONE_LINE = _pattern(_ONE_LINE)


def _visible(match: re.Match[str], table: dict[int, str]) -> str:
    code = ord(match.group())
    return table.get(code) or f"<U+{code:04X}>"


def safe_text(value: object, *, one_line: bool = False, limit: int | None = None) -> str:
    """Return ``value`` with every control, format and separator character made visible.

    Bytes are decoded as UTF-8 with invalid sequences replaced. ``one_line`` also makes tab and
    newline visible (for names and table cells); ``limit`` cuts the result to that many
    characters, ending with an ellipsis. The result is idempotent: ``safe_text(safe_text(x)) ==
    safe_text(x)``.
    """
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        value = str(value)
    if value.isascii() and value.isprintable():
        text = value  # the common case, at C speed
    else:
        # Lone surrogates (from os.fsdecode of bad bytes) cannot be encoded for the terminal.
        if _SURROGATE.search(value):
            value = value.encode("utf-8", errors="surrogatepass").decode("utf-8", errors="replace")
        table, pattern = (_ONE_LINE, _UNSAFE_ONE_LINE) if one_line else (_TABLE, _UNSAFE)
        text = pattern.sub(lambda match: _visible(match, table), value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def is_safe(text: str) -> bool:
    """True when ``text`` holds no character that safe_text() would replace."""
    return _UNSAFE.search(text) is None


def escape_unsafe(document: str, *, style: Literal["toml", "json"]) -> str:
    """A TOML or JSON document with every character ``safe_text()`` would replace written as an
    escape (``\\u202E``), so that printing it cannot act on the terminal while reading it back
    gives the same values. Such characters only occur inside strings in what ``tomli_w`` and
    ``json.dumps`` write (they escape C0 themselves; newlines between lines are left alone).
    """

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        if code <= 0xFFFF:
            return f"\\u{code:04X}"
        if style == "toml":
            return f"\\U{code:08X}"
        code -= 0x10000  # JSON: a UTF-16 surrogate pair
        return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"

    return _UNSAFE.sub(escape, document)
