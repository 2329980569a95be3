"""Files written the safe way: private directories, temp -> fsync -> rename -> fsync(dir)."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

TEMP_PREFIX = ".iplos-tmp-"


class UnsafePathError(IplosError):
    """A file or directory whose ownership, type or permissions we refuse to trust.

    A setup problem the operator fixes (config/usage exit code); ``path`` names the culprit.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing; the leaf ends up 0700 and must be ours."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = check_private_dir(path)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def check_private_dir(path: Path) -> os.stat_result:
    """Refuse a directory that is a symlink, not a directory, or not ours (read-only: nothing is
    created or changed; a missing one raises ``FileNotFoundError``)."""
    path = Path(path)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(t("fsutil.dir_symlink", path=path, real=os.path.realpath(path)), path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(t("fsutil.not_a_directory", path=path), path)
    if st.st_uid != os.geteuid():
        raise UnsafePathError(t("fsutil.not_yours", path=path, uid=st.st_uid, me=os.geteuid()), path)
    return st


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Write ``path`` through a temp file in the same directory; rename only on success.

    On any exception the temp file is removed and ``path`` is untouched.
    """
    path = Path(path)
    temp = path.parent / f"{TEMP_PREFIX}{path.name}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    with atomic_writer(path, mode) as handle:
        handle.write(data)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (ours, or another user's): its temp files are not leftovers."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete our own temp files (our prefix, our directory) left by a killed run."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in Path(directory).iterdir():
            if entry.name.startswith(TEMP_PREFIX) and entry.is_file() and not entry.is_symlink():
                entry.unlink()
                removed.append(entry)
    return removed


def check_private_file(path: Path) -> os.stat_result:
    """Refuse a file that is a symlink, not regular, not ours, or readable by others."""
    path = Path(path)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(t("fsutil.symlink", path=path), path)
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePathError(t("fsutil.not_regular", path=path), path)
    if st.st_uid != os.geteuid():
        raise UnsafePathError(t("fsutil.not_yours", path=path, uid=st.st_uid, me=os.geteuid()), path)
    if st.st_mode & 0o077:
        raise UnsafePathError(t("fsutil.readable_by_others", path=path, mode=f"{stat.S_IMODE(st.st_mode):04o}"), path)
    return st


@dataclass(frozen=True)
class Placement:
    """Where an extract really is, and why that place is unsafe (empty when it is fine)."""

    path: Path  # the real path, symlinks resolved: every later step opens this one
    warnings: tuple[str, ...]


def check_extract_placement(path: Path | str, secure_dir: Path | str | None) -> Placement:
    """The one rule for where a plaintext extract may lie (DESIGN.md §4), used by `iplos
    validate`, the submission (CLI and TUI) alike: a symlink is resolved (its real path is what is
    read, validated and sent), and the operator is warned, with the fix, when the real file is
    outside the secure directory or others can read it. Whether the file is usable at all is the
    importer's check (``check_extract_path``); this one never refuses."""
    given = Path(path)
    real = Path(os.path.realpath(given))
    try:
        st = os.stat(real)
    except OSError:
        return Placement(given, ())  # missing or unreadable: the importer says why
    warnings = []
    if os.path.islink(given):
        warnings.append(t("fsutil.extract_symlink", path=given, real=real))
    if secure_dir is not None:
        secure = os.path.realpath(secure_dir)
        if os.path.commonpath([str(real), secure]) != secure:
            warnings.append(t("fsutil.extract_outside", path=real, secure=secure))
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        warnings.append(t("fsutil.extract_readable", path=real, mode=f"{stat.S_IMODE(st.st_mode):04o}"))
    return Placement(real, tuple(warnings))
