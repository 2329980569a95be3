"""Queued submissions for many municipalities (``iplos fleet submit``, the Board pane): check them
all, then send them one after another (or a few at once). Each municipality's run is
``core.submission.SubmitRun`` in its own profile and secure directory, so every run has its own
journal entries, its own run lock and receipt, and the never-twice rules hold per municipality.

1. **Check** (``check_concurrency`` at once): each run validates and encrypts its extract and stops
   at its confirmation, holding its run lock, with what it would send (``JobChecked``).
2. **Approve**: ``approve`` (the front end) is asked once with every checked job and answers, per
   municipality, send or not and whether findings of level error are accepted.
3. **Send** (``send_concurrency`` at once, 1 by default): the PIN of each municipality is asked
   (``pin_for``) only when its turn comes, held as a ``Secret`` for that one run and cleared after
   it. A wrong PIN (or a lock) ends that municipality's run only; it is not tried again in the round
   (every wrong try counts toward the Sendemodul's lockout), and a municipality whose last attempt
   ended locked less than ``LOCKOUT`` ago is not tried at all.

Every step of every run goes out as ``JobEvent(id, event)`` (the ``core.events`` of that run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.errors import explain
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import ProfileEntry
from iplos_tui.core.text import safe_text

LOCKOUT = dt.timedelta(minutes=30)  # docs/sendemodul-protocol.md: a lock lasts 30 minutes
MAX_SEND_CONCURRENCY = 4
MAX_CHECK_CONCURRENCY = 8


@dataclass
class Job:
    """One municipality in the queue."""

    id: str
    profile: Any
    extract: Path


@dataclass(frozen=True)
class Approval:
    send: bool
    accept_errors: bool = False


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStarted:
    jobs: tuple[str, ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class JobEvent:
    id: str
    event: Any  # a core.events event of this municipality's run


@dataclass(frozen=True)
class JobChecked:
    id: str
    persons: int
    parts: int
    total_bytes: int
    levels: dict[str, int]
    needs_acceptance: bool
    again: str
    lines: tuple[str, ...]  # what will be sent, as the single submission says it


@dataclass(frozen=True)
class JobSending:
    id: str


@dataclass(frozen=True)
class JobFinished:
    outcome: JobOutcome


SubmitEvent = QueueStarted | JobEvent | JobChecked | JobSending | JobFinished


@dataclass
class JobOutcome:
    id: str
    state: str  # the run's result state (confirmed, failed-safe, ambiguous, not-sent, ...) or skipped
    ok: bool = False
    exit_code: int = int(ExitCode.OK)
    submission_id: str = ""
    receipt_id: str = ""
    message: str = ""
    checked: JobChecked | None = None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["checked"] = dataclasses.asdict(self.checked) if self.checked is not None else None
        return data


def recently_locked(profile: Any, now: dt.datetime) -> str:
    """The reason text when this period's last attempt ended locked less than ``LOCKOUT`` ago."""
    from iplos_tui.core.journal import FAILED_SAFE, Journal

    period = [
        sub for sub in Journal(profile.secure_dir).submissions()
        if (sub.kommunenr, sub.bydel, int(sub.year or 0)) == (profile.kommunenr, profile.bydel, profile.year)
    ]
    if not period:
        return ""
    latest = max(period, key=lambda sub: sub.history[-1][0] if sub.history else 0)
    if latest.state != FAILED_SAFE or latest.reason_code != "locked":
        return ""
    try:
        when = dt.datetime.fromisoformat(latest.updated)
    except ValueError:
        return latest.reason or "locked"
    when = when if when.tzinfo else when.astimezone()
    return (latest.reason or "locked") if now - when < LOCKOUT else ""


class _Slot:
    """A job's thread and the hand-over between it and the coordinator."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.request: Any = None
        self.checked = threading.Event()  # reached its confirmation, or ended before it
        self.go = threading.Event()
        self.decision: Any = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.check_slot_held = False
        self.reported = False  # its JobFinished went out


class FleetSubmit:
    def __init__(
        self,
        jobs: list[Job],
        *,
        approve: Callable[[list[JobChecked]], dict[str, Approval]],
        pin_for: Callable[[Job], Any],
        skipped: list[JobOutcome] | None = None,
        emit: Callable[[SubmitEvent], None] | None = None,
        cancel: threading.Event | None = None,
        check_concurrency: int = 2,
        send_concurrency: int = 1,
        client_factory: Callable[[Any], Any] | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.jobs = jobs
        self.approve = approve
        self.pin_for = pin_for
        self.skipped = list(skipped or [])
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.check_concurrency = max(1, min(check_concurrency, MAX_CHECK_CONCURRENCY))
        self.send_concurrency = max(1, min(send_concurrency, MAX_SEND_CONCURRENCY))
        self.client_factory = client_factory
        self.now = now or (lambda: dt.datetime.now().astimezone())
        self._emit_lock = threading.Lock()
        self._check_slots = threading.Semaphore(self.check_concurrency)

    def _say(self, event: SubmitEvent) -> None:
        with self._emit_lock:
            self.emit(event)

    # --- the job threads ------------------------------------------------------------------

    def _confirm(self, slot: _Slot) -> Callable[[Any], Any]:
        def confirm(request: Any) -> Any:
            from iplos_tui.core.submission import Decision

            slot.request = request
            self._release_check(slot)
            slot.checked.set()
            while not slot.go.wait(0.2):
                if self.cancel.is_set():
                    return Decision.no()
            return slot.decision if slot.decision is not None else Decision.no()

        return confirm

    def _release_check(self, slot: _Slot) -> None:
        if slot.check_slot_held:
            slot.check_slot_held = False
            self._check_slots.release()

    def _job_thread(self, slot: _Slot) -> None:
        from iplos_tui.core.submission import SubmitRun

        job = slot.job
        try:
            run = SubmitRun(
                job.profile,
                emit=lambda event: self._say(JobEvent(job.id, event)),
                cancel=self.cancel,
                client_factory=self.client_factory,
                now=self.now,
            )
            slot.result = run.run(job.extract, self._confirm(slot))
        except BaseException as exc:  # noqa: BLE001 - one municipality's failure, said for it
            slot.error = exc
        finally:
            self._release_check(slot)
            slot.checked.set()
            pin = getattr(slot.decision, "pin", None)
            if pin is not None:
                pin.clear()

    # --- the round ------------------------------------------------------------------------

    def run(self) -> list[JobOutcome]:
        slots = [_Slot(job) for job in self.jobs]
        self._say(QueueStarted(tuple(job.id for job in self.jobs), tuple(item.id for item in self.skipped)))
        for item in self.skipped:
            self._say(JobFinished(item))
        try:
            self._check_all(slots)
            checked = [self._checked(slot) for slot in slots if slot.request is not None and slot.result is None and slot.error is None]
            approvals = self.approve(checked) if checked and not self.cancel.is_set() else {}
            self._send_all(slots, approvals)
        finally:
            self.cancel_waiting(slots)
            for slot in slots:
                if slot.thread is not None:
                    slot.thread.join()
                self._finished(slot)
        outcomes = [self._outcome(slot) for slot in slots]
        return [*self.skipped, *outcomes]

    def _check_all(self, slots: list[_Slot]) -> None:
        for slot in slots:
            while not self._check_slots.acquire(timeout=0.2):
                if self.cancel.is_set():
                    return
            slot.check_slot_held = True
            slot.thread = threading.Thread(target=self._job_thread, args=(slot,), name=f"fleet-submit-{slot.job.id}", daemon=True)
            slot.thread.start()
        for slot in slots:
            while not slot.checked.wait(0.2):
                if self.cancel.is_set():
                    return
            if slot.result is not None or slot.error is not None:  # ended before its confirmation
                self._finished(slot)
            elif slot.request is not None:
                self._say(self._checked(slot))

    def _send_all(self, slots: list[_Slot], approvals: dict[str, Approval]) -> None:
        from iplos_tui.core.submission import Decision

        waiting = [slot for slot in slots if slot.request is not None and slot.result is None and slot.error is None]
        running: list[_Slot] = []
        for slot in waiting:
            approval = approvals.get(slot.job.id, Approval(False))
            if self.cancel.is_set() or not approval.send:
                slot.decision = Decision.no()
                slot.go.set()
                continue
            while len(running) >= self.send_concurrency:
                running = self._wait_any(running)
            pin = None if self.cancel.is_set() else self.pin_for(slot.job)
            slot.decision = _decision(Decision, pin, approval)
            self._say(JobSending(slot.job.id))
            slot.go.set()
            running.append(slot)
        while running:
            running = self._wait_any(running)

    def _wait_any(self, running: list[_Slot]) -> list[_Slot]:
        while True:
            still = []
            for slot in running:
                assert slot.thread is not None
                slot.thread.join(0.05 if len(running) > 1 else 0.2)
                if slot.thread.is_alive():
                    still.append(slot)
                else:
                    self._finished(slot)
            if len(still) < len(running):
                return still

    def _finished(self, slot: _Slot) -> None:
        if not slot.reported and (slot.thread is None or not slot.thread.is_alive()):
            slot.reported = True
            self._say(JobFinished(self._outcome(slot)))

    def cancel_waiting(self, slots: list[_Slot]) -> None:
        """Any job still at its confirmation sends nothing."""
        from iplos_tui.core.submission import Decision

        for slot in slots:
            if not slot.go.is_set():
                slot.decision = slot.decision or Decision.no()
                slot.go.set()

    def _checked(self, slot: _Slot) -> JobChecked:
        request = slot.request
        summary = request.summary
        return JobChecked(
            slot.job.id,
            int(summary.get("persons", 0)),
            len(summary.get("parts", [])),
            int(summary.get("total_bytes", 0)),
            dict(getattr(request, "levels", {}) or summary.get("levels", {}) or {}),
            bool(getattr(request, "needs_acceptance", False)),
            str(getattr(request, "again", "") or ""),
            tuple(request.lines),
        )

    def _outcome(self, slot: _Slot) -> JobOutcome:
        checked = self._checked(slot) if slot.request is not None else None
        if slot.error is not None:
            explanation = explain(slot.error)
            return JobOutcome(slot.job.id, "error", False, int(explanation.exit_code), message=explanation.message, checked=checked)
        result = slot.result
        if result is None:
            return JobOutcome(slot.job.id, "cancelled", False, int(ExitCode.INTERRUPTED), message=t("fleet.submit_cancelled"), checked=checked)
        receipt = getattr(result, "receipt", None) or {}
        return JobOutcome(
            slot.job.id,
            str(result.state),
            bool(result.ok),
            int(result.exit_code),
            str(result.submission_id or ""),
            safe_text(str(receipt.get("receipt_id", "")), one_line=True, limit=80),
            safe_text(result.message or "", one_line=True, limit=400),
            checked,
        )


def _decision(decision: Any, pin: Any, approval: Approval) -> Any:
    """``Decision(send, pin, accept_errors)``; no PIN, no send."""
    if pin is None or not getattr(pin, "is_set", False):
        return decision.no()
    fields = {f.name for f in dataclasses.fields(decision)}
    if "accept_errors" in fields:
        return decision(True, pin, accept_errors=approval.accept_errors)
    return decision(True, pin)


def plan(entries: list[ProfileEntry], extracts: dict[str, Path], now: dt.datetime) -> tuple[list[Job], list[JobOutcome]]:
    """The jobs of a round and what is left out, each with why: an unusable profile, no extract,
    a lock that may still hold."""
    jobs, skipped = [], []
    for entry in entries:
        extract = extracts.get(entry.id)
        if extract is None:
            continue
        if not entry.usable or entry.profile is None:
            message = explain(entry.error).message if entry.error is not None else entry.id
            skipped.append(JobOutcome(entry.id, "skipped", False, int(ExitCode.USAGE), message=message))
            continue
        try:
            locked = recently_locked(entry.profile, now)
        except Exception as exc:  # noqa: BLE001 - an unusable journal: that municipality's reason
            skipped.append(JobOutcome(entry.id, "skipped", False, int(explain(exc).exit_code), message=explain(exc).message))
            continue
        if locked:
            skipped.append(JobOutcome(entry.id, "skipped", False, int(ExitCode.AUTH), message=t("fleet.submit_locked", reason=safe_text(locked, one_line=True, limit=200))))
            continue
        jobs.append(Job(entry.id, entry.profile, Path(extract)))
    return jobs, skipped

