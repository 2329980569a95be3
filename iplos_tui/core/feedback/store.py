"""Feedback zips on disk: the secure directory's feedback folder, exports, safe local names.

Decrypted entries are written only inside the profile's secure directory, each atomically under a
name we generate (never the zip's entry name as a path).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from iplos_tui.core.feedback.errors import FeedbackFileError
from iplos_tui.core.feedback.naming import FeedbackName, parse_feedback_name
from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir
from iplos_tui.core.text import safe_text

FEEDBACK_SUBDIR = "feedback"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutsideSecureDir(FeedbackFileError):
    """A target outside the secure directory: plaintext may not go there."""


def feedback_dir(secure_dir: Path) -> Path:
    return Path(secure_dir) / FEEDBACK_SUBDIR


def inside(path: Path, root: Path) -> Path:
    """``path`` resolved (symlinks followed); raise OutsideSecureDir unless it is within ``root``."""
    resolved_root = Path(root).expanduser().resolve()
    resolved = Path(path).expanduser().resolve()
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise OutsideSecureDir(path, f"outside the secure directory {resolved_root}")
    return resolved


def safe_local_name(name: str, taken: set[str] | None = None, *, fallback: str = "entry", suffix: str = "") -> str:
    """A plain local file name made from an untrusted name: last component, [A-Za-z0-9._-] only."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip("._-")[:100]
    if not base:
        base = fallback
    if suffix and not base.lower().endswith(suffix):
        base += suffix
    taken = taken if taken is not None else set()
    candidate, number = base, 2
    stem, dot, ext = base.rpartition(".")
    while candidate.casefold() in taken:
        candidate = f"{stem}-{number}.{ext}" if dot and stem else f"{base}-{number}"
        number += 1
    taken.add(candidate.casefold())
    return candidate


@dataclass(frozen=True)
class LocalZip:
    path: Path
    name: str
    size: int
    modified: dt.datetime
    info: FeedbackName | None

    @property
    def display_name(self) -> str:
        return safe_text(self.name, one_line=True)

    def matches(self, kommunenr: str | None, bydel: str | None) -> bool:
        if self.info is None:
            return False
        return (not kommunenr or self.info.kommunenr == kommunenr) and (not bydel or self.info.bydel == bydel)

    def to_json(self, kommunenr: str | None = None, bydel: str | None = None) -> dict:
        return {
            "name": self.display_name,
            "path": safe_text(str(self.path), one_line=True),
            "size": self.size,
            "modified": self.modified.isoformat(timespec="seconds"),
            "kommunenr": self.info.kommunenr if self.info else None,
            "bydel": self.info.bydel if self.info else None,
            "date": self.info.iso_date if self.info else None,
            "matches_profile": self.matches(kommunenr, bydel),
        }


def list_local(directory: Path) -> list[LocalZip]:
    """The ``*.zip`` regular files in ``directory`` (no symlinks), newest first."""
    found: list[LocalZip] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FeedbackFileError(directory, exc.strerror or str(exc)) from None
    for entry in entries:
        if not entry.name.lower().endswith(".zip"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        found.append(
            LocalZip(
                path=Path(entry.path),
                name=entry.name,
                size=st.st_size,
                modified=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc),
                info=parse_feedback_name(entry.name),
            )
        )
    found.sort(key=lambda z: (z.modified, z.name), reverse=True)
    return found


def export_entries(archive, target: Path, secure_dir: Path) -> list[Path]:
    """Write every decrypted entry of ``archive`` into ``target`` (inside ``secure_dir``).

    Names are generated from the entry names; each file is written atomically with mode 0600.
    If any write fails, the files written by this call are removed again.
    """
    root = Path(secure_dir).expanduser()
    if not root.is_dir():
        raise FeedbackFileError(root, "the secure directory does not exist")
    inside(target, root)
    ensure_private_dir(Path(target))
    target = inside(target, root)  # again, after creation: no symlink swapped in
    taken: set[str] = set()
    written: list[Path] = []
    try:
        for index, entry in enumerate(archive.entries, start=1):
            local = target / safe_local_name(entry.name, taken, fallback=f"entry-{index}")
            atomic_write_bytes(local, entry.data)
            written.append(local)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return written


def delete_local(path: Path, secure_dir: Path) -> None:
    """Delete a downloaded zip inside the secure directory (a regular file, not a symlink)."""
    path = Path(path)
    inside(path.parent, secure_dir)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise FeedbackFileError(path, "not a regular file")
    path.unlink()
