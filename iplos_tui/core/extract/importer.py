"""How an extract file is opened: path checks, then the importer that recognises its format.

The importer interface is small so that another format (a real IPLOS XML, say) can be added
beside ours: ``sniff(head)`` recognises the first bytes, ``iter_records(stream)`` yields one
``Header`` and then the ``Person`` records, and raises ``ExtractError`` for a file that cannot be
read as an extract (``ExtractError`` lives in ``base``; it is re-exported here). A set cancel
event raises the one ``core.errors.Cancelled``. Records stream: memory stays constant whatever
the file size.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol, runtime_checkable

from iplos_tui.core.errors import Cancelled
from iplos_tui.core.extract.base import CHUNK_SIZE, ExtractError
from iplos_tui.core.extract.model import Header, Person
from iplos_tui.core.extract.uttrekk_v1 import UttrekkV1Importer
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_BYTES",
    "SNIFF_BYTES",
    "Cancelled",
    "ExtractError",
    "Importer",
    "OpenedExtract",
    "Progress",
    "check_extract_path",
    "importers",
    "open_extract",
    "register_importer",
]

#: Bytes given to ``sniff``.
SNIFF_BYTES = 4096
#: Largest extract we read (a municipality's year is far below: ~500 bytes per person).
DEFAULT_MAX_BYTES = 2 * 1024**3

Progress = Callable[[int, int], None]


@runtime_checkable
class Importer(Protocol):
    name: str

    def sniff(self, head: bytes) -> bool: ...

    def iter_records(self, stream: BinaryIO) -> Iterator[Header | Person]: ...


_IMPORTERS: list[Importer] = []
_lock = threading.Lock()


def register_importer(importer: Importer) -> None:
    with _lock:
        if all(existing.name != importer.name for existing in _IMPORTERS):
            _IMPORTERS.append(importer)


def importers() -> list[Importer]:
    if not _IMPORTERS:
        register_importer(UttrekkV1Importer())
    return list(_IMPORTERS)


def _error(key: str, rule: str, **values: object) -> ExtractError:
    return ExtractError(t(f"extract.{key}", **values), rule=rule)


def _within(path: str, directory: str) -> bool:
    return os.path.commonpath([path, directory]) == directory


def check_extract_path(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES, allowed_dir: str | os.PathLike[str] | None = None
) -> tuple[str, os.stat_result]:
    """Check ``path`` before anything is read (I08, I10): it must be a regular file (a symlink
    is followed only to a regular file, and inside ``allowed_dir`` when one is given), not empty,
    and at most ``max_bytes``. Returns the resolved path and its stat."""
    shown = safe_text(os.fspath(path), one_line=True, limit=200)
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        raise _error("path_missing", "file.path", path=shown) from None
    except OSError as exc:
        raise _error("path_unreadable", "file.path", path=shown, detail=safe_text(exc.strerror or str(exc))) from None
    real = os.path.realpath(path)
    if allowed_dir is not None:
        allowed = os.path.realpath(allowed_dir)
        if not _within(real, allowed):
            key = "path_symlink_escape" if stat.S_ISLNK(lst.st_mode) else "path_outside"
            raise _error(key, "file.path", path=shown, directory=safe_text(allowed, one_line=True))
    try:
        st = os.stat(real) if stat.S_ISLNK(lst.st_mode) else lst
    except OSError:
        raise _error("path_dangling", "file.path", path=shown) from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise _error("path_directory", "file.path", path=shown)
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise _error("path_fifo", "file.path", path=shown)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise _error("path_device", "file.path", path=shown)
    if not stat.S_ISREG(mode):
        raise _error("path_not_regular", "file.path", path=shown)
    if st.st_size == 0:
        raise _error("empty", "file.empty", path=shown)
    if st.st_size > max_bytes:
        raise _error("too_large", "file.too_large", size=st.st_size, limit=max_bytes)
    return real, st


class _MeteredReader:
    """A read-only stream over a file descriptor that reports progress, honours a cancel event
    and stops at the size cap (a file that grows while we read it)."""

    def __init__(
        self,
        fd: int,
        total: int,
        max_bytes: int,
        progress: Progress | None,
        cancel: threading.Event | None,
        tap: Callable[[bytes], None] | None = None,
    ):
        self._fd = fd
        self.total = total
        self.bytes_read = 0
        self._max = max_bytes
        self._progress = progress
        self._cancel = cancel
        self._tap = tap

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()
        if size is None or size < 0:
            size = CHUNK_SIZE
        data = os.read(self._fd, size)
        self.bytes_read += len(data)
        if self.bytes_read > self._max:
            raise _error("too_large", "file.too_large", size=self.bytes_read, limit=self._max)
        if self._tap is not None:
            self._tap(data)
        if self._progress is not None:
            self._progress(self.bytes_read, max(self.total, self.bytes_read))
        return data

    def readable(self) -> bool:
        return True


@dataclass
class OpenedExtract:
    """An extract file opened for one streaming pass; use as a context manager."""

    path: str
    size: int
    importer: Importer
    _fd: int = field(repr=False)
    _max_bytes: int = field(repr=False)
    _reader: _MeteredReader | None = field(default=None, repr=False)

    def records(
        self,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        tap: Callable[[bytes], None] | None = None,
    ) -> Iterator[Header | Person]:
        """The records from the start of the file; ``tap`` sees every chunk of bytes as it is
        read (``validate_file(sha256=True)`` hashes the bytes it validates in this same read)."""
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._reader = reader = _MeteredReader(self._fd, self.size, self._max_bytes, progress, cancel, tap)
        return self.importer.iter_records(reader)  # type: ignore[arg-type]

    def read_rest(self) -> None:
        """Read what the last ``records()`` pass left unread (it stopped at an unreadable spot),
        so that its digest covers the whole file."""
        reader = self._reader
        if reader is not None:
            while reader.read(CHUNK_SIZE):
                pass

    def fileno(self) -> int:
        """The one open descriptor every read goes through (its identity is checked by fstat)."""
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OpenedExtract:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_extract(
    path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES, allowed_dir: str | os.PathLike[str] | None = None
) -> OpenedExtract:
    """Check ``path``, open it without following a late-swapped symlink or blocking on a FIFO,
    and pick the importer that recognises its first bytes."""
    real, st = check_extract_path(path, max_bytes=max_bytes, allowed_dir=allowed_dir)
    shown = safe_text(os.fspath(path), one_line=True, limit=200)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _error("path_changed", "file.path", path=shown) from None
        raise _error("path_unreadable", "file.path", path=shown, detail=safe_text(exc.strerror or str(exc))) from None
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            raise _error("path_changed", "file.path", path=shown)
        head = os.pread(fd, SNIFF_BYTES, 0)
        for importer in importers():
            if importer.sniff(head):
                return OpenedExtract(real, fst.st_size, importer, fd, max_bytes)
        if not head.strip():
            raise _error("empty", "file.empty", path=shown)
        raise _error("unknown_format", "file.format", path=shown)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
