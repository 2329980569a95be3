"""What the board knows without asking anyone: the last preflight of a profile and what its
gateway showed when last asked, kept in the profile's own secure directory (``fleet/``, 0700,
files 0600, written atomically). No personal data, no secret: counts, check ids and times.

The last preflight is the newest of: the record a preflight run leaves (``record_preflight``), and
the newest saved report (``<secure_dir>/reports/preflight-<kommunenr>-YYYYmmdd-HHMMSS.txt``, e.g.
from the daily systemd timer of docs/preflight.md), whose check lines are read back by their marks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import atomic_write_bytes, check_private_file, ensure_private_dir

FLEET_DIR = "fleet"
PREFLIGHT_FILE = "preflight.json"
GATEWAY_FILE = "gateway.json"
REPORTS_DIR = "reports"
MAX_RECORD_BYTES = 64 * 1024
MAX_REPORT_BYTES = 1024 * 1024
STATUSES = ("pass", "warn", "fail", "skip", "manual")
_REPORT_NAME = re.compile(r"preflight-[^/]*-(\d{8}-\d{6})(?:-\d+)?\.txt")


@dataclass(frozen=True)
class PreflightSeen:
    at: dt.datetime
    counts: dict[str, int]
    failed: tuple[str, ...]  # ids of the checks that failed
    warned: tuple[str, ...]  # ids of the checks that warned, or manual ones not ticked
    source: str  # "run" | "report"

    @property
    def status(self) -> str:
        """The worst: "fail", "warn", "pass", or "none" when nothing was tested."""
        if self.counts.get("fail"):
            return "fail"
        if self.counts.get("warn") or self.counts.get("manual"):
            return "warn"
        return "pass" if self.counts.get("pass") else "none"


@dataclass(frozen=True)
class GatewaySeen:
    at: dt.datetime
    new_files: int  # feedback files for this profile the gateway marked new
    error: str = ""  # the fetch could not ask (the board says so)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A small JSON object of ours, or None (missing, unsafe, torn, foreign)."""
    try:
        st = check_private_file(path)
        if st.st_size > MAX_RECORD_BYTES:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(MAX_RECORD_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(secure_dir: Path, name: str, data: dict[str, Any]) -> Path:
    directory = ensure_private_dir(Path(secure_dir).expanduser() / FLEET_DIR)
    path = directory / name
    atomic_write_bytes(path, (json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"), mode=0o600)
    return path


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.astimezone()


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value[:64] if isinstance(item, str) and re.fullmatch(r"[a-z_]{1,40}", item))


def record_preflight(secure_dir: Path, results: Iterable[Any], at: dt.datetime) -> Path:
    """Keep what a preflight run found (its results: objects with ``id`` and ``status``)."""
    results = list(results)
    counts = {status: sum(1 for r in results if r.status == status) for status in STATUSES}
    return _write_json(secure_dir, PREFLIGHT_FILE, {
        "at": at.isoformat(timespec="seconds"),
        "counts": counts,
        "failed": [r.id for r in results if r.status == "fail"],
        "warned": [r.id for r in results if r.status in ("warn", "manual")],
    })


def remember_preflight(secure_dir: Path, results: Iterable[Any], at: dt.datetime) -> bool:
    """``record_preflight`` for a whole run of the checklist (the CLI, the Preflight pane, the
    fleet's round), best effort: a secure directory that is missing (the checklist says so) is
    not created here, and a record that cannot be written never fails the run."""
    from iplos_tui.core.errors import IplosError

    if not Path(secure_dir).expanduser().is_dir():
        return False
    try:
        record_preflight(secure_dir, results, at)
    except (OSError, IplosError):
        return False
    return True


def _recorded_preflight(secure_dir: Path) -> PreflightSeen | None:
    data = _read_json(Path(secure_dir) / FLEET_DIR / PREFLIGHT_FILE)
    if data is None:
        return None
    at = _when(data.get("at"))
    raw = data.get("counts")
    if at is None or not isinstance(raw, dict):
        return None
    counts = {status: raw[status] for status in STATUSES if isinstance(raw.get(status), int) and not isinstance(raw.get(status), bool) and raw[status] >= 0}
    return PreflightSeen(at, counts, _ids(data.get("failed")), _ids(data.get("warned")), "run")


def _marks() -> dict[str, str]:
    """Each status's report mark, in every language ("[OK]" -> "pass", "[FEIL]" -> "fail")."""
    from iplos_tui.core.i18n import catalog

    marks = {}
    for status in STATUSES:
        for text in catalog().get(f"preflight.mark.{status}", {}).values():
            marks[text] = status
    return marks


def _reported_preflight(secure_dir: Path, tz: dt.tzinfo | None) -> PreflightSeen | None:
    directory = Path(secure_dir) / REPORTS_DIR
    newest: tuple[str, Path] | None = None
    with contextlib.suppress(OSError):
        for item in os.scandir(directory):
            match = _REPORT_NAME.fullmatch(item.name)
            if match is not None and (newest is None or (match.group(1), item.name) > (newest[0], newest[1].name)):
                newest = (match.group(1), Path(item.path))
    if newest is None:
        return None
    try:
        check_private_file(newest[1])
        fd = os.open(newest[1], os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            text = handle.read(MAX_REPORT_BYTES).decode("utf-8", "replace")
        # the name holds the local time of the machine that wrote it: this one
        named = dt.datetime.strptime(newest[0], "%Y%m%d-%H%M%S")
        at = named.replace(tzinfo=tz) if tz is not None else named.astimezone()
    except (OSError, ValueError):
        return None
    marks = _marks()
    counts = dict.fromkeys(STATUSES, 0)
    failed: list[str] = []
    warned: list[str] = []
    line_shape = re.compile(r"(\[[^\]\s]{1,8}\])\s+([a-z_]{1,40}) — ")
    for line in text.splitlines():
        match = line_shape.match(line)
        status = marks.get(match.group(1)) if match else None
        if match is None or status is None:
            continue
        counts[status] += 1
        if status == "fail":
            failed.append(match.group(2))
        elif status in ("warn", "manual"):
            warned.append(match.group(2))
    if not any(counts.values()):
        return None
    return PreflightSeen(at, counts, tuple(failed), tuple(warned), "report")


def last_preflight(secure_dir: Path, tz: dt.tzinfo | None = None) -> PreflightSeen | None:
    """The newest of the recorded run and the newest saved report (its name read in ``tz``, by
    default the machine's), or None."""
    found = [seen for seen in (_recorded_preflight(secure_dir), _reported_preflight(secure_dir, tz)) if seen is not None]
    return max(found, key=lambda seen: seen.at) if found else None


def record_gateway(secure_dir: Path, new_files: int, at: dt.datetime, error: str = "") -> Path:
    return _write_json(secure_dir, GATEWAY_FILE, {"at": at.isoformat(timespec="seconds"), "new_files": int(new_files), "error": error[:300]})


def last_gateway(secure_dir: Path) -> GatewaySeen | None:
    data = _read_json(Path(secure_dir) / FLEET_DIR / GATEWAY_FILE)
    if data is None:
        return None
    at = _when(data.get("at"))
    new_files = data.get("new_files")
    if at is None or not isinstance(new_files, int) or isinstance(new_files, bool) or new_files < 0:
        return None
    error = data.get("error")
    return GatewaySeen(at, new_files, error if isinstance(error, str) else "")
