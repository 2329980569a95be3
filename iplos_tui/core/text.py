"""safe_text(): the one sanitiser for every string that comes from outside.

File contents, zip entry names, CSV cells, server messages and exception texts all pass through
here before they reach a screen, a log line or a report. Control characters become visible
placeholders instead of acting on the operator's terminal.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")

# C0 controls (except tab and newline) -> the Unicode "control pictures" block, DEL -> ␡.
_C0 = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
_C0[0x7F] = "\u2421"
# C1 controls have no pictures; show them as a code in brackets.
_C1 = {code: f"<{code:02X}>" for code in range(0x80, 0xA0)}
# Bidi embeddings, overrides and isolates can reorder what the operator reads.
_BIDI = {code: f"<U+{code:04X}>" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
_TABLE = {**_C0, **_C1, **_BIDI}

_ONE_LINE = {**_TABLE, 0x09: "\u2409", 0x0A: "\u240a"}


def _pattern(table: dict[int, str]) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(table)) + "]")


_UNSAFE = _pattern(_TABLE)
_UNSAFE_ONE_LINE = _pattern(_ONE_LINE)


def safe_text(value: str | bytes | None, *, one_line: bool = False, limit: int | None = None) -> str:
    """Return ``value`` with every control character made visible.

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
        text = pattern.sub(lambda match: table[ord(match.group())], value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def is_safe(text: str) -> bool:
    """True when ``text`` holds no character that safe_text() would replace."""
    return _UNSAFE.search(text) is None
