"""One submission: prepare (validate, hash and encrypt in one read) -> send (``core.delivery``).

The TUI and ``iplos submit`` drive it through ``core.submission.SubmitRun``. It reports through
one callback with small event dataclasses (``core.events``) and checks a ``threading.Event``
between and inside steps. Two phases, so that a person can look at exactly what will be sent
before anything leaves, and both return a result (never raise one):

* ``prepare(extract)`` -> ``Prepared`` or a refusal ``RunResult``. A period already delivered
  needs ``again`` naming its receipt, before the file is even read. The extract is read once
  (``core.extract_pass``): validated, hashed and encrypted in the same pass from one open file,
  so the file validated is the file sent (I11). An unfinished submission of the same file
  continues with its own envelope and key (then the pass only validates and hashes); one of the
  same content (another export of the same data: only ``ProducedAt`` differs) too.
* ``send(prepared, pin)`` -> ``RunResult``: login, the period settled by look-up, ``sending``
  journalled, upload, commit, receipt (``core.delivery``).

Journal states: prepared -> encrypted -> sending -> confirmed | failed-safe | ambiguous.
``prepared`` is written once the header has passed (before the first part is encrypted).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iplos_tui.core import journal as jn
from iplos_tui.core.events import (  # noqa: F401 - re-exported: the run's events live in core.events
    PROGRESS_INTERVAL,
    STEPS,
    Event,
    LogLine,
    StepDone,
    StepFailed,
    StepProgress,
    StepStarted,
    Throttle,
    fmt_bytes,
)
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.run_result import LEVELS, Prepared, RunResult  # noqa: F401 - re-exported
from iplos_tui.core.text import safe_text


# --- the pipeline ---------------------------------------------------------------------------


class SubmissionPipeline:
    """One run for one profile. ``start()`` takes the run lock and recovers the journal."""

    def __init__(
        self,
        profile: Any,
        *,
        emit: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
        client_factory: Callable[[Any], Any] | None = None,
        journal: jn.Journal | None = None,
        now: Callable[[], Any] | None = None,
    ) -> None:
        self.profile = profile
        self.now = now  # the run's clock: certificate validity and the journal's stamps (the sandbox's is 2018)
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        stamp = (lambda: now().astimezone().isoformat(timespec="seconds")) if now is not None else None
        self.journal = journal or jn.Journal(profile.secure_dir, clock=stamp)
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = jn.RunLock(self.journal.secure_dir)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> list[jn.Submission]:
        """Take the run lock (``RunLockBusy`` when another run holds it), turn an interrupted
        ``sending`` into ``ambiguous`` and remove our own stale temp files. Raises
        ``JournalError`` when the secure directory or the journal cannot be used."""
        from iplos_tui.core.fsutil import remove_stale_temps

        self.journal.ensure_secure_dir()
        try:
            self._lock.acquire()
        except OSError as exc:
            raise jn.JournalError(t("submit.journal_unsafe", path=str(self._lock.path), detail=safe_text(exc.strerror or str(exc), one_line=True))) from None
        try:
            recovered = self.journal.recover()
            for sub in recovered:
                self._log(t("submit.log_recovered", id=sub.id[:8]), "warning")
            outbox = self.journal.outbox
            if outbox.exists():
                from iplos_tui.core.envelope import remove_stale_staging

                remove_stale_staging(outbox)
                remove_stale_temps(outbox)
            remove_stale_temps(self.journal.secure_dir)
        except BaseException:
            self._lock.release()
            raise
        return recovered

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        self._lock.release()

    def __enter__(self) -> SubmissionPipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- helpers (core.preparation and core.delivery use them too) ----------------------------

    def _log(self, text: str, level: str = "info") -> None:
        self.emit(LogLine(text, level))

    def fail(self, step: str, state: str, code: ExitCode, message: str, hint: str = "", sub_id: str | None = None, **extra: Any) -> RunResult:
        self.emit(StepFailed(step, message, hint))
        return RunResult(False, state, code, sub_id, message=message, hint=hint, step=step, **extra)

    def journal_or_fail(self, sub_id: str, state: str, step: str, **fields: Any) -> RunResult | None:
        """Write a record; a result saying why nothing more happens when it cannot be written."""
        try:
            self.journal.append(sub_id, state, **fields)
        except jn.JournalError as exc:
            return self.fail(step, "failed-safe", ExitCode.USAGE, exc.message(), exc.hint() or t("submit.journal_hint"), sub_id)
        return None

    def safe_journal(self, sub_id: str, state: str, **fields: Any) -> None:
        """A journal record on a path that already failed: a second failure must not hide the first."""
        with contextlib.suppress(jn.JournalError):
            self.journal.append(sub_id, state, **fields)

    def client(self) -> Any:
        if self._client is None:
            if self._client_factory is not None:
                self._client = self._client_factory(self.profile)
            else:
                from iplos_tui.core.sendemodul import SendemodulClient, SendemodulError

                try:
                    self._client = SendemodulClient.from_profile(self.profile)
                except (OSError, ValueError) as exc:  # an unreadable CA bundle, a bad proxy URL
                    raise SendemodulError("config", t("submit.client_config", detail=safe_text(str(exc), one_line=True, limit=200)), sent=False) from None
        return self._client

    def period(self) -> tuple[str, str, int]:
        return (self.profile.kommunenr or "", self.profile.bydel or "", int(self.profile.year))

    def period_submissions(self) -> list[jn.Submission]:
        """The journal's live (not superseded) submissions of this profile's period, oldest first."""
        return [s for s in self.journal.period(*self.period()) if not s.superseded]

    def delivered_refusal(self, again: str, *, step: str = "validate") -> RunResult | None:
        """A refusal when the period already has a delivered submission that ``again`` does not
        name; None when nothing was delivered for it, or the override names the last receipt."""
        confirmed = [s for s in self.period_submissions() if s.state == jn.CONFIRMED]
        if not confirmed:
            return None
        latest = confirmed[-1]
        receipt = dict(latest.receipt or {})
        receipt_id = str(receipt.get("receipt_id", "")) or latest.id[:8]
        if again == receipt_id:
            return None
        kommunenr, bydel, year = self.period()
        at = self.delivered_at(latest)
        message = t("submit.period_delivered", kommunenr=kommunenr, bydel=bydel, year=year, receipt=receipt_id, at=at)
        if again:
            message += " " + t("submit.again_names_other", again=safe_text(again, one_line=True, limit=80))
        return self.fail(
            step,
            "duplicate",
            ExitCode.FAILED,
            message,
            t("submit.period_delivered_hint", receipt=receipt_id),
            latest.id,
            receipt=receipt,
            existing={"submission_id": latest.id, "state": latest.state, "receipt": receipt, "again": receipt_id},
        )

    @staticmethod
    def delivered_at(sub: jn.Submission) -> str:
        """When a delivered submission was received, for people ("09:31 08.01.2018")."""
        received = (sub.receipt or {}).get("received_at")
        return jn.short_time(str(received)) if received else sub.updated

    def again_at(self, again: str) -> str:
        """When the delivery an override names was received ('' when the journal has none)."""
        for sub in reversed(self.period_submissions()):
            if sub.state == jn.CONFIRMED and again in (str((sub.receipt or {}).get("receipt_id", "")), sub.id, sub.id[:8]):
                return self.delivered_at(sub)
        return ""

    def summary_of(self, prepared: Prepared) -> dict[str, Any]:
        """The facts the operator confirms (the CLI and the TUI show the same)."""
        from iplos_tui.core import refdata
        from iplos_tui.core.config import submission_window

        manifest = prepared.manifest
        name = ""
        with contextlib.suppress(Exception):
            name = refdata.kommune_name(manifest.kommunenr, manifest.year) or ""
        corrections = submission_window(int(manifest.year))[2]
        return {
            "submission_id": prepared.submission_id,
            "kommunenr": manifest.kommunenr,
            "kommune_name": name,
            "bydel": manifest.bydel,
            "period": f"01.01.{manifest.year}–31.12.{manifest.year}",
            "year": manifest.year,
            "persons": manifest.persons,
            "parts": [(p.file, p.ciphertext_size) for p in manifest.parts],
            "total_bytes": sum(p.ciphertext_size for p in manifest.parts),
            "certificates": {role: dict(info) for role, info in manifest.certificates.items()},
            "destination": self.profile.sendemodul_url + (f" ({self.profile.sendemodul_connect_address})" if self.profile.sendemodul_connect_address else ""),
            "resumed": prepared.resumed,
            "extract_sha256": prepared.extract_sha256,
            "levels": dict(prepared.levels),
            "needs_acceptance": prepared.needs_acceptance,
            "corrections_due": f"{corrections.day}.{corrections.month}.{corrections.year}",
            "again": prepared.again,
            "again_at": self.again_at(prepared.again) if prepared.again else "",
        }

    # --- phase 1: prepare --------------------------------------------------------------------

    def prepare(self, extract_path: Path | str, *, again: str = "") -> Prepared | RunResult:
        """Validate, hash and encrypt the extract (or continue an unfinished submission of it)."""
        from iplos_tui.core.preparation import Preparation

        if not self._lock.held:
            raise RuntimeError("start() first")
        return Preparation(self, Path(extract_path), again).run()

    def prepare_resume(self, sub_id: str) -> Prepared | RunResult:
        """The journalled envelope of an unfinished submission, checked (the history's action).
        An interrupted one whose envelope is gone is still settled by its look-up."""
        from iplos_tui.core.preparation import reuse_envelope

        if not self._lock.held:
            raise RuntimeError("start() first")
        sub = self.journal.get(sub_id)
        if sub is None or not sub.open:
            return RunResult(False, sub.state if sub else "unknown", ExitCode.USAGE, sub_id, message=t("submit.nothing_to_resume"))
        prepared = reuse_envelope(self, sub, dict(sub.levels or {}))
        if prepared is not None:
            return prepared
        if sub.state in (jn.SENDING, jn.AMBIGUOUS):
            return Prepared(sub.id, Path(sub.envelope_dir or "."), b"", sub.manifest_sha256, None, Path(sub.extract_path), sub.extract_sha256, resumed=True, lookup_only=True)
        if sub.attempts == 0:
            return RunResult(False, sub.state, ExitCode.USAGE, sub_id, message=t("submit.resume_needs_extract"))
        return self.fail("encrypt", sub.state, ExitCode.USAGE, t("submit.envelope_damaged", id=sub.id[:8], detail=""), t("submit.envelope_damaged_hint"), sub.id)

    # --- phase 2: send -----------------------------------------------------------------------

    def send(self, prepared: Prepared, pin: Any, *, accept_errors: bool = False) -> RunResult:
        """Log in, settle the period and deliver; always returns a result (the journal says the
        same). ``accept_errors``: the operator accepted the findings of level error."""
        from iplos_tui.core.delivery import Delivery

        return Delivery(self, prepared, pin, accept_errors=accept_errors).run()

    def resume(self, sub_id: str, pin: Any, *, accept_errors: bool = False) -> RunResult:
        """Finish or resolve a journalled submission from its envelope."""
        prepared = self.prepare_resume(sub_id)
        if isinstance(prepared, RunResult):
            return prepared
        return self.send(prepared, pin, accept_errors=accept_errors)

