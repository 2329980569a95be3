"""The one detector and masker for person ids (fødselsnummer, D-nummer) in free text.

Every place that looks for a person id in text uses this module: the feedback tables mask what
it finds, the envelope's content scan refuses it, the journal scrubs it. A person id is found in
these shapes, not inside a longer run of digits:

- ``DDMMYYNNNNN`` (11 digits),
- ``DDMMYY NNNNN`` and ``DDMMYY-NNNNN`` (a space, a no-break space or a hyphen/dash between),
- ``DD.MM.YY NNNNN`` (also with a hyphen or nothing after the year),

in ASCII or full-width digits (U+FF10–U+FF19). The shape is what counts for masking (error lists
report invalid numbers too); ``find(valid_only=True)`` and the byte scan also require valid
check digits, so that an arbitrary 11-digit number in an extract is not refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

MASK = "•" * 11

_DIGIT = "[0-9\uff10-\uff19]"
_SEP = "[ \u00a0\u202f\\-\u2010\u2011\u2013]"
PATTERN = re.compile(
    rf"(?<![0-9\uff10-\uff19])(?:{_DIGIT}{{6}}|{_DIGIT}{{2}}\.{_DIGIT}{{2}}\.{_DIGIT}{{2}}){_SEP}?{_DIGIT}{{5}}(?![0-9\uff10-\uff19])"
)
_TO_ASCII = str.maketrans("\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "0123456789")

# The same shapes over UTF-8 bytes (the envelope scans its plaintext parts as bytes).
_B_DIGIT = rb"(?:[0-9]|\xef\xbc[\x90-\x99])"
_B_SEP = rb"(?:[ \-]|\xc2\xa0|\xe2\x80[\xaf\x90\x91\x93])"
BYTES_PATTERN = re.compile(
    rb"(?<![0-9])(?<!\xef\xbc[\x90-\x99])(?:" + _B_DIGIT + rb"{6}|" + _B_DIGIT + rb"{2}\." + _B_DIGIT + rb"{2}\." + _B_DIGIT + rb"{2})"
    + _B_SEP + rb"?" + _B_DIGIT + rb"{5}(?![0-9])(?!\xef\xbc[\x90-\x99])"
)
# For the byte scans' fast path: digits -> "0"; space, hyphen, "." and the bytes of the multi-byte
# separators (U+00A0, U+202F, U+2010, U+2011, U+2013, also as Windows-1252 bytes) -> "-";
# everything else -> " ". Every ASCII-digit shape then holds one of the needles below (found at C
# speed); only those places reach the pattern. A multi-byte separator maps to "--" or "---".
_FAST_MAP = bytes(
    0x30 if 0x30 <= b <= 0x39 else 0x2D if b in (0x20, 0x2D, 0x2E, 0xC2, 0xE2, 0x80, 0xA0, 0xAF, 0x90, 0x91, 0x93, 0x96) else 0x20
    for b in range(256)
)
_NEEDLES = (b"0" * 11, b"-00000")
# Every shape in that map: eleven "0"; or "0" + a separator + five "0" (which also covers the
# dotted forms); a multi-byte separator gives "--" or "---" (searched only when such bytes occur).
_SHAPE_NEEDLES = (b"0" * 11, b"0-00000")
_WIDE_SEPARATOR_NEEDLES = (b"0--00000", b"0---00000")
_WIDE_SEPARATOR_BYTES = (b"\xc2\xa0", b"\xe2\x80")
_FULL_WIDTH_LEAD = b"\xef\xbc"
_WINDOW = 12  # bytes a shape can start before the needle ("DD.MM.YY" + a 3-byte separator)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    digits: str  # the 11 digits in ASCII

    @property
    def valid(self) -> bool:
        return has_valid_check_digits(self.digits)


def has_valid_check_digits(digits: str) -> bool:
    from iplos_tui.core.identifiers import person_id_check_digits

    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    return person_id_check_digits(digits[:9]) == (int(digits[9]), int(digits[10]))


def _digits_of(text: str) -> str:
    return "".join(ch for ch in text.translate(_TO_ASCII) if "0" <= ch <= "9")


def find(text: str, *, valid_only: bool = False) -> Iterator[Found]:
    """Every person-id-shaped value in ``text`` (with valid check digits only, if asked)."""
    for match in PATTERN.finditer(text):
        found = Found(match.start(), match.end(), _digits_of(match.group()))
        if not valid_only or found.valid:
            yield found


def contains(text: str) -> bool:
    return PATTERN.search(text) is not None


def mask(text: str) -> str:
    """``text`` with every person-id-shaped value replaced by ``MASK``."""
    return PATTERN.sub(MASK, text)


def first_valid_in_utf8(data: bytes | bytearray) -> int | None:
    """The byte offset of the first person id with valid check digits in UTF-8 ``data``, or None.

    One ``translate`` and four ``find`` loops run at C speed; only the rare places that hold a
    needle reach the pattern. Full-width digits are rare, and then the pattern scans everything.
    """
    if _FULL_WIDTH_LEAD in data:
        return _first_valid(data, 0, len(data))
    mapped = data.translate(_FAST_MAP)
    length = len(mapped)
    first: int | None = None
    for needle in _NEEDLES:
        position = mapped.find(needle)
        while position >= 0 and (first is None or position < first):
            # the needle may be followed by two more digits (".YYNNNNN") and then the end check
            hit = _first_valid(data, max(0, position - _WINDOW), min(length, position + len(needle) + 3))
            if hit is not None:
                first = hit if first is None else min(first, hit)
                break
            position = mapped.find(needle, position + len(needle))
    return first


def appears_in(data: bytes, encoding: str = "utf-8") -> bool:
    """Whether encoded ``data`` holds any person-id shape (valid or not). Exact needles for every
    shape (few false places, so ordinary numbers like "rad 123456" cost nothing), each place
    checked with ``PATTERN`` on its decoded window; full-width digits scan the whole text."""
    if encoding.startswith("utf-8") and _FULL_WIDTH_LEAD in data:
        return contains(data.decode("utf-8", "replace"))
    mapped = data.translate(_FAST_MAP)
    codec = "utf-8" if encoding.startswith("utf-8") else encoding
    needles: tuple[bytes, ...] = _SHAPE_NEEDLES
    if codec == "utf-8" and any(wide in data for wide in _WIDE_SEPARATOR_BYTES):
        needles += _WIDE_SEPARATOR_NEEDLES
    for needle in needles:
        position = mapped.find(needle)
        while position >= 0:
            window = data[max(0, position - 9) : position + len(needle) + 3]
            if contains(window.decode(codec, "replace")):
                return True
            position = mapped.find(needle, position + 1)
    return False


def _first_valid(data: bytes | bytearray, start: int, stop: int) -> int | None:
    for match in BYTES_PATTERN.finditer(data, start, stop):
        digits = _digits_of(match.group().decode("utf-8", "replace"))
        if has_valid_check_digits(digits):
            return match.start()
    return None
