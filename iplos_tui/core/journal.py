"""The submission journal: append-only JSON lines, fsynced per record, in the secure directory.

Every submission (one idempotency key) moves through::

    prepared -> encrypted -> sending -> confirmed | failed-safe | ambiguous

``sending`` is written and fsynced *before* the first byte of a request leaves, so a crash at any
point is found on the next start: ``recover()`` turns a ``sending`` without an outcome into
``ambiguous``, which a look-up at the receiver then resolves. Records hold hashes, sizes, paths,
the period and the receipt; never the PIN and never an fnr (free-text fields are scrubbed of
11-digit runs). Records are ordered by their sequence number, not by their timestamps.

``RunLock`` (``fcntl.flock`` on a lock file beside the journal) keeps to one run at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core import format as fmt
from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.fsutil import check_private_dir, check_private_file, ensure_private_dir, fsync_dir
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "submit.lock"
OUTBOX_DIR = "outbox"
MAX_RECORD_BYTES = 256 * 1024
MAX_JOURNAL_BYTES = 64 * 1024 * 1024

PREPARED = "prepared"
ENCRYPTED = "encrypted"
SENDING = "sending"
CONFIRMED = "confirmed"
FAILED_SAFE = "failed-safe"
AMBIGUOUS = "ambiguous"
STATES = (PREPARED, ENCRYPTED, SENDING, CONFIRMED, FAILED_SAFE, AMBIGUOUS)
# Records that note something without changing the state.
NOTE = "note"
# Operator actions that are not submissions (revealing fnr in feedback): id "event:<kind>".
EVENT_PREFIX = "event:"

_FREE_TEXT = ("reason", "detail", "extract_path", "note")


class JournalError(IplosError):
    """The journal cannot be read or written (disk full, too large, permissions, an unsafe secure
    directory): nothing is sent, and the message names the file and what to do."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self._message = message
        self._hint = hint

    def message(self) -> str:
        return self._message

    def hint(self) -> str | None:
        return self._hint or None


class RunLockBusy(IplosError):
    """Another run holds the lock of this secure directory."""

    exit_code = ExitCode.NETWORK

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid

    def __str__(self) -> str:
        return t("submit.lock_busy", pid=self.pid or "?")


def scrub(text: str) -> str:
    """Free text for the journal: visible control characters, no person id (core.person_id)."""
    from iplos_tui.core.person_id import mask

    return mask(safe_text(text, limit=1000))


def _now_iso() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass
class Submission:
    id: str
    state: str = PREPARED
    created: str = ""
    updated: str = ""
    extract_path: str = ""
    extract_size: int = 0
    extract_mtime: float = 0.0
    extract_sha256: str = ""
    year: int = 0
    kommunenr: str = ""
    bydel: str = ""
    persons: int = 0
    envelope_dir: str = ""
    manifest_sha256: str = ""
    parts: list[dict[str, Any]] = field(default_factory=list)
    certificates: dict[str, str] = field(default_factory=dict)
    receipt: dict[str, Any] | None = None
    reason: str = ""
    reason_code: str = ""
    superseded: bool = False
    content_sha256: str = ""  # what the extract says, not how the file looks (EnvelopeWriter)
    extract_identity: dict[str, int] = field(default_factory=dict)  # device, inode, size, mtime_ns, ctime_ns
    levels: dict[str, int] = field(default_factory=dict)  # findings per level (fatal, error, warning, info)
    accepted_levels: dict[str, int] = field(default_factory=dict)  # what the operator accepted to send
    override_of: str = ""  # the earlier receipt the operator named to send this period again
    attempts: int = 0
    history: list[tuple[int, str, str]] = field(default_factory=list)  # (seq, at, state)

    @property
    def open(self) -> bool:
        """Not finished: something is left to do or to find out."""
        return self.state != CONFIRMED and not self.superseded

    def waiting_for(self, now: dt.datetime | None = None) -> str:
        """What this submission waits for, for a person; ``now`` (the console's clock, the
        sandbox's own) tells a receipt mail still to come from one that is due."""
        if self.superseded:
            return t("submit.wait_superseded")
        if self.state == CONFIRMED:
            expected = (self.receipt or {}).get("receipt_mail_expected_at", "")
            if not expected:
                return t("submit.wait_nothing")
            key = "submit.wait_receipt_mail_due" if now is not None and _passed(expected, now) else "submit.wait_receipt_mail"
            return t(key, at=short_time(expected))
        if self.state in (PREPARED, ENCRYPTED):
            return t("submit.wait_not_sent")
        if self.state == SENDING:
            return t("submit.wait_sending")
        if self.state == AMBIGUOUS:
            return t("submit.wait_lookup")
        return t("submit.wait_resend")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "created": self.created,
            "updated": self.updated,
            "extract": {"path": self.extract_path, "size": self.extract_size, "sha256": self.extract_sha256},
            "period": self.year,
            "kommunenr": self.kommunenr,
            "bydel": self.bydel,
            "persons": self.persons,
            "envelope_dir": self.envelope_dir,
            "manifest_sha256": self.manifest_sha256,
            "parts": list(self.parts),
            "certificates": dict(self.certificates),
            "receipt": self.receipt,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "superseded": self.superseded,
            "content_sha256": self.content_sha256,
            "levels": dict(self.levels),
            "accepted_levels": dict(self.accepted_levels),
            "override_of": self.override_of,
            "waiting_for": self.waiting_for(),
        }


def _passed(value: str, now: dt.datetime) -> bool:
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and now.tzinfo is not None and now >= when


def short_time(value: str) -> str:
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return safe_text(value, one_line=True, limit=40)
    return fmt.moment(when, tz=when.tzinfo)  # the wall time the record was written in


_SUBMISSION_FIELDS = {f for f in Submission.__dataclass_fields__ if f not in ("id", "history", "state")}


class Journal:
    """The journal of one secure directory."""

    def __init__(self, secure_dir: Path | str, *, clock: Callable[[], str] | None = None) -> None:
        self.secure_dir = Path(secure_dir)
        self.path = self.secure_dir / JOURNAL_FILE
        self._clock = clock or _now_iso
        self._seq: int | None = None

    @property
    def outbox(self) -> Path:
        return self.secure_dir / OUTBOX_DIR

    # --- reading -----------------------------------------------------------------------------

    def check_secure_dir(self) -> None:
        """Refuse a secure directory that is a symlink, not a directory or not ours
        (``UnsafePathError``, an ``IplosError``); a missing one is fine for reading."""
        with contextlib.suppress(FileNotFoundError):
            check_private_dir(self.secure_dir)

    def ensure_secure_dir(self) -> None:
        """Create the secure directory (0700) if missing; refuse an unsafe one."""
        try:
            ensure_private_dir(self.secure_dir)
        except OSError as exc:  # cannot be created (permissions, a read-only file system)
            detail = safe_text(exc.strerror or str(exc), one_line=True, limit=200)
            raise JournalError(t("submit.journal_unsafe", path=safe_text(str(self.secure_dir), one_line=True), detail=detail), t("submit.journal_hint")) from None

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable record in order; a torn or foreign line is skipped. A journal over
        ``MAX_JOURNAL_BYTES`` is refused (fail closed), never read in part."""
        self.check_secure_dir()
        try:
            st = check_private_file(self.path)  # a symlink, not ours, readable by others: refused
        except FileNotFoundError:
            return
        if st.st_size > MAX_JOURNAL_BYTES:
            raise self._too_large()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            detail = safe_text(exc.strerror or str(exc), one_line=True, limit=200)
            raise JournalError(t("submit.journal_unsafe", path=safe_text(str(self.path), one_line=True), detail=detail), t("submit.journal_hint")) from None
        with os.fdopen(fd, "rb") as handle:
            total = 0
            for line in handle:
                total += len(line)
                if total > MAX_JOURNAL_BYTES:  # it grew while we read it
                    raise self._too_large()
                if not line.endswith(b"\n") or len(line) > MAX_RECORD_BYTES:
                    continue
                try:
                    record = json.loads(line)
                except (UnicodeDecodeError, ValueError):
                    continue
                if isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("seq"), int):
                    yield record

    def _too_large(self) -> JournalError:
        return JournalError(
            t("submit.journal_too_large", path=safe_text(str(self.path), one_line=True), limit=MAX_JOURNAL_BYTES // (1024 * 1024)),
            t("submit.journal_too_large_hint"),
        )

    def replay(self) -> dict[str, Submission]:
        subs: dict[str, Submission] = {}
        last = 0
        for record in sorted(self.records(), key=lambda r: r["seq"]):
            last = max(last, record["seq"])
            if record["id"].startswith(EVENT_PREFIX):
                continue  # an operator action, not a submission
            sub = subs.get(record["id"])
            if sub is None:
                sub = subs[record["id"]] = Submission(id=record["id"], created=str(record.get("at", "")))
            state = record.get("state")
            for key, value in record.items():
                if key in _SUBMISSION_FIELDS:
                    setattr(sub, key, value)
            sub.updated = str(record.get("at", ""))
            if state in STATES:
                sub.state = state
                sub.history.append((record["seq"], sub.updated, state))
                if state == SENDING:
                    sub.attempts += 1
        self._seq = last
        return subs

    def submissions(self) -> list[Submission]:
        return sorted(self.replay().values(), key=lambda s: s.history[0][0] if s.history else 0)

    def get(self, sub_id: str) -> Submission | None:
        return self.replay().get(sub_id)

    def period(self, kommunenr: str, bydel: str, year: int) -> list[Submission]:
        """The submissions of one period (kommunenr, bydel, reporting year), oldest first."""
        return [s for s in self.submissions() if (s.kommunenr, s.bydel, int(s.year or 0)) == (kommunenr, bydel, int(year))]

    # --- writing -----------------------------------------------------------------------------

    def append(self, sub_id: str, state: str, **fields: Any) -> dict[str, Any]:
        """Write one record and fsync it; raises ``JournalError`` when that is not possible."""
        if state not in STATES and state != NOTE:
            raise ValueError(state)
        for key in _FREE_TEXT:
            if isinstance(fields.get(key), str):
                fields[key] = scrub(fields[key])
        if self._seq is None:
            self.replay()
        seq = (self._seq or 0) + 1
        record = {"seq": seq, "at": self._clock(), "id": sub_id, "state": state, **fields}
        line = (json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")
        if len(line) > MAX_RECORD_BYTES:
            raise JournalError(t("submit.journal_record_large"))
        self.ensure_secure_dir()
        try:
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                st = os.fstat(fd)
                if st.st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                if st.st_size and not self._ends_with_newline(st.st_size):
                    line = b"\n" + line  # a torn last record from a crash: start afresh
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.secure_dir)
        except OSError as exc:
            detail = errno.errorcode.get(exc.errno or 0, "") + " " + (exc.strerror or str(exc))
            raise JournalError(t("submit.journal_write_failed", path=str(self.path), detail=safe_text(detail.strip(), one_line=True))) from None
        self._seq = seq
        return record

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record an operator action (e.g. ``reveal_fnr``) in the journal; free text is scrubbed."""
        clean = {key: scrub(value) if isinstance(value, str) else value for key, value in fields.items()}
        return self.append(f"{EVENT_PREFIX}{kind}", NOTE, **clean)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        prefix = f"{EVENT_PREFIX}{kind}" if kind else EVENT_PREFIX
        return [record for record in self.records() if record["id"].startswith(prefix)]

    def _ends_with_newline(self, size: int) -> bool:
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            return os.pread(fd, 1, size - 1) == b"\n"
        finally:
            os.close(fd)

    def recover(self) -> list[Submission]:
        """After a crash (call while holding the run lock): ``sending`` becomes ``ambiguous``."""
        changed = []
        for sub in self.submissions():
            if sub.state == SENDING and not sub.superseded:
                self.append(sub.id, AMBIGUOUS, reason=t("submit.reason_interrupted"), reason_code="interrupted")
                sub.state = AMBIGUOUS
                changed.append(sub)
        return changed


class RunLock:
    """One run at a time per secure directory: ``fcntl.flock`` on ``submit.lock`` (holds the pid)."""

    def __init__(self, secure_dir: Path | str) -> None:
        self.path = Path(secure_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise RunLockBusy(pid if pid.isdigit() else "") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def is_free(self) -> bool:
        """True when no run holds the lock right now (a probe; takes and drops it)."""
        if self._fd is not None:
            return False
        try:
            self.acquire()
        except (RunLockBusy, OSError):
            return False
        self.release()
        return True
