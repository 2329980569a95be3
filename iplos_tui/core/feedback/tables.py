"""The feedback's tables: ``;``-separated CSV into rows, every cell sanitised, fnr masked.

Encoding: UTF-8 with or without BOM; otherwise Windows-1252 (what Excel on Norwegian Windows
writes), or ISO-8859-1 when a byte is undefined in Windows-1252 (its C1 controls then show as
placeholders). Every cell passes ``safe_text(one_line=True)``. Values shaped like a fødselsnummer
or D-nummer (11 digits, optionally 6+5 with a space) are masked unless the operator reveals them;
a reveal calls every registered hook first (the journal), and is refused if a hook fails.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from iplos_tui.core.text import _ONE_LINE, safe_text  # the table safe_text applies

DELIMITER = ";"
DISPLAY_CELL_LIMIT = 60
MASK = "•" * 11
FNR_SHAPED = re.compile(r"(?<![0-9])[0-9]{6} ?[0-9]{5}(?![0-9])")

# Column names for the finding counts (SSB's real names are unknown; the sandbox's are first).
RULE_COLUMNS = ("regel", "rule", "regel_id", "regelid", "kontroll", "feilkode", "kode")
SEVERITY_COLUMNS = ("alvorlighet", "alvorlighetsgrad", "severity", "nivå", "niva", "grad", "type")

_FIELD_LIMIT_SET = False


def _raise_field_limit(size: int) -> None:
    # csv's default 128 KiB field limit would turn a 1 MB cell into an exception.
    global _FIELD_LIMIT_SET
    if not _FIELD_LIMIT_SET or csv.field_size_limit() < size:
        csv.field_size_limit(max(size, csv.field_size_limit()))
        _FIELD_LIMIT_SET = True


def decode_table_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding name) for a table's bytes."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("iso-8859-1"), "iso-8859-1"


def mask_fnr(text: str) -> str:
    return FNR_SHAPED.sub(MASK, text)


def has_fnr(text: str) -> bool:
    return FNR_SHAPED.search(text) is not None


@dataclass(frozen=True)
class RevealEvent:
    """What the operator asked to see unmasked (no cell values: those are personal data)."""

    source: str  # zip file name (sanitised)
    entry: str  # entry name (sanitised)
    rows: tuple[int, ...] | None  # None = the whole table
    cells: int  # how many masked values become visible
    at: dt.datetime


RevealHook = Callable[[RevealEvent], None]
_reveal_hooks: list[RevealHook] = []


def add_reveal_hook(hook: RevealHook) -> None:
    """Register a hook called before every reveal (the journal writer). If it raises, no reveal."""
    if hook not in _reveal_hooks:
        _reveal_hooks.append(hook)


def remove_reveal_hook(hook: RevealHook) -> None:
    if hook in _reveal_hooks:
        _reveal_hooks.remove(hook)


class RevealRefused(Exception):
    pass


@dataclass
class Table:
    name: str  # entry name, sanitised
    source: str  # zip name, sanitised
    encoding: str
    header: list[str]  # sanitised, masked
    _rows: list[list[str]] = field(repr=False)  # sanitised, NOT masked
    _masked: list[list[str]] = field(repr=False)
    masked_cells: int = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> list[list[str]]:
        """The rows as shown by default: sanitised, fnr-shaped values masked."""
        return self._masked

    def display_rows(self, limit: int = DISPLAY_CELL_LIMIT, start: int = 0, stop: int | None = None) -> list[list[str]]:
        """Masked rows with long cells cut to ``limit`` characters (for screens and terminals)."""
        return [[cut(cell, limit) for cell in row] for row in self._masked[start:stop]]

    def reveal(self, rows: list[int] | None = None, *, hooks: list[RevealHook] | None = None) -> list[list[str]]:
        """The unmasked rows (all, or the given indexes): an explicit operator action.

        Every hook (the registered ones, or ``hooks``) is called first; any exception refuses.
        """
        selected = list(range(len(self._rows))) if rows is None else [i for i in rows if 0 <= i < len(self._rows)]
        cells = sum(1 for i in selected for cell in self._rows[i] if has_fnr(cell))
        event = RevealEvent(
            source=self.source,
            entry=self.name,
            rows=None if rows is None else tuple(selected),
            cells=cells,
            at=dt.datetime.now(dt.timezone.utc),
        )
        for hook in list(_reveal_hooks if hooks is None else hooks):
            try:
                hook(event)
            except Exception as exc:
                raise RevealRefused(safe_text(str(exc), one_line=True, limit=200)) from None
        return [list(self._rows[i]) for i in selected]

    def column(self, *candidates: str) -> int | None:
        wanted = [c.casefold() for c in candidates]
        lowered = [h.strip().casefold() for h in self.header]
        for name in wanted:
            if name in lowered:
                return lowered.index(name)
        return None

    def count_by(self, *candidates: str) -> dict[str, int]:
        index = self.column(*candidates)
        if index is None:
            return {}
        counts = Counter(row[index] if index < len(row) else "" for row in self._masked)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings per rule and per severity (empty when the table has no such column)."""
        return {"rule": self.count_by(*RULE_COLUMNS), "severity": self.count_by(*SEVERITY_COLUMNS)}

    def search(self, text: str) -> list[int]:
        """Indexes of rows whose masked cells contain ``text`` (case-insensitive)."""
        needle = text.casefold()
        return [i for i, row in enumerate(self._masked) if any(needle in cell.casefold() for cell in row)]


def cut(cell: str, limit: int = DISPLAY_CELL_LIMIT) -> str:
    return cell if len(cell) <= limit else cell[: max(limit - 1, 0)] + "…"


def _char_class(codes: object) -> re.Pattern[str]:
    ranges = "".join(re.escape(chr(code)) for code in sorted(codes))  # type: ignore[call-overload]
    return re.compile(f"[{ranges}\ud800-\udfff]")


# Everything safe_text(one_line=True) would change; most cells hold none of it, and calling
# safe_text on millions of plain cells costs seconds (measured: 400k rows 17 s -> see docs).
_NEEDS_CLEANING = _char_class(_ONE_LINE)


def _clean(cell: str) -> str:
    return safe_text(cell, one_line=True) if _NEEDS_CLEANING.search(cell) else cell


def parse_table(data: bytes, *, name: str = "", source: str = "") -> Table:
    """Parse one CSV entry. The first row is the header. Never raises on content."""
    text, encoding = decode_table_bytes(data)
    _raise_field_limit(len(data) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, quotechar='"', strict=False)
    rows: list[list[str]] = []
    try:
        for raw in reader:
            if not raw or raw == [""]:
                continue
            # one search per row: most rows need no cleaning at all
            rows.append([_clean(cell) for cell in raw] if _NEEDS_CLEANING.search("".join(raw)) else raw)
    except csv.Error:
        # A NUL or similar that csv refuses: fall back to a plain split, line by line.
        rows = [[_clean(cell) for cell in line.split(DELIMITER)] for line in text.splitlines() if line]
    header = rows[0] if rows else []
    body = rows[1:]
    masked = []
    count = 0
    for row in body:
        out = row
        if not FNR_SHAPED.search(";".join(row)):
            masked.append(out)
            continue
        for index, cell in enumerate(row):
            if len(cell) >= 11 and FNR_SHAPED.search(cell):
                if out is row:
                    out = list(row)
                out[index] = mask_fnr(cell)
                count += 1
        masked.append(out)
    return Table(
        name=safe_text(name, one_line=True),
        source=safe_text(source, one_line=True),
        encoding=encoding,
        header=[mask_fnr(h) for h in header],
        _rows=body,
        _masked=masked,
        masked_cells=count,
    )
