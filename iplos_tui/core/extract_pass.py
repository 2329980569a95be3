"""One read of the extract: every byte comes through one open file descriptor, once (I11).

``read_extract`` opens the extract (``open_extract``: path checks, no late-swapped symlink, the
importer sniffed), hashes every chunk as the parser reads it and hands each record, in order, to
one callback: the submission validates and encrypts there, in the same pass (issue 15). The
file's identity (device, inode, size, mtime, ctime) is taken from the descriptor at the start and
checked after every chunk and at the end, against the descriptor and against what the path names
then; a file changed in place or renamed over while it was read is refused (``extract_changed``),
so the file that was validated is exactly the file that was hashed and encrypted.

What this pass costs per record is a plain function call into the callback; a later process pool
(split at person boundaries) can run parse -> validate -> rewrite -> encrypt per content part and
keep this module's identity and hash checks around it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.envelope_format import EnvelopeError


@dataclass(frozen=True)
class FileIdentity:
    """What names one version of one file: a different value means a different file or content."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def same_inode(self, st: os.stat_result) -> bool:
        return (self.device, self.inode) == (st.st_dev, st.st_ino)

    def to_dict(self) -> dict[str, int]:
        return {"device": self.device, "inode": self.inode, "size": self.size, "mtime_ns": self.mtime_ns, "ctime_ns": self.ctime_ns}

    @classmethod
    def from_dict(cls, data: Any) -> FileIdentity | None:
        try:
            return cls(*(int(data[key]) for key in ("device", "inode", "size", "mtime_ns", "ctime_ns")))
        except (KeyError, TypeError, ValueError):
            return None


def identity_of(path: Path | str) -> FileIdentity | None:
    """The identity of what ``path`` names now (following a symlink), or None."""
    try:
        return FileIdentity.of(os.stat(path))
    except OSError:
        return None


@dataclass(frozen=True)
class PassResult:
    path: str  # the file that was read (symlinks resolved)
    identity: FileIdentity
    sha256: str  # of every byte of the file
    records: int


class _Tap:
    """Sees every chunk the parser reads: hashes it, counts it, and checks the descriptor."""

    def __init__(self, fd: int, before: FileIdentity, path: Path | str) -> None:
        self.fd = fd
        self.before = before
        self.path = path
        self.shown = str(path)
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def __call__(self, data: bytes) -> None:
        self.sha256.update(data)
        self.bytes_read += len(data)
        if FileIdentity.of(os.fstat(self.fd)) != self.before or not self.names_it_still():
            raise EnvelopeError("extract_changed", path=self.shown)

    def names_it_still(self) -> bool:
        """The path still names the file we read (not another one renamed over it)."""
        try:
            return self.before.same_inode(os.stat(self.path))
        except OSError:
            return False


def read_extract(
    path: Path | str,
    on_record: Callable[[Any], None],
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_bytes: int | None = None,
    allowed_dir: Path | str | None = None,
) -> PassResult:
    """Read ``path`` once, calling ``on_record`` for every ``Header`` and ``Person`` in order.

    Raises ``ExtractError`` (the file cannot be read as an extract), ``Cancelled`` (between two
    chunks) and ``EnvelopeError("extract_changed")``; anything ``on_record`` raises ends the
    pass. ``progress(bytes_read, size)`` is called between records, never before the records of
    the bytes it counts were handed on."""
    from iplos_tui.core.extract import importer

    kwargs: dict[str, Any] = {}
    if max_bytes is not None:
        kwargs["max_bytes"] = max_bytes
    if allowed_dir is not None:
        kwargs["allowed_dir"] = allowed_dir
    shown = str(path)
    with importer.open_extract(path, **kwargs) as opened:
        fd = opened.fileno()
        before = FileIdentity.of(os.fstat(fd))
        tap = _Tap(fd, before, path)
        count = 0
        reported = 0
        for record in opened.records(cancel=cancel, tap=tap):
            on_record(record)
            count += 1
            if progress is not None and tap.bytes_read != reported:
                reported = tap.bytes_read
                progress(reported, before.size)
        if tap.bytes_read != before.size or FileIdentity.of(os.fstat(fd)) != before or not tap.names_it_still():
            raise EnvelopeError("extract_changed", path=shown)
        return PassResult(opened.path, before, tap.sha256.hexdigest(), count)
