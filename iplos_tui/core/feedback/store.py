"""Feedback zips on disk: the secure directory's feedback folder, exports, the console's leftovers.

An export never overwrites (issue 11 item 1): it goes into a folder of its own that must not exist
yet, inside the secure directory but never the secure directory itself nor one of the console's
own files or folders; it is written into a hidden staging folder beside it and renamed into place
only when every entry is written, so a target is either absent or complete. WinZip AES does not
authenticate entry names, so only plain ``.csv`` names of the expected shape are written.

A killed run can leave the console's own temp files and staging folders behind (named
``TEMP_PREFIX...<pid>.<random>``); ``remove_own_leftovers()`` removes those whose process is gone,
and every command that writes or lists here calls it first (issue 11 item 12).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.feedback.errors import ExportRefused, FeedbackFileError
from iplos_tui.core.feedback.naming import FeedbackName, matches_profile, parse_feedback_name
from iplos_tui.core.fsutil import TEMP_PREFIX, atomic_writer, ensure_private_dir, fsync_dir, process_alive
from iplos_tui.core.text import safe_text

FEEDBACK_SUBDIR = "feedback"
# The console's own files and folders at the top of the secure directory: never an export target.
OWN_NAMES = frozenset({"journal.jsonl", "submit.lock", "outbox", "envelopes", "reports", FEEDBACK_SUBDIR})
EXPORT_ENTRY_NAME = re.compile(r"[A-Za-z0-9ÆØÅæøå][A-Za-z0-9ÆØÅæøå _.-]{0,95}\.[cC][sS][vV]")
_LEFTOVER = re.compile(rf"{re.escape(TEMP_PREFIX)}.*\.(?P<pid>[0-9]{{1,10}})\.[0-9a-f]{{8}}")
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


# ---- leftovers of killed runs ---------------------------------------------------------------


def remove_own_leftovers(directory: Path) -> list[Path]:
    """Remove the console's temp files and staging folders in ``directory`` whose process is gone."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.fullmatch(entry.name)
        if match is None or process_alive(int(match["pid"])):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    if removed:
        with contextlib.suppress(OSError):
            fsync_dir(Path(directory))
    return removed


# ---- the feedback folder --------------------------------------------------------------------


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
        return matches_profile(self.info, kommunenr, bydel)

    def to_json(self, kommunenr: str | None = None, bydel: str | None = None) -> dict[str, Any]:
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
    """The ``*.zip`` regular files in ``directory`` (no symlinks), newest first; the console's
    own leftovers of killed runs are removed first."""
    remove_own_leftovers(directory)
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


# ---- exports --------------------------------------------------------------------------------


def export_stem(zip_name: str) -> str:
    stem = zip_name.rsplit("/", 1)[-1]
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    return safe_local_name(stem, fallback="tilbakemelding")


def exports_of(zip_name: str, secure_dir: Path) -> list[Path]:
    """The export folders made for this zip by default (``feedback/<name>``, ``<name>-2`` ...)."""
    folder = feedback_dir(Path(secure_dir).expanduser())
    stem = export_stem(zip_name)
    pattern = re.compile(rf"{re.escape(stem)}(-[0-9]{{1,4}})?")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(Path(e.path) for e in entries if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False))


def default_export_dir(zip_name: str, secure_dir: Path) -> Path:
    """``feedback/<zip name without .zip>``, or the first ``-2``, ``-3`` ... that is still free."""
    folder = feedback_dir(Path(secure_dir).expanduser())
    stem = export_stem(zip_name)
    candidate, number = folder / stem, 2
    while os.path.lexists(candidate):
        candidate, number = folder / f"{stem}-{number}", number + 1
    return candidate


def check_export_names(names: Iterable[str]) -> None:
    """Every entry name must be a plain ``.csv`` file name of the expected shape (no path part,
    no leading dot, at most 100 characters): WinZip AES does not authenticate names."""
    for name in names:
        if not EXPORT_ENTRY_NAME.fullmatch(name) or ".." in name:
            raise ExportRefused("bad_entry_name", entry=name)


def check_export_target(target: Path, secure_dir: Path) -> Path:
    """The resolved target, or ExportRefused / OutsideSecureDir: a new folder inside the secure
    directory, not the directory itself, not one of the console's own files or folders."""
    root = Path(secure_dir).expanduser()
    if not root.is_dir():
        raise FeedbackFileError(root, "the secure directory does not exist")
    resolved = inside(target, root)
    resolved_root = root.resolve()
    if resolved == resolved_root:
        raise ExportRefused("secure_dir", path=str(target))
    parts = resolved.relative_to(resolved_root).parts
    if parts[0] in OWN_NAMES and (len(parts) == 1 or parts[0] != FEEDBACK_SUBDIR):
        raise ExportRefused("own_file", path=str(target))
    if os.path.lexists(resolved):
        raise ExportRefused("exists", path=str(target))
    return resolved


def export_entries(archive: Any, target: Path, secure_dir: Path) -> list[Path]:
    """Write every decrypted entry of ``archive`` into the new folder ``target``, all or nothing.

    The entries go into a hidden staging folder beside ``target`` (each file atomically, 0600),
    which is renamed to ``target`` at the end; on any failure the staging folder is removed.
    """
    names = [entry.name for entry in archive.entries]
    check_export_names(names)
    resolved = check_export_target(target, secure_dir)
    parent = ensure_private_dir(resolved.parent)
    inside(parent, secure_dir)  # again, after creating it: no symlink swapped in
    remove_own_leftovers(parent)
    staging = parent / f"{TEMP_PREFIX}export.{os.getpid()}.{os.urandom(4).hex()}"
    os.mkdir(staging, 0o700)
    try:
        for entry in archive.entries:
            with atomic_writer(staging / entry.name) as handle:
                for block in entry.iter_bytes():
                    handle.write(block)
        fsync_dir(staging)
        if os.path.lexists(resolved):
            raise ExportRefused("exists", path=str(target))
        os.rename(staging, resolved)  # never onto a file or a folder with anything in it
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [resolved / name for name in names]


def delete_local(path: Path, secure_dir: Path, *, exports: Iterable[Path] = ()) -> None:
    """Delete a downloaded zip inside the secure directory (a regular file, not a symlink), and
    the export folders given (each one inside the secure directory's feedback folder)."""
    path = Path(path)
    inside(path.parent, secure_dir)
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise FeedbackFileError(path, "not a regular file")
    folder = feedback_dir(Path(secure_dir).expanduser()).resolve()
    for export in exports:
        resolved = inside(export, secure_dir)
        if resolved.parent != folder or os.path.islink(export):
            raise FeedbackFileError(export, "not an export folder of this zip")
        shutil.rmtree(resolved)
    path.unlink()
