"""The send phase of a submission: log in, settle the period, upload, commit, check the receipt.

``Delivery(pipeline, prepared, pin).run()`` always returns a ``RunResult`` and the journal says the
same. Order, and why:

1. login (not part of the submission: nothing of it has left yet);
2. **the period first** (issue 11.3): every other journal entry of this kommunenr, bydel and year
   that is ``sending`` or ``ambiguous`` is looked up at the Sendemodul and settled (committed with
   a matching receipt -> ``confirmed``; open or unknown -> ``failed-safe``). A period that then has
   a delivered submission needs an override naming its receipt; one that stays unresolved sends
   nothing new (and never suggests ``--again``);
3. ``sending`` is journalled and fsynced before the first byte of the submission leaves;
4. open / the missing parts / commit, and the receipt checked against what was sent.

How a failure after ``sending`` is classified (docs/sendemodul-protocol.md makes this exact): the
receiver stores a part only when its hash matches and makes a submission only on commit, and both
are idempotent per key. So when something may have reached it, one look-up (a GET) asks what it
holds: committed with a matching receipt -> ``confirmed``; known but not committed, or unknown ->
``failed-safe`` (sending again with the same key finishes it, never twice); no answer ->
``ambiguous``. Nothing is ever sent again within the run that failed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from iplos_tui.core import format as fmt
from iplos_tui.core import journal as jn
from iplos_tui.core.events import LogLine, StepDone, StepFailed, StepProgress, StepStarted, Throttle, fmt_bytes
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.receipt import clean_receipt, receipt_problem
from iplos_tui.core.run_result import Prepared, RunResult
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.pipeline import SubmissionPipeline


def _missing(view: dict[str, Any], expected: dict[str, tuple[int, str]]) -> list[str]:
    """The parts to upload, in manifest order: those the server lacks or holds differently."""
    held = {}
    for part in view.get("parts") or []:
        if isinstance(part, dict) and part.get("file") in expected:
            held[part["file"]] = (part.get("size"), part.get("sha256"))
    return [f for f in expected if held.get(f) != expected[f]]


def _journalled_parts(sub: jn.Submission) -> dict[str, tuple[int, str]]:
    return {str(p.get("file")): (p.get("size"), p.get("sha256")) for p in sub.parts if isinstance(p, dict)}  # type: ignore[misc]


def overrides(token: str, sub: jn.Submission) -> bool:
    """``--again TOKEN`` names ``sub``: its receipt id, or (unresolved) its id or 8-char prefix."""
    if not token:
        return False
    receipt = (sub.receipt or {}).get("receipt_id", "")
    return token == receipt or token == sub.id or (len(token) >= 8 and sub.id.startswith(token))


class Delivery:
    def __init__(self, pipeline: SubmissionPipeline, prepared: Prepared, pin: Any, *, accept_errors: bool = False) -> None:
        self.p = pipeline
        self.prepared = prepared
        self.pin = pin
        self.accept_errors = accept_errors
        self.sub_id = prepared.submission_id
        self.extra: dict[str, Any] = {"manifest": prepared.manifest_summary()} if prepared.manifest is not None else {}
        self.commit_sent = False

    # --- helpers -------------------------------------------------------------------------------

    def _log(self, text: str, level: str = "info") -> None:
        self.p.emit(LogLine(text, level))

    def _fail(self, step: str, state: str, code: ExitCode, message: str, hint: str = "", **extra: Any) -> RunResult:
        self.p.emit(StepFailed(step, message, hint))
        return RunResult(False, state, code, self.sub_id, message=message, hint=hint, step=step, **{**self.extra, **extra})

    def _note(self, state: str, **fields: Any) -> None:
        self.p.safe_journal(self.sub_id, state, **fields)

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> RunResult:
        from iplos_tui.core.sendemodul import SendemodulError

        p = self.p
        sub = p.journal.get(self.sub_id)
        state_before = sub.state if sub else jn.ENCRYPTED
        if p.cancel.is_set():
            return self._fail("login", "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled"))
        if self.prepared.needs_acceptance and not self.accept_errors:
            errors = self.prepared.levels.get("error", 0)
            return self._fail("validate", "refused", ExitCode.FAILED, t("submit.errors_not_accepted", errors=errors), t("submit.errors_not_accepted_hint"))

        p.emit(StepStarted("login", t("submit.step_login")))
        try:
            client = p.client()
            account = client.login(p.profile.kommunenr, p.profile.bydel, p.profile.orgnr, self.pin)
        except SendemodulError as exc:
            code = ExitCode.AUTH if exc.is_auth else (ExitCode.USAGE if exc.kind == "config" else ExitCode.NETWORK)
            if state_before in (jn.PREPARED, jn.ENCRYPTED, jn.FAILED_SAFE):
                self._note(jn.FAILED_SAFE, reason=exc.message(), reason_code=exc.kind)
                state = jn.FAILED_SAFE
            else:
                self._note(jn.NOTE, note=exc.message())
                state = state_before
            return self._fail("login", state, code, exc.message(), exc.hint() or "")
        p.emit(StepDone("login", t("submit.logged_in", name=account.get("name") or account.get("kommunenr") or "")))

        if self.prepared.lookup_only:
            self._settle_period(client, include_ours=True)
            return self._after_lookup_only()
        refused = self._period_allows(self._settle_period(client))
        if refused is not None:
            return refused

        # From here bytes of the submission may leave: journal first (never upload without it).
        fields: dict[str, Any] = {}
        if self.prepared.needs_acceptance:
            fields["accepted_levels"] = dict(self.prepared.levels)
        if self.prepared.again:
            fields["override_of"] = self.prepared.again
        failed = p.journal_or_fail(self.sub_id, jn.SENDING, "upload", **fields)
        if failed is not None:
            return failed
        try:
            return self._deliver(client)
        except SendemodulError as exc:
            return self._after_failure(client, exc)
        except BaseException as exc:  # a bug or an interrupt: never leave "sending" behind
            reason = t("submit.internal_error", error=safe_text(type(exc).__name__, one_line=True))
            self._note(jn.AMBIGUOUS, reason=reason, reason_code="internal")
            raise

    # --- 2. the period -------------------------------------------------------------------------

    def _settle_period(self, client: Any, *, include_ours: bool = False) -> list[tuple[jn.Submission, str]]:
        """Look up every interrupted entry of the period (ours only when asked); the ones the
        Sendemodul could not answer for, with why."""
        from iplos_tui.core.sendemodul import SendemodulError

        p = self.p
        others = [s for s in p.period_submissions() if include_ours or s.id != self.sub_id]
        unresolved: list[tuple[jn.Submission, str]] = []
        for sub in others:
            if sub.state not in (jn.SENDING, jn.AMBIGUOUS):
                continue
            self._log(t("submit.log_period_lookup", id=sub.id[:8]))
            try:
                view = client.lookup(sub.id)
            except SendemodulError as exc:
                unresolved.append((sub, exc.message()))
                continue
            if view is not None and view.get("state") == "committed":
                receipt = clean_receipt(view.get("receipt") if isinstance(view.get("receipt"), dict) else {})
                problem = receipt_problem(receipt, sub.id, sub.manifest_sha256, _journalled_parts(sub))
                if problem:
                    unresolved.append((sub, t("submit.receipt_mismatch", field=problem)))
                    continue
                p.safe_journal(sub.id, jn.CONFIRMED, receipt=receipt, reason=t("submit.reason_found_by_lookup"), reason_code="lookup")
                self._log(t("submit.log_period_confirmed", id=sub.id[:8], receipt=receipt["receipt_id"]), "warning")
            else:
                p.safe_journal(sub.id, jn.FAILED_SAFE, reason=t("submit.reason_lookup_not_delivered"), reason_code="lookup")
                self._log(t("submit.log_period_not_delivered", id=sub.id[:8]))
        return unresolved

    def _period_allows(self, unresolved: list[tuple[jn.Submission, str]]) -> RunResult | None:
        """None when ours may go ahead: nothing of the period unresolved or delivered, unless the
        operator's override names it."""
        p = self.p
        token = self.prepared.again
        blocking = [(sub, detail) for sub, detail in unresolved if not overrides(token, sub)]
        if blocking:
            sub, detail = blocking[0]
            self._note(jn.FAILED_SAFE, reason=t("submit.reason_period_unresolved", id=sub.id[:8]), reason_code="period_unresolved")
            return self._fail(
                "login",
                "unresolved",
                ExitCode.NETWORK,
                t("submit.period_unresolved", id=sub.id[:8], detail=safe_text(detail, one_line=True, limit=200)),
                t("submit.period_unresolved_hint"),
            )
        for sub, _ in unresolved:  # named by the operator's override: it is given up
            p.safe_journal(sub.id, jn.NOTE, superseded=True, note=t("submit.note_overridden"))
        refused = p.delivered_refusal(token, step="login")
        if refused is not None:
            self._note(jn.FAILED_SAFE, reason=refused.message, reason_code="period_delivered")
            return refused
        for sub in p.period_submissions():  # never sent, or known not delivered: ours replaces them
            if sub.id != self.sub_id and sub.open and sub.state not in (jn.SENDING, jn.AMBIGUOUS):
                p.safe_journal(sub.id, jn.NOTE, superseded=True, note=t("submit.note_replaced", id=self.sub_id[:8]))
        return None

    def _after_lookup_only(self) -> RunResult:
        """A submission whose envelope is gone was only to be settled by its look-up."""
        sub = self.p.journal.get(self.sub_id)
        state = sub.state if sub else jn.FAILED_SAFE
        if state == jn.CONFIRMED:
            receipt = sub.receipt or {}  # type: ignore[union-attr]
            message = t("submit.confirmed", receipt=receipt.get("receipt_id", ""))
            self.p.emit(StepDone("commit", message))
            return RunResult(True, jn.CONFIRMED, ExitCode.OK, self.sub_id, receipt=receipt, message=message)
        if state in (jn.SENDING, jn.AMBIGUOUS):
            return self._fail("login", "unresolved", ExitCode.NETWORK, t("submit.period_unresolved", id=self.sub_id[:8], detail=""), t("submit.period_unresolved_hint"))
        return self._fail("upload", state, ExitCode.USAGE, t("submit.lookup_only_not_delivered", id=self.sub_id[:8]), t("submit.lookup_only_not_delivered_hint"))

    # --- 4. upload and commit ------------------------------------------------------------------

    def _deliver(self, client: Any) -> RunResult:
        from iplos_tui.core.sendemodul import SendemodulError

        p, prepared, sub_id = self.p, self.prepared, self.sub_id
        expected = {part.file: (part.ciphertext_size, part.ciphertext_sha256) for part in prepared.manifest.parts}
        p.emit(StepStarted("upload", t("submit.step_upload")))

        server_view = client.lookup(sub_id) if prepared.resumed else None
        if server_view is not None and server_view.get("state") == "committed":
            self._log(t("submit.log_already_committed"))
            return self._confirm(server_view.get("receipt") or {})
        if server_view is None:
            server_view = client.open(sub_id, prepared.manifest_bytes)
            self._log(t("submit.log_opened", id=sub_id[:8]))
        missing = _missing(server_view, expected)
        skipped = [f for f in expected if f not in missing]
        if skipped:
            self._log(t("submit.log_skipped", count=fmt.count(len(skipped), "format.files")))

        total = sum(expected[f][0] for f in missing)
        done = 0
        started = time.monotonic()
        throttle = Throttle()

        def on_bytes(count: int) -> None:
            nonlocal done
            done += count
            if throttle.ready(done >= total):
                elapsed = max(time.monotonic() - started, 1e-6)
                rate = done / elapsed
                eta = (total - done) / rate if rate > 0 else None
                p.emit(StepProgress("upload", done, total, rate, eta))

        p.emit(StepProgress("upload", 0, total))
        for file in missing:
            self._check_cancel()
            size, digest = expected[file]
            answer = client.upload_part(sub_id, file, prepared.envelope_dir / file, size, digest, progress=on_bytes, cancel=p.cancel)
            if answer.get("sha256") != digest or answer.get("size") != size:
                raise SendemodulError("bad_answer", t("submit.part_hash_differs", file=file), sent=True, body_sent=True)
            self._log(t("submit.log_part_stored", file=file, size=fmt_bytes(size), sha=digest[:12]))
        elapsed = max(time.monotonic() - started, 1e-6)
        p.emit(StepDone("upload", t("submit.uploaded", count=fmt.count(len(missing), "format.files"), size=fmt_bytes(total), rate=fmt_bytes(total / elapsed))))

        self._check_cancel()
        p.emit(StepStarted("commit", t("submit.step_commit")))
        self.commit_sent = True
        return self._confirm(client.commit(sub_id))

    def _check_cancel(self) -> None:
        if self.p.cancel.is_set():
            from iplos_tui.core.sendemodul import SendemodulError

            raise SendemodulError("cancelled", t("submit.cancelled"), sent=False)

    def _confirm(self, raw_receipt: Any) -> RunResult:
        """The receipt, checked against what was sent (I19); raises when it does not match."""
        from iplos_tui.core.sendemodul import SendemodulError

        prepared, sub_id = self.prepared, self.sub_id
        receipt = clean_receipt(raw_receipt if isinstance(raw_receipt, dict) else {})
        expected = {part.file: (part.ciphertext_size, part.ciphertext_sha256) for part in prepared.manifest.parts}
        problem = receipt_problem(receipt, sub_id, prepared.manifest_sha256, expected)
        if problem:
            raise SendemodulError("bad_receipt", t("submit.receipt_mismatch", field=problem), hint=t("submit.receipt_mismatch_hint"), sent=True)
        failed = self.p.journal_or_fail(sub_id, jn.CONFIRMED, "commit", receipt=receipt)
        if failed is not None:
            return failed
        expected_mail = receipt.get("receipt_mail_expected_at", "")
        message = t("submit.confirmed", receipt=receipt["receipt_id"])
        self.p.emit(StepDone("commit", message))
        if expected_mail:
            self._log(t("submit.log_receipt_mail", at=jn.short_time(expected_mail)))
        return RunResult(True, jn.CONFIRMED, ExitCode.OK, sub_id, receipt=receipt, message=message, **self.extra)

    def _after_failure(self, client: Any, exc: Any) -> RunResult:
        """Classify a failure after ``sending``; one look-up where bytes may have arrived."""
        from iplos_tui.core.sendemodul import SendemodulError

        step = "commit" if self.commit_sent else "upload"
        self._log(exc.message(), "error")
        code = ExitCode.AUTH if exc.kind == "session_expired" else (ExitCode.INTERRUPTED if exc.kind == "cancelled" else ExitCode.NETWORK)
        might_have_arrived = exc.sent or exc.kind in ("bad_receipt", "bad_answer")
        if not might_have_arrived or exc.server_rejected:
            # Nothing of this request reached the receiver, or it answered with a refusal: it
            # kept nothing of it, and a commit is the only way a submission comes to exist.
            self._note(jn.FAILED_SAFE, reason=exc.message(), reason_code=exc.kind)
            return self._fail(step, jn.FAILED_SAFE, code, exc.message(), exc.hint() or t("submit.failed_safe_hint"))

        self._log(t("submit.log_lookup"))
        view = None
        looked = client.logged_in
        if looked:
            try:
                view = client.lookup(self.sub_id)
            except SendemodulError as lookup_exc:
                self._log(lookup_exc.message(), "warning")
                looked = False
        if not looked:
            self._note(jn.AMBIGUOUS, reason=exc.message(), reason_code=exc.kind)
            return self._fail(step, jn.AMBIGUOUS, ExitCode.AUTH if exc.kind == "session_expired" else ExitCode.NETWORK, exc.message(), t("submit.ambiguous_hint"))
        if view is not None and view.get("state") == "committed":
            try:
                return self._confirm(view.get("receipt") or {})  # delivered after all
            except SendemodulError as bad:
                self._note(jn.AMBIGUOUS, reason=bad.message(), reason_code=bad.kind)
                return self._fail(step, jn.AMBIGUOUS, ExitCode.NETWORK, bad.message(), t("submit.ambiguous_hint"))
        expected = {part.file: (part.ciphertext_size, part.ciphertext_sha256) for part in self.prepared.manifest.parts}
        missing = _missing(view, expected) if view is not None else list(expected)
        held = len(expected) - len(missing)
        reason = t("submit.lookup_open", message=exc.message(), held=held, total=len(expected)) if view is not None else t("submit.lookup_unknown", message=exc.message())
        self._note(jn.FAILED_SAFE, reason=reason, reason_code=exc.kind)
        return self._fail(step, jn.FAILED_SAFE, code, reason, t("submit.failed_safe_hint"))
