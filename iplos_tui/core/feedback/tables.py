"""The feedback's tables, read in one streaming pass and kept as compressed blocks.

An entry's decrypted bytes pass once through ``read_entry()``: they are split into records
(``;``-separated CSV, quoted newlines allowed), counted (rows, findings per rule and per severity,
cells holding a person id) and stored as zlib-compressed blocks of at most ``BLOCK_ROWS`` rows
and about ``BLOCK_BYTES`` bytes, each block exactly the entry's bytes of its records. Nothing is
kept as ``list[list[str]]``: a page of rows is parsed from its blocks when it is asked for, so the
memory a table needs is its compressed size plus one page, not the entry (issue 15 item 4). The
blocks together are the entry byte for byte (export and SHA-256 use them).

Encoding: UTF-8 with or without BOM; otherwise Windows-1252 (what Excel on Norwegian Windows
writes), or ISO-8859-1 when a byte is undefined in Windows-1252. Every cell passes
``safe_text(one_line=True)``; values shaped like a person id are masked (``core.person_id``)
unless the operator reveals them, and a reveal calls every registered hook first (the journal).

``TableLimits`` bound the parsed form (issue 11 item 18): rows, columns, the bytes of one record
and of one cell, the distinct values counted. A table beyond them is refused with the row and the
limit named; the entry itself stays readable and exportable.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime as dt
import io
import itertools
import threading
import zlib
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter

from iplos_tui.core import person_id
from iplos_tui.core.feedback.errors import FeedbackError
from iplos_tui.core.i18n import t
from iplos_tui.core.text import _ONE_LINE, safe_text  # the table safe_text applies

DELIMITER = ";"
MASK = person_id.MASK
DISPLAY_CELL_LIMIT = 60
BLOCK_BYTES = 256 * 1024
MiB = 1024 * 1024
FIELD_LIMIT = 8 * MiB  # above any block: a block is at most BLOCK_BYTES + max_record_bytes

# Column names for the finding counts (SSB's real names are unknown; the sandbox's are first).
RULE_COLUMNS = ("regel", "rule", "regel_id", "regelid", "kontroll", "feilkode", "kode")
SEVERITY_COLUMNS = ("alvorlighet", "alvorlighetsgrad", "severity", "nivå", "niva", "grad", "type")


@dataclass(frozen=True)
class TableLimits:
    """The documented bounds of a parsed table (docs/feedback.md)."""

    max_rows: int = 2_000_000
    max_columns: int = 1024
    max_record_bytes: int = 4 * MiB  # one line (longer ones are cut into blocks anyway)
    max_count_keys: int = 1000  # distinct values counted per column; the rest are "other"
    max_key_chars: int = 100


DEFAULT_TABLE_LIMITS = TableLimits()


class TableRefusal(FeedbackError):
    """The entry cannot be shown as a table within the limits (``feedback.table_<reason>``)."""

    def __init__(self, reason: str, row: int, limit: int) -> None:
        self.reason = reason
        self.row = row
        self.limit = limit
        super().__init__(f"{reason} at row {row}")

    def message(self) -> str:
        return t(f"feedback.table_{self.reason}", row=self.row, limit=self.limit)


def cut(cell: str, limit: int = DISPLAY_CELL_LIMIT) -> str:
    return cell if len(cell) <= limit else cell[: max(limit - 1, 0)] + "…"


def _char_class(codes: object) -> object:
    import re

    ranges = "".join(re.escape(chr(code)) for code in sorted(codes))  # type: ignore[call-overload]
    return re.compile(f"[{ranges}\ud800-\udfff]")


# Everything safe_text(one_line=True) would change; most cells hold none of it, and calling
# safe_text on millions of plain cells costs seconds. A block's line ends are no cells' content
# unless a cell is quoted, so a block without quotes is checked without them.
_NEEDS_CLEANING = _char_class(_ONE_LINE)
_NEEDS_CLEANING_BETWEEN_LINES = _char_class({code: value for code, value in _ONE_LINE.items() if code not in (0x0A, 0x0D)})


def _clean(cell: str) -> str:
    return safe_text(cell, one_line=True) if _NEEDS_CLEANING.search(cell) else cell  # type: ignore[attr-defined]


def _clean_row(raw: list[str]) -> list[str]:
    return [_clean(cell) for cell in raw] if _NEEDS_CLEANING.search("".join(raw)) else raw  # type: ignore[attr-defined]


def _mask_row(row: list[str]) -> tuple[list[str], int]:
    """The row with person ids masked, and how many cells held one."""
    if not person_id.contains(";".join(row)):
        return row, 0
    out, count = list(row), 0
    for index, cell in enumerate(row):
        if person_id.contains(cell):
            out[index] = person_id.mask(cell)
            count += 1
    return out, count


# ---- decoding -------------------------------------------------------------------------------

_FALLBACKS = {"utf-8": "cp1252", "cp1252": "iso-8859-1"}


def decode_table_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding name) for a whole table's bytes (small tables, tests)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("iso-8859-1"), "iso-8859-1"


def _decode(raw: bytes, encoding: str, first: bool) -> str:
    if encoding == "utf-8-sig":
        return (raw[3:] if first and raw.startswith(codecs.BOM_UTF8) else raw).decode("utf-8", errors="replace")
    return raw.decode(encoding)


# ---- blocks ---------------------------------------------------------------------------------


def _cut(buffer: bytearray, limits: TableLimits) -> int:
    """Where the next block ends: after the first line end at or past ``BLOCK_BYTES`` outside a
    quoted cell (an even number of quotes before it), or 0 when more bytes are needed. A line
    longer than ``max_record_bytes`` is cut anyway (at a UTF-8 character boundary)."""
    position = buffer.find(b"\n", BLOCK_BYTES - 1)
    while position >= 0:
        if buffer.count(b'"', 0, position) % 2 == 0:
            return position + 1
        position = buffer.find(b"\n", position + 1)
    if len(buffer) <= BLOCK_BYTES + limits.max_record_bytes:
        return 0
    end = len(buffer)
    while end > 0 and 0x80 <= buffer[end - 1] < 0xC0:
        end -= 1
    return end - 1 if end and buffer[end - 1] >= 0xC0 else end


def _blocks(chunks: Iterable[bytes], limits: TableLimits) -> Iterator[bytes]:
    """The entry's bytes in blocks of about ``BLOCK_BYTES``, each ending where a record ends."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= BLOCK_BYTES:
            end = _cut(buffer, limits)
            if not end:
                break
            yield bytes(buffer[:end])
            del buffer[:end]
    if buffer:
        yield bytes(buffer)


def _records(text: str) -> list[list[str]]:
    """Every record of a block (blank ones included, as csv gives them). csv reads quoted cells
    over line ends; a block csv cannot read is split plainly at ``;``, line by line."""
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)  # csv's 128 KiB default would refuse a long message
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITER, quotechar='"', strict=False))
    except csv.Error:
        return [line.rstrip("\r").split(DELIMITER) for line in text.split("\n")]


# ---- the pass -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    first_row: int  # index of its first data row (the header is not a data row)
    rows: int
    data: bytes  # zlib: the entry's bytes of these records, exactly
    header: bool = False  # its first non-blank record is the table's header
    plain: bool = False  # no quotes, every line end "\n" or "\r\n": one record per line, split at ";"


def _column(header: Sequence[str], candidates: Sequence[str]) -> int | None:
    lowered = [h.strip().strip("\ufeff").casefold() for h in header]
    for name in candidates:
        if name.casefold() in lowered:
            return lowered.index(name.casefold())
    return None


class _Counter:
    """Findings per value of one column: raw values are counted (one dict lookup per row) and
    made presentable once each at the end; at most ``max_count_keys`` distinct values."""

    def __init__(self, index: int | None, limits: TableLimits) -> None:
        self.index = index
        self.limits = limits
        self.raw: dict[str, int] = {}
        self.other = 0

    def add_rows(self, rows: Sequence[list[str]]) -> None:
        index = self.index
        if index is None:
            return
        try:
            counted = Counter(map(itemgetter(index), rows))  # one C loop for the usual case
        except IndexError:  # a short row: its value is ""
            counted = Counter(row[index] if index < len(row) else "" for row in rows)
        raw = self.raw
        room = self.limits.max_count_keys
        for value, count in counted.items():
            if value in raw:
                raw[value] += count
            elif len(raw) < room:
                raw[value] = count
            else:
                self.other += count

    def sorted(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        limit = self.limits.max_key_chars
        for value, count in self.raw.items():
            key = person_id.mask(_clean(value[: limit * 2]))[:limit]
            counts[key] = counts.get(key, 0) + count
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class _Pass:
    """One pass over an entry: its blocks, the header and the row count. Quote-free blocks are
    counted by their line ends (C speed); a block with quotes is read by csv. Findings per rule
    and severity and the masked cells are counted when first asked for (``_Counts``)."""

    def __init__(self, encoding: str, limits: TableLimits) -> None:
        self.encoding = encoding
        self.limits = limits
        self.changed = False
        self.header: list[str] | None = None
        self.rows = 0

    def decode(self, raw: bytes, first: bool) -> str:
        while True:
            try:
                return _decode(raw, self.encoding, first)
            except UnicodeDecodeError:
                self.encoding = _FALLBACKS[self.encoding]
                self.changed = True

    def block(self, raw: bytes, first: bool) -> _Block:
        text = self.decode(raw, first)
        return self.add(text, raw, zlib.compress(raw, 1))

    def _too_wide(self, widest: int) -> None:
        if widest > self.limits.max_columns:
            raise TableRefusal("too_many_columns", self.rows + 1, self.limits.max_columns)

    def add(self, text: str, raw: bytes, packed: bytes) -> _Block:
        """Take one block; ``text`` is ``raw`` decoded, ``packed`` it compressed."""
        has_header = False
        plain = '"' not in text and text.count("\r") == text.count("\r\n")  # csv would give one record per line
        if plain:
            lines = text.split("\n")
            if max(map(len, lines), default=0) > self.limits.max_columns:  # only a long line can be too wide
                self._too_wide(max(map(str.count, lines, repeat(";")), default=0) + 1)
            rows = len(lines) - lines.count("") - lines.count("\r")
            if self.header is None and rows:
                first = next(line for line in lines if line not in ("", "\r"))
                self._take_header(first.removesuffix("\r").split(DELIMITER))
                has_header, rows = True, rows - 1
        else:
            records = [r for r in _records(text) if r and r != [""]]
            self._too_wide(max(map(len, records), default=0))
            if self.header is None and records:
                self._take_header(records[0])
                has_header = True
            rows = len(records) - has_header
        first_row = self.rows
        self.rows += rows
        if self.rows > self.limits.max_rows:
            raise TableRefusal("too_many_rows", self.limits.max_rows + 1, self.limits.max_rows)
        return _Block(first_row, rows, packed, has_header, plain)

    def _take_header(self, record: list[str]) -> None:
        self.header = [person_id.mask(h) for h in _clean_row(record)]


class _Counts:
    """Findings per rule and per severity, and the cells holding a person id, counted over the
    cleaned rows block by block (when first asked for, or while the rows stream out)."""

    def __init__(self, header: Sequence[str], limits: TableLimits) -> None:
        self.rule = _Counter(_column(header, RULE_COLUMNS), limits)
        self.severity = _Counter(_column(header, SEVERITY_COLUMNS), limits)
        self.masked = 0

    def add(self, rows: Sequence[list[str]], ids: bool) -> None:
        self.rule.add_rows(rows)
        self.severity.add_rows(rows)
        if ids:
            self.masked += sum(_mask_row(row)[1] for row in rows)


def read_entry(chunks: Iterable[bytes], *, name: str = "", source: str = "", limits: TableLimits = DEFAULT_TABLE_LIMITS) -> tuple[Table, TableRefusal | None]:
    """One pass over an entry's bytes: the stored entry as a Table and, when the bytes are not a
    table within ``limits``, the refusal (the Table then holds the bytes, but no rows)."""
    chunks = iter(chunks)
    head = next(chunks, b"")
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    state = _Pass(encoding, limits)
    blocks: list[_Block] = []
    refusal: TableRefusal | None = None
    for raw in _blocks(itertools.chain([head], chunks), limits):
        if refusal is None:
            try:
                blocks.append(state.block(raw, not blocks))
                continue
            except TableRefusal as exc:
                refusal = exc
        blocks.append(_Block(0, 0, zlib.compress(raw, 1)))  # kept as bytes only
    table = Table(safe_text(name, one_line=True), safe_text(source, one_line=True), state.encoding, tuple(blocks), limits)
    if refusal is None:
        if state.changed:  # read partly as UTF-8 before it turned out to be something else
            state = table._reread()
        table.header = state.header or []
        table.row_count = state.rows
    return table, refusal


def parse_table(data: bytes, *, name: str = "", source: str = "", limits: TableLimits = DEFAULT_TABLE_LIMITS) -> Table:
    """Parse one CSV entry held in memory (small tables and tests). Raises TableRefusal."""
    table, refusal = read_entry([data], name=name, source=source, limits=limits)
    if refusal is not None:
        raise refusal
    return table


# ---- reveal hooks ---------------------------------------------------------------------------


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


# ---- the table ------------------------------------------------------------------------------

CACHED_BLOCKS = 4


@dataclass
class Table:
    name: str  # entry name, sanitised
    source: str  # zip name, sanitised
    encoding: str
    blocks: tuple[_Block, ...] = field(repr=False)
    limits: TableLimits = field(default=DEFAULT_TABLE_LIMITS, repr=False)
    header: list[str] = field(default_factory=list)  # sanitised, masked
    row_count: int = 0
    _counted: _Counts | None = field(default=None, repr=False)
    _starts: list[int] = field(default_factory=list, repr=False)
    _cache: OrderedDict[int, tuple[list[list[str]], bool]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._starts = [block.first_row for block in self.blocks]

    def _reread(self) -> _Pass:
        state = _Pass(self.encoding, self.limits)
        blocks = []
        for number, block in enumerate(self.blocks):
            raw = zlib.decompress(block.data)
            blocks.append(state.add(_decode(raw, self.encoding, number == 0), raw, block.data))
        self.blocks = tuple(blocks)
        self._starts = [block.first_row for block in self.blocks]
        return state

    def _counts(self) -> _Counts:
        if self._counted is None:
            counts = _Counts(self.header, self.limits)
            for number, block in enumerate(self.blocks):
                if block.rows:
                    counts.add(*self._block_rows(number))
            self._counted = counts
        return self._counted

    @property
    def masked_cells(self) -> int:
        """How many cells hold a person id (masked unless revealed)."""
        return self._counts().masked

    @property
    def counts_other(self) -> dict[str, int]:
        """Findings whose value was beyond ``max_count_keys`` distinct values, per column."""
        counts = self._counts()
        return {"rule": counts.rule.other, "severity": counts.severity.other}

    def __len__(self) -> int:
        return self.row_count

    # -- the bytes --

    def iter_bytes(self) -> Iterator[bytes]:
        """The entry's bytes, exactly, block by block."""
        for block in self.blocks:
            yield zlib.decompress(block.data)

    def read_bytes(self) -> bytes:
        return b"".join(self.iter_bytes())

    # -- rows --

    def _block_rows(self, number: int) -> tuple[list[list[str]], bool]:
        """The cleaned, unmasked data rows of block ``number``, and whether it may hold a person id
        (False: masking can be skipped). Both are found when the block is first parsed, not at
        open; a few parsed blocks stay cached."""
        with self._lock:
            cached = self._cache.get(number)
            if cached is not None:
                self._cache.move_to_end(number)
                return cached
        block = self.blocks[number]
        raw = zlib.decompress(block.data)
        text = _decode(raw, self.encoding, number == 0)
        if block.plain:  # what csv gives for such text, without csv's per-character loop
            records = [line.removesuffix("\r").split(DELIMITER) for line in text.split("\n") if line not in ("", "\r")]
        else:
            records = [r for r in _records(text) if r and r != [""]]
        if block.header:
            records.pop(0)
        clean = '"' not in text and _NEEDS_CLEANING_BETWEEN_LINES.search(text) is None  # type: ignore[attr-defined]
        parsed = (records if clean else [_clean_row(r) for r in records], person_id.appears_in(raw, self.encoding))
        with self._lock:
            self._cache[number] = parsed
            while len(self._cache) > CACHED_BLOCKS:
                self._cache.popitem(last=False)
        return parsed

    def _block_of(self, row: int) -> int:
        return bisect.bisect_right(self._starts, row) - 1

    def _shown(self, row: list[str], revealed: bool, cell_limit: int | None, ids: bool = True) -> list[str]:
        out = row if revealed or not ids else _mask_row(row)[0]
        return [cut(cell, cell_limit) for cell in out] if cell_limit else list(out)

    def page(self, start: int = 0, stop: int | None = None, *, cell_limit: int | None = None, _revealed: bool = False) -> list[list[str]]:
        """Rows ``start``..``stop`` as shown by default: sanitised, person ids masked; long cells
        cut to ``cell_limit`` characters when given."""
        stop = self.row_count if stop is None else min(stop, self.row_count)
        out: list[list[str]] = []
        row = max(start, 0)
        while row < stop:
            number = self._block_of(row)
            block = self.blocks[number]
            if not block.rows:
                break
            rows, ids = self._block_rows(number)
            for offset in range(row - block.first_row, min(block.rows, stop - block.first_row)):
                out.append(self._shown(rows[offset], _revealed, cell_limit, ids))
            row = block.first_row + block.rows
        return out

    def rows_at(self, indices: Sequence[int], *, cell_limit: int | None = None, _revealed: bool = False) -> list[list[str]]:
        out = []
        for row in indices:
            if 0 <= row < self.row_count:
                number = self._block_of(row)
                rows, ids = self._block_rows(number)
                out.append(self._shown(rows[row - self.blocks[number].first_row], _revealed, cell_limit, ids))
        return out

    def iter_rows(self, *, _revealed: bool = False) -> Iterator[list[str]]:
        """Every row, masked, one block in memory at a time (``--json`` streams these). When the
        counts are not known yet, they are counted on the way (one parse for both)."""
        counting = _Counts(self.header, self.limits) if self._counted is None else None
        for number, block in enumerate(self.blocks):
            if block.rows:
                rows, ids = self._block_rows(number)
                if counting is not None:
                    counting.add(rows, ids)
                if _revealed or not ids:
                    yield from rows
                else:
                    for row in rows:
                        yield _mask_row(row)[0]
        if counting is not None and self._counted is None:
            self._counted = counting

    def display_rows(self, limit: int = DISPLAY_CELL_LIMIT, start: int = 0, stop: int | None = None) -> list[list[str]]:
        return self.page(start, stop, cell_limit=limit)

    # -- counting and searching --

    def column(self, *candidates: str) -> int | None:
        return _column(self.header, candidates)

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings per rule and per severity (empty when the table has no such column)."""
        counts = self._counts()
        return {"rule": counts.rule.sorted(), "severity": counts.severity.sorted()}

    def search(self, text: str, *, cancel: threading.Event | None = None) -> array[int]:
        """Indexes of rows whose masked cells contain ``text`` (case-insensitive), in order."""
        needle = text.casefold()
        found = array("I")
        for number, block in enumerate(self.blocks):
            if cancel is not None and cancel.is_set():
                break
            rows, ids = self._block_rows(number)
            for offset, row in enumerate(rows):
                cells = _mask_row(row)[0] if ids else row
                if any(needle in cell.casefold() for cell in cells):
                    found.append(block.first_row + offset)
        return found

    # -- reveal --

    def _reveal_event(self, rows: tuple[int, ...] | None, cells: int, hooks: list[RevealHook] | None) -> None:
        event = RevealEvent(self.source, self.name, rows, cells, dt.datetime.now(dt.timezone.utc))
        for hook in list(_reveal_hooks if hooks is None else hooks):
            try:
                hook(event)
            except Exception as exc:
                raise RevealRefused(safe_text(str(exc), one_line=True, limit=200)) from None

    def reveal(self, *, hooks: list[RevealHook] | None = None) -> RevealedTable:
        """The whole table unmasked, after every hook (the registered ones, or ``hooks``) has run;
        any exception refuses. The Table itself stays masked."""
        self._reveal_event(None, self.masked_cells, hooks)
        return RevealedTable(self)

    def reveal_rows(self, rows: Iterable[int], *, hooks: list[RevealHook] | None = None) -> list[list[str]]:
        selected = tuple(i for i in rows if 0 <= i < self.row_count)
        unmasked = self.rows_at(selected, _revealed=True)
        self._reveal_event(selected, sum(_mask_row(row)[1] for row in unmasked), hooks)
        return unmasked


@dataclass(frozen=True)
class RevealedTable:
    """An unmasked view of a table, handed out only by ``Table.reveal()``."""

    table: Table

    def page(self, start: int = 0, stop: int | None = None, *, cell_limit: int | None = None) -> list[list[str]]:
        return self.table.page(start, stop, cell_limit=cell_limit, _revealed=True)

    def rows_at(self, indices: Sequence[int], *, cell_limit: int | None = None) -> list[list[str]]:
        return self.table.rows_at(indices, cell_limit=cell_limit, _revealed=True)

    def iter_rows(self) -> Iterator[list[str]]:
        return self.table.iter_rows(_revealed=True)
