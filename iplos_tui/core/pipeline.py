"""One submission run: validate -> encrypt -> log in -> upload manifest and parts -> receipt.

The TUI and ``iplos submit`` drive it through ``core.submission.SubmitRun``. It reports through one callback with small
event dataclasses and checks a ``threading.Event`` between and inside steps. Two phases, so that
a person can look at exactly what will be sent before anything leaves:

* ``prepare(extract)``: validation, the duplicate check against the journal, encryption (or the
  reuse of the envelope of an unfinished submission of the same extract) -> ``Prepared``;
* ``send(prepared, pin)``: login, ``sending`` journalled, then open / look-up, the missing parts,
  commit, and the receipt checked against what was sent -> ``RunResult``.

How a failure after ``sending`` is classified (docs/sendemodul-protocol.md makes this exact): the
receiver stores a part only when its hash matches and makes a submission only on commit, and both
are idempotent per key. So when something may have reached it, one look-up (a GET) asks what it
holds: committed with a matching receipt -> ``confirmed``; known but not committed, or unknown ->
``failed-safe`` (sending again with the same key finishes it, never twice); no answer ->
``ambiguous``. Nothing is ever sent again within the run that failed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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
from iplos_tui.core.fsutil import check_extract_placement
from iplos_tui.core.i18n import t
from iplos_tui.core.receipt import clean_receipt, receipt_problem
from iplos_tui.core.text import safe_text

# --- results ------------------------------------------------------------------------------


@dataclass
class RunResult:
    ok: bool
    state: str
    exit_code: ExitCode
    submission_id: str | None = None
    receipt: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    message: str = ""
    hint: str = ""
    step: str | None = None
    existing: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "state": self.state,
            "submission_id": self.submission_id,
            "receipt": self.receipt,
            "manifest": self.manifest,
        }
        if not self.ok:
            data["error"] = {"step": self.step, "message": self.message, "hint": self.hint}
        if self.existing:
            data["existing"] = self.existing
        return data

    @property
    def auth_refused(self) -> bool:
        """The Sendemodul refused the login: a PIN held in memory must be forgotten."""
        return self.exit_code == ExitCode.AUTH


class RunFailed(Exception):
    def __init__(self, result: RunResult) -> None:
        super().__init__(result.message)
        self.result = result


@dataclass
class Prepared:
    submission_id: str
    envelope_dir: Path
    manifest_bytes: bytes
    manifest_sha256: str
    manifest: Any  # envelope.Manifest
    extract_path: Path
    extract_sha256: str
    resumed: bool = False
    warnings: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    def manifest_summary(self) -> dict[str, Any]:
        return {
            "sha256": self.manifest_sha256,
            "persons": self.manifest.persons,
            "parts": [{"file": p.file, "size": p.ciphertext_size, "sha256": p.ciphertext_sha256} for p in self.manifest.parts],
        }


def _sha256_file(path: Path, cancel: threading.Event | None) -> tuple[str, os.stat_result]:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        while True:
            if cancel is not None and cancel.is_set():
                raise _Cancel()
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                break
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest(), st


class _Cancel(Exception):
    pass


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
        self.now = now  # the clock for certificate validity (tests and the sandbox freeze it)
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.journal = journal or jn.Journal(profile.secure_dir)
        self._client_factory = client_factory
        self._client: Any = None
        self._lock = jn.RunLock(self.journal.secure_dir)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> list[jn.Submission]:
        """Take the run lock (``RunLockBusy`` when another run holds it), turn an interrupted
        ``sending`` into ``ambiguous`` and remove our own stale temp files."""
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

    # --- helpers -----------------------------------------------------------------------------

    def _log(self, text: str, level: str = "info") -> None:
        self.emit(LogLine(text, level))

    def _fail(self, step: str, state: str, code: ExitCode, message: str, hint: str = "", sub_id: str | None = None, **extra: Any) -> RunFailed:
        self.emit(StepFailed(step, message, hint))
        return RunFailed(RunResult(False, state, code, sub_id, message=message, hint=hint, step=step, **extra))

    def _check_cancel(self, step: str, sub_id: str | None = None) -> None:
        if self.cancel.is_set():
            raise self._fail(step, "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled"), sub_id=sub_id)

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

    # --- phase 1: prepare --------------------------------------------------------------------

    def prepare(self, extract_path: Path | str, *, allow_again: bool = False) -> Prepared:
        if not self._lock.held:
            raise RuntimeError("start() first")
        placement = check_extract_placement(extract_path, self.profile.secure_dir)  # the rule `validate` uses
        for warning in placement.warnings:
            self._log(warning, "warning")
        path = placement.path
        report = self._validate(path)
        self._check_cancel("validate")
        try:
            sha, st = _sha256_file(path, self.cancel)
        except _Cancel:
            raise self._fail("validate", "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled")) from None
        except OSError as exc:
            raise self._fail("validate", "refused", ExitCode.FAILED, t("submit.extract_unreadable", detail=safe_text(exc.strerror or str(exc)))) from None
        year = int(report.year or self.profile.year)
        self._log(t("submit.log_extract_hash", sha=sha[:16]))

        resume: jn.Submission | None = None
        for sub in reversed(self.journal.find(sha, year)):
            if sub.superseded:
                continue
            if sub.state == jn.CONFIRMED:
                if not allow_again:
                    receipt = sub.receipt or {}
                    raise self._fail(
                        "validate",
                        "duplicate",
                        ExitCode.FAILED,
                        t("submit.already_confirmed", receipt=receipt.get("receipt_id", "?"), at=sub.updated),
                        t("submit.already_confirmed_hint"),
                        sub.id,
                        receipt=receipt,
                        existing={"submission_id": sub.id, "state": sub.state, "receipt": receipt},
                    )
                continue
            if allow_again:
                self.journal.append(sub.id, jn.NOTE, superseded=True, note=t("submit.note_superseded"))
                self._log(t("submit.log_superseded", id=sub.id[:8]), "warning")
                continue
            resume = sub
            break

        if resume is not None:
            prepared = self._resume_envelope(resume, path, sha, report)
            if prepared is not None:
                return prepared
            sub_id = resume.id
        else:
            sub_id = str(uuid.uuid4())
            self._journal(
                sub_id,
                jn.PREPARED,
                "validate",
                extract_path=str(path),
                extract_size=st.st_size,
                extract_mtime=st.st_mtime,
                extract_sha256=sha,
                year=year,
                kommunenr=report.kommunenr or self.profile.kommunenr,
                bydel=report.bydel or self.profile.bydel,
                persons=report.persons,
            )
        return self._encrypt(sub_id, path, sha, report)

    def _validate(self, path: Path) -> Any:
        from iplos_tui.core.extract.importer import Cancelled
        from iplos_tui.core.extract.validate import validate_file

        self.emit(StepStarted("validate", t("submit.step_validate")))
        throttle = Throttle()

        def progress(done: int, total: int) -> None:
            if throttle.ready(done >= total):
                self.emit(StepProgress("validate", done, total))

        try:
            report = validate_file(
                path,
                year=self.profile.year,
                profile_kommunenr=self.profile.kommunenr or None,
                profile_bydel=self.profile.bydel or None,
                progress=progress,
                cancel=self.cancel,
            )
        except Cancelled:
            raise self._fail("validate", "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled")) from None
        self.last_report = report
        if not report.ok:
            reason = report.fatal.message if report.fatal else t("submit.validation_errors", errors=report.errors, warnings=report.warnings)
            raise self._fail("validate", "refused", ExitCode.FAILED, safe_text(reason, limit=400), t("submit.validation_hint"))
        self.emit(StepDone("validate", t("submit.validated", persons=report.persons, warnings=report.warnings)))
        return report

    def _journal(self, sub_id: str, state: str, step: str, **fields: Any) -> None:
        try:
            self.journal.append(sub_id, state, **fields)
        except jn.JournalError as exc:
            raise self._fail(step, "failed-safe", ExitCode.USAGE, exc.message(), exc.hint() or t("submit.journal_hint"), sub_id) from None

    def _resume_envelope(self, sub: jn.Submission, path: Path, sha: str, report: Any) -> Prepared | None:
        """The envelope of an unfinished submission, checked; None when it must be made again
        (allowed only when nothing of it was ever sent)."""
        from iplos_tui.core.envelope import EnvelopeError, load_manifest, verify_envelope

        envelope = Path(sub.envelope_dir) if sub.envelope_dir else None
        problems: list[str] = []
        if envelope is not None and envelope.is_dir():
            try:
                manifest = load_manifest(envelope)
                problems = verify_envelope(envelope, manifest)
                manifest_bytes = (envelope / "manifest.json").read_bytes()
            except (EnvelopeError, OSError) as exc:
                problems = [safe_text(str(exc))]
            if not problems and hashlib.sha256(manifest_bytes).hexdigest() == sub.manifest_sha256:
                self._log(t("submit.log_resume", id=sub.id[:8], state=t(f"submit.state_{sub.state}")))
                self.emit(StepStarted("encrypt", t("submit.step_encrypt")))
                self.emit(StepDone("encrypt", t("submit.encrypt_reused")))
                return self._prepared(sub.id, envelope, manifest, manifest_bytes, path, sha, report, resumed=True)
            problems = problems or [t("submit.manifest_changed")]
        if sub.attempts == 0:
            if envelope is not None and envelope.exists():
                import shutil

                shutil.rmtree(envelope, ignore_errors=True)
            self._log(t("submit.log_reencrypt", id=sub.id[:8]))
            return None
        raise self._fail(
            "encrypt",
            sub.state,
            ExitCode.NETWORK,
            t("submit.envelope_damaged", id=sub.id[:8], detail="; ".join(problems)[:300]),
            t("submit.envelope_damaged_hint"),
            sub.id,
        )

    def _encrypt(self, sub_id: str, path: Path, sha: str, report: Any) -> Prepared:
        from iplos_tui.core.envelope import EncryptResult, EnvelopeCancelled, EnvelopeError, EnvelopeParams, encrypt_extract
        from iplos_tui.core.extract.importer import ExtractError

        self.emit(StepStarted("encrypt", t("submit.step_encrypt")))
        if self.profile.ssb_certificate is None or self.profile.tpf_certificate is None:
            self._safe_journal(sub_id, jn.FAILED_SAFE, reason=t("submit.no_certificates"), reason_code="config")
            raise self._fail("encrypt", "failed-safe", ExitCode.USAGE, t("submit.no_certificates"), t("submit.no_certificates_hint"), sub_id)
        out_dir = self.journal.outbox / sub_id
        throttle = Throttle()

        def progress(p: Any) -> None:
            if throttle.ready(p.phase == "done"):
                self.emit(StepProgress("encrypt", p.bytes_read, p.total_bytes))

        try:
            result: EncryptResult = encrypt_extract(
                path,
                out_dir,
                self.profile.ssb_certificate,
                self.profile.tpf_certificate,
                EnvelopeParams.from_profile(self.profile),
                part_size=self.profile.part_size,
                progress=progress,
                cancel=self.cancel,
                expected_sha256=sha,
                now=self.now() if self.now else None,
            )
        except EnvelopeCancelled:
            self._safe_journal(sub_id, jn.FAILED_SAFE, reason=t("submit.cancelled"), reason_code="cancelled")
            raise self._fail("encrypt", "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled"), sub_id=sub_id) from None
        except (EnvelopeError, ExtractError) as exc:
            message = safe_text(str(exc), limit=400)
            self._safe_journal(sub_id, jn.FAILED_SAFE, reason=message, reason_code="encrypt")
            raise self._fail("encrypt", "failed-safe", ExitCode.FAILED, message, t("submit.encrypt_hint"), sub_id) from None
        manifest_bytes = result.manifest_path.read_bytes()
        parts = [{"file": p.file, "size": p.ciphertext_size, "sha256": p.ciphertext_sha256} for p in result.manifest.parts]
        certs = {role: info.get("sha256", "") for role, info in result.manifest.certificates.items()}
        self._journal(
            sub_id,
            jn.ENCRYPTED,
            "encrypt",
            envelope_dir=str(result.out_dir),
            manifest_sha256=result.manifest_sha256,
            parts=parts,
            certificates=certs,
            persons=result.manifest.persons,
        )
        total = sum(p["size"] for p in parts)
        self.emit(StepDone("encrypt", t("submit.encrypted", parts=len(parts), size=fmt_bytes(total))))
        return self._prepared(sub_id, result.out_dir, result.manifest, manifest_bytes, path, sha, report, resumed=False)

    def _safe_journal(self, sub_id: str, state: str, **fields: Any) -> None:
        """A journal record on a path that already failed: a second failure must not hide the first."""
        with contextlib.suppress(jn.JournalError):
            self.journal.append(sub_id, state, **fields)

    def _prepared(self, sub_id: str, envelope: Path, manifest: Any, manifest_bytes: bytes, path: Path, sha: str, report: Any, *, resumed: bool) -> Prepared:
        from iplos_tui.core import refdata

        name = ""
        with contextlib.suppress(Exception):
            name = refdata.kommune_name(manifest.kommunenr, manifest.year) or ""
        prepared = Prepared(
            submission_id=sub_id,
            envelope_dir=envelope,
            manifest_bytes=manifest_bytes,
            manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            manifest=manifest,
            extract_path=path,
            extract_sha256=sha,
            resumed=resumed,
            warnings=getattr(report, "warnings", 0),
        )
        prepared.summary = {
            "submission_id": sub_id,
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
            "resumed": resumed,
            "extract_sha256": sha,
        }
        return prepared

    # --- phase 2: send -----------------------------------------------------------------------

    def send(self, prepared: Prepared, pin: Any) -> RunResult:
        """Log in and deliver; always returns a result (the journal says the same)."""
        try:
            return self._send(prepared, pin)
        except RunFailed as failed:
            return failed.result

    def _send(self, prepared: Prepared, pin: Any) -> RunResult:
        from iplos_tui.core.sendemodul import SendemodulError

        sub_id = prepared.submission_id
        sub = self.journal.get(sub_id)
        state_before = sub.state if sub else jn.ENCRYPTED
        extra = {"manifest": prepared.manifest_summary()}
        self._check_cancel("login", sub_id)

        # Login: not part of the submission yet; nothing of it has left.
        self.emit(StepStarted("login", t("submit.step_login")))
        try:
            client = self.client()
            account = client.login(self.profile.kommunenr, self.profile.bydel, self.profile.orgnr, pin)
        except SendemodulError as exc:
            code = ExitCode.AUTH if exc.is_auth else (ExitCode.USAGE if exc.kind == "config" else ExitCode.NETWORK)
            if state_before in (jn.PREPARED, jn.ENCRYPTED, jn.FAILED_SAFE):
                self._safe_journal(sub_id, jn.FAILED_SAFE, reason=exc.message, reason_code=exc.kind)
                state = jn.FAILED_SAFE
            else:
                self._safe_journal(sub_id, jn.NOTE, note=exc.message)
                state = state_before
            raise self._fail("login", state, code, exc.message, exc.hint, sub_id, **extra) from None
        self.emit(StepDone("login", t("submit.logged_in", name=account.get("name") or account.get("kommunenr") or "")))

        # From here bytes of the submission may leave: journal first (never upload without it).
        self._journal(sub_id, jn.SENDING, "upload")
        progress = {"commit_sent": False}
        try:
            return self._deliver(prepared, client, progress, extra)
        except SendemodulError as exc:
            return self._after_failure(prepared, client, exc, progress, extra).result
        except BaseException as exc:  # a bug or an interrupt: never leave "sending" behind
            reason = t("submit.internal_error", error=safe_text(type(exc).__name__, one_line=True))
            self._safe_journal(sub_id, jn.AMBIGUOUS, reason=reason, reason_code="internal")
            raise

    def _deliver(self, prepared: Prepared, client: Any, progress: dict[str, bool], extra: dict[str, Any]) -> RunResult:
        sub_id = prepared.submission_id
        manifest = prepared.manifest
        expected = {p.file: (p.ciphertext_size, p.ciphertext_sha256) for p in manifest.parts}
        self.emit(StepStarted("upload", t("submit.step_upload")))

        server_view = client.lookup(sub_id) if prepared.resumed else None
        if server_view is not None and server_view.get("state") == "committed":
            self._log(t("submit.log_already_committed"))
            receipt = server_view.get("receipt") or {}
            return self._confirm(prepared, receipt, extra)
        if server_view is None:
            opened = client.open(sub_id, prepared.manifest_bytes)
            self._log(t("submit.log_opened", id=sub_id[:8]))
            server_view = opened
        missing = self._missing(server_view, expected)
        skipped = [f for f in expected if f not in missing]
        if skipped:
            self._log(t("submit.log_skipped", count=len(skipped)))

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
                self.emit(StepProgress("upload", done, total, rate, eta))

        self.emit(StepProgress("upload", 0, total))
        for file in missing:
            self._check_cancel_sending(file)
            size, digest = expected[file]
            answer = client.upload_part(sub_id, file, prepared.envelope_dir / file, size, digest, progress=on_bytes, cancel=self.cancel)
            if answer.get("sha256") != digest or answer.get("size") != size:
                from iplos_tui.core.sendemodul import SendemodulError

                raise SendemodulError("bad_answer", t("submit.part_hash_differs", file=file), sent=True, body_sent=True)
            self._log(t("submit.log_part_stored", file=file, size=fmt_bytes(size), sha=digest[:12]))
        elapsed = max(time.monotonic() - started, 1e-6)
        self.emit(StepDone("upload", t("submit.uploaded", count=len(missing), size=fmt_bytes(total), rate=fmt_bytes(total / elapsed))))

        self._check_cancel_sending("commit")
        self.emit(StepStarted("commit", t("submit.step_commit")))
        progress["commit_sent"] = True
        receipt = client.commit(sub_id)
        return self._confirm(prepared, receipt, extra)

    def _check_cancel_sending(self, where: str) -> None:
        if self.cancel.is_set():
            from iplos_tui.core.sendemodul import SendemodulError

            raise SendemodulError("cancelled", t("submit.cancelled"), sent=False)

    @staticmethod
    def _missing(view: dict[str, Any], expected: dict[str, tuple[int, str]]) -> list[str]:
        """The parts to upload, in manifest order: those the server lacks or holds differently."""
        held = {}
        for part in view.get("parts") or []:
            if isinstance(part, dict) and part.get("file") in expected:
                held[part["file"]] = (part.get("size"), part.get("sha256"))
        return [f for f in expected if held.get(f) != expected[f]]

    def _confirm(self, prepared: Prepared, raw_receipt: Any, extra: dict[str, Any]) -> RunResult:
        from iplos_tui.core.sendemodul import SendemodulError

        sub_id = prepared.submission_id
        receipt = clean_receipt(raw_receipt if isinstance(raw_receipt, dict) else {})
        expected = {p.file: (p.ciphertext_size, p.ciphertext_sha256) for p in prepared.manifest.parts}
        problem = receipt_problem(receipt, sub_id, prepared.manifest_sha256, expected)
        if problem:
            raise SendemodulError("bad_receipt", t("submit.receipt_mismatch", field=problem), hint=t("submit.receipt_mismatch_hint"), sent=True)
        self._journal(sub_id, jn.CONFIRMED, "commit", receipt=receipt)
        expected_mail = receipt.get("receipt_mail_expected_at", "")
        self.emit(StepDone("commit", t("submit.confirmed", receipt=receipt["receipt_id"])))
        if expected_mail:
            self._log(t("submit.log_receipt_mail", at=jn._short_time(expected_mail)))
        return RunResult(True, jn.CONFIRMED, ExitCode.OK, sub_id, receipt=receipt, message=t("submit.confirmed", receipt=receipt["receipt_id"]), **extra)

    def _after_failure(self, prepared: Prepared, client: Any, exc: Any, progress: dict[str, bool], extra: dict[str, Any]) -> RunFailed:
        """Classify a failure after ``sending``; one look-up where bytes may have arrived."""
        from iplos_tui.core.sendemodul import SendemodulError

        sub_id = prepared.submission_id
        step = "commit" if progress["commit_sent"] else "upload"
        self._log(exc.message, "error")
        code = ExitCode.AUTH if exc.kind == "session_expired" else (ExitCode.INTERRUPTED if exc.kind == "cancelled" else ExitCode.NETWORK)
        might_have_arrived = exc.sent or exc.kind in ("bad_receipt", "bad_answer")
        if not might_have_arrived or exc.server_rejected:
            # Nothing of this request reached the receiver, or it answered with a refusal: it
            # kept nothing of it, and a commit is the only way a submission comes to exist.
            self._safe_journal(sub_id, jn.FAILED_SAFE, reason=exc.message, reason_code=exc.kind)
            return self._fail(step, jn.FAILED_SAFE, code, exc.message, exc.hint or t("submit.failed_safe_hint"), sub_id, **extra)

        self._log(t("submit.log_lookup"))
        try:
            view = client.lookup(sub_id) if client.logged_in else None
            looked = client.logged_in
        except SendemodulError as lookup_exc:
            self._log(lookup_exc.message, "warning")
            looked = False
            view = None
        if looked:
            if view is not None and view.get("state") == "committed":
                try:
                    result = self._confirm(prepared, view.get("receipt") or {}, extra)
                except SendemodulError as bad:
                    self._safe_journal(sub_id, jn.AMBIGUOUS, reason=bad.message, reason_code=bad.kind)
                    return self._fail(step, jn.AMBIGUOUS, ExitCode.NETWORK, bad.message, t("submit.ambiguous_hint"), sub_id, **extra)
                return RunFailed(result)  # carried out as a result: confirmed after all
            expected = {p.file: (p.ciphertext_size, p.ciphertext_sha256) for p in prepared.manifest.parts}
            missing = self._missing(view, expected) if view is not None else list(expected)
            held = len(expected) - len(missing)
            reason = t("submit.lookup_open", message=exc.message, held=held, total=len(expected)) if view is not None else t("submit.lookup_unknown", message=exc.message)
            self._safe_journal(sub_id, jn.FAILED_SAFE, reason=reason, reason_code=exc.kind)
            return self._fail(step, jn.FAILED_SAFE, code, reason, t("submit.failed_safe_hint"), sub_id, **extra)
        self._safe_journal(sub_id, jn.AMBIGUOUS, reason=exc.message, reason_code=exc.kind)
        return self._fail(step, jn.AMBIGUOUS, ExitCode.AUTH if exc.kind == "session_expired" else ExitCode.NETWORK, exc.message, t("submit.ambiguous_hint"), sub_id, **extra)

    def prepare_resume(self, sub_id: str) -> Prepared:
        """The journalled envelope of an unfinished submission, checked (the history's action)."""
        if not self._lock.held:
            raise RuntimeError("start() first")
        sub = self.journal.get(sub_id)
        if sub is None or not sub.open:
            raise RunFailed(RunResult(False, sub.state if sub else "unknown", ExitCode.USAGE, sub_id, message=t("submit.nothing_to_resume")))
        prepared = self._resume_envelope(sub, Path(sub.extract_path), sub.extract_sha256, None)
        if prepared is None:
            raise RunFailed(RunResult(False, sub.state, ExitCode.USAGE, sub_id, message=t("submit.resume_needs_extract")))
        return prepared

    def resume(self, sub_id: str, pin: Any) -> RunResult:
        """Finish or resolve a journalled submission from its envelope."""
        try:
            prepared = self.prepare_resume(sub_id)
        except RunFailed as failed:
            return failed.result
        return self.send(prepared, pin)
