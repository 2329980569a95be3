"""Open a feedback zip with the PIN, in memory, all or nothing.

Order: read the file (bounded, regular file only) -> check the name against the profile -> our
own structure checks (``zipcheck``) -> pyzipper must see the same entries -> decrypt every entry
in one streaming pass, counting the bytes actually produced and stopping at the cap; the pass
builds each entry's table (``tables.read_entry``: compressed blocks and counts, never the rows
as lists). pyzipper checks the WinZip AES HMAC only at the end of an entry, so no plaintext is
used (or written) before the whole archive has passed. ``extract()``/``extractall()`` are never
called.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from iplos_tui.core.errors import Cancelled
from iplos_tui.core.feedback.errors import FeedbackError, FeedbackFileError, WrongPinOrDamaged, ZipRefusal
from iplos_tui.core.feedback.naming import FeedbackName, check_feedback_name, parse_feedback_name
from iplos_tui.core.feedback.zipcheck import DEFAULT_LIMITS, ZipLayout, ZipLimits, inspect_zip
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.feedback.tables import Table, TableLimits, TableRefusal

CHUNK = 64 * 1024


class _Revealable(Protocol):
    def reveal(self) -> str: ...


@dataclass(frozen=True)
class FeedbackEntry:
    name: str  # as in the zip: untrusted, show ``display_name``
    size: int
    sha256: str
    stored: Table = field(repr=False)  # the bytes (compressed blocks) and, if it is one, the table
    table_error: TableRefusal | None = None  # why it cannot be shown as a table

    @property
    def display_name(self) -> str:
        return safe_text(self.name, one_line=True)

    @property
    def data(self) -> bytes:
        """The decrypted bytes, whole (small entries and tests; exports stream ``iter_bytes``)."""
        return self.stored.read_bytes()

    def iter_bytes(self) -> Iterator[bytes]:
        return self.stored.iter_bytes()


@dataclass(frozen=True)
class FeedbackArchive:
    source: str  # the zip's file name (untrusted when it came from a gateway)
    info: FeedbackName | None
    entries: tuple[FeedbackEntry, ...]

    @property
    def display_source(self) -> str:
        return safe_text(self.source, one_line=True)

    def entry(self, name: str) -> FeedbackEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def table(self, name: str) -> Table:
        """The entry's table (built when the archive was opened); raises its TableRefusal."""
        entry = self.entry(name)
        if entry.table_error is not None:
            raise entry.table_error
        return entry.stored


def read_zip_file(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> bytes:
    """The zip's bytes: a regular file (no symlink, FIFO or device), at most the size cap."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise FeedbackFileError(path, exc.strerror or str(exc)) from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise FeedbackFileError(path, "not a regular file")
    if st.st_size > limits.max_zip_bytes:
        raise ZipRefusal("zip_too_large", size=st.st_size, limit=limits.max_zip_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FeedbackFileError(path, exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise FeedbackFileError(path, "not a regular file")
        data = handle.read(limits.max_zip_bytes + 1)
    if len(data) > limits.max_zip_bytes:
        raise ZipRefusal("zip_too_large", size=len(data), limit=limits.max_zip_bytes)
    return data


def _pin_bytes(pin: _Revealable | str) -> bytes:
    value = pin if isinstance(pin, str) else pin.reveal()
    return value.encode("utf-8")


def inspect_feedback(
    source: Path | bytes,
    *,
    name: str | None = None,
    kommunenr: str | None = None,
    bydel: str | None = None,
    check_name: bool = True,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> tuple[str, FeedbackName | None, ZipLayout, bytes]:
    """Everything that needs no PIN: the name check and the structure check."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        file_name = name or ""
    else:
        file_name = name or Path(source).name
        if check_name:
            check_feedback_name(file_name, kommunenr, bydel)  # before reading any content
        data = read_zip_file(Path(source), limits)
    info = check_feedback_name(file_name, kommunenr, bydel) if check_name else parse_feedback_name(file_name)
    layout = inspect_zip(data, limits)
    return file_name, info, layout, data


def open_feedback(
    source: Path | bytes,
    pin: _Revealable | str,
    *,
    name: str | None = None,
    kommunenr: str | None = None,
    bydel: str | None = None,
    check_name: bool = True,
    limits: ZipLimits = DEFAULT_LIMITS,
    table_limits: TableLimits | None = None,
    cancel: threading.Event | None = None,
) -> FeedbackArchive:
    """Decrypt every entry of a feedback zip into memory, or raise a FeedbackError.

    ``source`` is a path or the zip's bytes (then ``name`` is its file name). With
    ``check_name`` the name must be a feedback name for ``kommunenr``/``bydel``.
    Raises ZipRefusal (policy), WrongPinOrDamaged (PIN or integrity), FeedbackFileError.
    """
    file_name, info, layout, data = inspect_feedback(
        source, name=name, kommunenr=kommunenr, bydel=bydel, check_name=check_name, limits=limits
    )
    entries = _decrypt_all(data, layout, _pin_bytes(pin), limits, cancel, file_name, table_limits)
    return FeedbackArchive(source=file_name, info=info, entries=entries)


def _same_view(layout: ZipLayout, infos: list[Any]) -> bool:
    """pyzipper must read exactly the entries we checked (guards against parser differentials)."""
    if len(infos) != len(layout.entries):
        return False
    for entry, info in zip(layout.entries, infos):
        if (
            info.filename != entry.name
            or info.header_offset != entry.header_offset
            or info.compress_size != entry.compress_size
            or info.file_size != entry.file_size
            or info.compress_type != entry.real_method
            or info.flag_bits != entry.flags
        ):
            return False
    return True


class _Counted:
    """One entry's decrypted chunks, counted (caps on what is produced) and hashed on the way."""

    def __init__(self, cap: int, room: int, name: str, cancel: threading.Event | None) -> None:
        self.cap, self.room, self.name, self.cancel = cap, room, name, cancel
        self.size = 0
        self.digest = hashlib.sha256()

    def chunks(self, handle: Any) -> Iterator[bytes]:
        while True:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled()
            chunk = handle.read(CHUNK)
            if not chunk:
                return
            self.size += len(chunk)
            if self.size > self.cap or self.size > self.room:
                raise ZipRefusal("entry_too_large", self.name, size=self.size, limit=self.cap)
            self.digest.update(chunk)
            yield chunk


def _decrypt_all(
    data: bytes, layout: ZipLayout, pwd: bytes, limits: ZipLimits, cancel: threading.Event | None,
    source: str, table_limits: TableLimits | None,
) -> tuple[FeedbackEntry, ...]:
    import struct
    import zlib

    import pyzipper

    from iplos_tui.core.feedback.tables import DEFAULT_TABLE_LIMITS, read_entry

    results: list[FeedbackEntry] = []
    current: str | None = None
    produced = 0
    try:
        with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if not _same_view(layout, infos):
                raise ZipRefusal("parser_mismatch")
            for entry, info in zip(layout.entries, infos):
                if entry.is_dir:
                    continue
                current = entry.name
                # pyzipper stops at the declared size and silently drops the rest; let it run to
                # our cap instead, and then require exactly the declared size.
                cap = min(limits.max_entry_size, limits.max_total_size - produced)
                unbounded = copy.copy(info)
                unbounded.file_size = cap + 1
                counted = _Counted(cap, limits.max_total_size - produced, entry.name, cancel)
                with archive.open(unbounded, pwd=pwd) as handle:
                    stored, refusal = read_entry(counted.chunks(handle), name=entry.name, source=source, limits=table_limits or DEFAULT_TABLE_LIMITS)
                if counted.size != entry.file_size:
                    raise WrongPinOrDamaged(entry.name)
                produced += counted.size
                results.append(FeedbackEntry(entry.name, counted.size, counted.digest.hexdigest(), stored, refusal))
    except (FeedbackError, Cancelled):
        raise
    except (RuntimeError, pyzipper.BadZipFile, zlib.error, EOFError, ValueError, struct.error, NotImplementedError, OverflowError, KeyError):
        # RuntimeError: the 2-byte password check failed; BadZipFile: HMAC or CRC failed (or a
        # wrong PIN that passed the 1-in-65536 check). Both are one message; no chained traceback.
        raise WrongPinOrDamaged(current) from None
    return tuple(results)
