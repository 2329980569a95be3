"""Which extract belongs to which municipality: a folder where the care systems drop their
extracts, each matched to a profile by its header's kommunenr and bydel (only the header is read).

Never a guess: a file whose header names no profile, two files for one municipality, a file that
is not an extract, a symlink or anything but a regular file is listed with the reason and matched
to nobody. ``iplos fleet submit --folder`` and the Board pane use it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from iplos_tui.core.fleet.errors import FleetUsageError
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import ProfileEntry, profile_id
from iplos_tui.core.text import safe_text

MAX_FILES = 1000  # a drop folder with more is refused, not half read
SUFFIXES = (".xml",)


@dataclass(frozen=True)
class Unmatched:
    path: Path
    reason: str  # in the UI language, sanitised


@dataclass
class ExtractMatch:
    matched: dict[str, Path] = field(default_factory=dict)  # profile id -> the extract
    unmatched: list[Unmatched] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # profile ids with no extract in the folder


def read_header_id(path: Path) -> str:
    """"0403" / "0301-05" from the extract's header (the first record only); ExtractError when
    the file is not a readable extract."""
    from iplos_tui.core.extract.importer import open_extract
    from iplos_tui.core.extract.model import Header

    with open_extract(path) as opened:
        for record in opened.records():
            if isinstance(record, Header) and record.kommunenr:
                return profile_id(record.kommunenr, record.bydel or "00")
            break
    raise FleetUsageError(t("fleet.extract_no_header", path=safe_text(str(path), one_line=True)))


def match_folder(folder: Path, entries: list[ProfileEntry]) -> ExtractMatch:
    """Match every extract in ``folder`` (not its subfolders) to a usable profile."""
    from iplos_tui.core.errors import explain

    folder = Path(folder)
    try:
        listing = sorted(os.scandir(folder), key=lambda item: item.name)
    except OSError as exc:
        raise FleetUsageError(t("fleet.extract_folder_unreadable", path=safe_text(str(folder), one_line=True), detail=safe_text(exc.strerror or str(exc), one_line=True))) from None
    candidates = [item for item in listing if item.name.lower().endswith(SUFFIXES) and not item.name.startswith(".")]
    if len(candidates) > MAX_FILES:
        raise FleetUsageError(t("fleet.extract_folder_too_many", path=safe_text(str(folder), one_line=True), limit=MAX_FILES))
    wanted = {entry.id for entry in entries if entry.usable}
    found: dict[str, list[Path]] = {}
    match = ExtractMatch()
    for item in candidates:
        path = Path(item.path)
        mode = os.lstat(path).st_mode
        if not stat.S_ISREG(mode):
            match.unmatched.append(Unmatched(path, t("fleet.extract_not_regular")))
            continue
        try:
            key = read_header_id(path)
        except Exception as exc:  # noqa: BLE001 - not an extract: said, and matched to nobody
            match.unmatched.append(Unmatched(path, explain(exc).message))
            continue
        if key not in wanted:
            match.unmatched.append(Unmatched(path, t("fleet.extract_no_profile", id=safe_text(key, one_line=True, limit=20))))
            continue
        found.setdefault(key, []).append(path)
    for key, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(path.name for path in paths)
            match.unmatched += [Unmatched(path, t("fleet.extract_twice", id=key, names=names)) for path in paths]
        else:
            match.matched[key] = paths[0]
    match.missing = sorted(wanted - set(match.matched))
    return match
