"""Phase 1 of a submission: from the extract to an envelope that is ready to send.

``Preparation(pipeline, path, again).run()`` -> ``Prepared`` or a refusal ``RunResult``:

1. a period already delivered is refused unless ``again`` names its receipt (journal only, before
   the file is read);
2. the same file as an unfinished submission (same device, inode, size, mtime, ctime, and then
   the same SHA-256) continues with that submission's checked envelope and key: the read only
   validates and hashes;
3. otherwise one read validates, hashes and encrypts (``core.extract_pass``): ``prepared`` is
   journalled once the header has passed, the envelope is staged and published as
   ``outbox/<id>``, ``encrypted`` journalled. A submission that was never sent is taken over
   (its key never reached the receiver); an unfinished, sent one with the same content (another
   export of the same data) continues instead, whatever ``ProducedAt`` says.

Levels (issue 13): a fatal finding refuses; findings of level error make the submission need an
explicit acceptance at the confirmation (``Prepared.needs_acceptance``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core import format as fmt
from iplos_tui.core import journal as jn
from iplos_tui.core.events import LogLine, StepDone, StepProgress, StepStarted, Throttle, fmt_bytes
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.run_result import Prepared, RunResult
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.extract_pass import PassResult
    from iplos_tui.core.pipeline import SubmissionPipeline


class _Stop(Exception):
    """Ends the read from inside its callback with the refusal to return (the journal failed)."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.message)
        self.result = result


def blocked_hint(report: Any) -> str:
    """What to do about a fatal finding: advice that fits why the file cannot be used."""
    fatal = getattr(report, "fatal", None)
    if fatal is not None and fatal.rule == "file.path":
        return t("submit.hint_path")
    if fatal is not None and fatal.rule.startswith("file."):
        return t("submit.hint_not_extract")
    return t("submit.validation_hint")


def blocked_exit_code(report: Any) -> ExitCode:
    fatal = getattr(report, "fatal", None)
    return ExitCode.USAGE if fatal is not None and fatal.rule == "file.path" else ExitCode.FAILED


def levels_text(counts: dict[str, int]) -> str:
    return t(
        "submit.levels",
        fatal=fmt.count(counts.get("fatal", 0), "format.fatal"),
        errors=fmt.count(counts.get("error", 0), "format.errors"),
        warnings=fmt.count(counts.get("warning", 0), "format.warnings"),
        infos=fmt.number(counts.get("info", 0)),
    )


def reuse_envelope(p: SubmissionPipeline, sub: jn.Submission, levels: dict[str, int], *, announce: bool = True) -> Prepared | None:
    """The checked envelope of a journalled submission (every part's size and hash, and the
    manifest's hash against the journal), or None when it is missing or damaged."""
    from iplos_tui.core.envelope import EnvelopeError, load_manifest, verify_envelope

    envelope = Path(sub.envelope_dir) if sub.envelope_dir else None
    if envelope is None or not envelope.is_dir():
        return None
    try:
        manifest = load_manifest(envelope)
        problems = verify_envelope(envelope, manifest)
        manifest_bytes = (envelope / "manifest.json").read_bytes()
    except (EnvelopeError, OSError):
        return None
    manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
    if problems or manifest_sha != sub.manifest_sha256:
        p.emit(LogLine(t("submit.envelope_damaged", id=sub.id[:8], detail="; ".join(problems or [t("submit.manifest_changed")])[:300]), "warning"))
        return None
    prepared = Prepared(sub.id, envelope, manifest_bytes, manifest_sha, manifest, Path(sub.extract_path), sub.extract_sha256, resumed=True, levels={**dict.fromkeys(("fatal", "error", "warning", "info"), 0), **levels})
    prepared.summary = p.summary_of(prepared)
    if announce:
        announce_reuse(p, sub)
    return prepared


def announce_reuse(p: SubmissionPipeline, sub: jn.Submission) -> None:
    p.emit(LogLine(t("submit.log_resume", id=sub.id[:8], state=t(f"submit.state_{sub.state}"))))
    p.emit(StepStarted("encrypt", t("submit.step_encrypt")))
    p.emit(StepDone("encrypt", t("submit.encrypt_reused")))


class Preparation:
    def __init__(self, pipeline: SubmissionPipeline, path: Path, again: str = "") -> None:
        self.p = pipeline
        self.path = path
        self.again = again
        self.writer: Any = None
        self.new_writer: Any = None  # makes the writer again when the file is read again
        self.writer_error: Exception | None = None
        self.journalled = False  # ``prepared`` was written for this run's submission id
        self.sub_id: str | None = None

    def run(self) -> Prepared | RunResult:
        from iplos_tui.core.fsutil import check_extract_placement

        p = self.p
        placement = check_extract_placement(self.path, p.profile.secure_dir)  # the rule `validate` uses
        for warning in placement.warnings:
            p.emit(LogLine(warning, "warning"))
        self.path = placement.path  # a symlink's real file is what is read, validated and sent
        refused = p.delivered_refusal(self.again)
        if refused is not None:
            return refused
        if p.profile.ssb_certificate is None or p.profile.tpf_certificate is None:
            return p.fail("encrypt", "refused", ExitCode.USAGE, t("submit.no_certificates"), t("submit.no_certificates_hint"))
        subs = p.period_submissions()
        same = self._same_file(subs)
        if same is not None:
            reused = reuse_envelope(p, same, {}, announce=False)
            if reused is not None:
                outcome = self._read()
                if isinstance(outcome, RunResult):
                    return outcome
                report, passed = outcome
                if passed.sha256 == same.extract_sha256:
                    reused.levels = dict(report.counts)
                    return self._done(reused, announce=same)
        return self._one_pass(subs)

    def _done(self, prepared: Prepared, *, announce: jn.Submission | None = None) -> Prepared:
        prepared.again = self.again
        prepared.summary = self.p.summary_of(prepared)
        if announce is not None:
            announce_reuse(self.p, announce)
        return prepared

    # --- which journalled submission this is -----------------------------------------------

    def _same_file(self, subs: list[jn.Submission]) -> jn.Submission | None:
        from iplos_tui.core.extract_pass import FileIdentity, identity_of

        now = identity_of(self.path)
        if now is None:
            return None
        for sub in reversed(subs):
            if sub.open and sub.extract_sha256 and FileIdentity.from_dict(sub.extract_identity) == now:
                return sub
        return None

    @staticmethod
    def _same_content(subs: list[jn.Submission], ours: str, content_sha: str, sha: str) -> jn.Submission | None:
        """An unfinished submission that was sent at least once, of the same data."""
        for sub in reversed(subs):
            if sub.id != ours and sub.open and sub.attempts > 0 and ((content_sha and sub.content_sha256 == content_sha) or sub.extract_sha256 == sha):
                return sub
        return None

    # --- the one read ------------------------------------------------------------------------

    def _read(self, on_header: Any = None) -> tuple[Any, PassResult] | RunResult:
        """Read the extract once: validate every record (and hand it to the writer while it may
        write). The report and the read's identity and hash, or the refusal. On every core when
        the profile allows more than one worker and the file has a few parts' worth of persons;
        a file the pool cannot decide about is read again the ordinary way (``core.pass_pool``)."""
        from iplos_tui.core import pass_pool

        self.p.emit(StepStarted("validate", t("submit.step_validate")))
        workers = pass_pool.worker_count(int(getattr(self.p.profile, "workers", 0) or 0))
        chunk_size = int(self.p.profile.part_size)
        try:
            size = os.stat(self.path).st_size
        except OSError:
            size = 0
        if workers > 1 and size >= 2 * chunk_size:
            try:
                with pass_pool.PassPool(workers) as pool:
                    outcome = self._pass(on_header, pool, chunk_size)
                self.p.emit(LogLine(t("submit.log_workers", workers=workers)))
                return outcome
            except pass_pool.Fallback:
                self._restart()
        return self._pass(on_header)

    def _restart(self) -> None:
        """A fresh writer (and an empty staging directory) for reading the file again."""
        self.writer_error = None
        if self.new_writer is not None:
            self.writer = self.new_writer()
            for entry in Path(self.writer.directory).iterdir():
                entry.unlink()

    def _pass(self, on_header: Any, pool: Any = None, chunk_size: int = 0) -> tuple[Any, PassResult] | RunResult:
        from iplos_tui.core.envelope import EnvelopeError
        from iplos_tui.core.errors import Cancelled
        from iplos_tui.core.extract.importer import ExtractError
        from iplos_tui.core.extract.validate import Validator
        from iplos_tui.core.extract_pass import read_extract

        p, profile = self.p, self.p.profile
        validator = Validator(profile.year, profile.kommunenr or None, profile.bydel or None)
        throttle = Throttle()
        header_seen = False

        def on_record(record: Any) -> None:
            nonlocal header_seen
            validator.feed(record)
            if not header_seen:
                header_seen = True
                if validator.report.blocks_sending:
                    self.writer = None  # nothing of this file will be sent: stop encrypting
                elif on_header is not None:
                    on_header()
            if self.writer is not None:
                try:
                    self.writer.record(record)
                except EnvelopeError as exc:  # keep validating: the report says all there is
                    self.writer, self.writer_error = None, exc

        def progress(done: int, total: int) -> None:
            if throttle.ready(done >= total):
                p.emit(StepProgress("validate", done, total))
                if self.writer is not None:
                    p.emit(StepProgress("encrypt", done, total))

        def on_chunk_header(header: Any) -> dict[str, Any]:
            on_record(header)
            if self.writer is not None:
                self.writer.seal_with(pool.seal)
            return {"year": validator.year, "rewrite": self.writer is not None, "validator": {"profile_kommunenr": validator.profile_kommunenr, "profile_bydel": validator.profile_bydel}}

        def on_chunk(done: Any) -> None:
            validator.merge(done.state)
            if self.writer is not None and done.rewritten is not None:
                try:
                    self.writer.add_persons(done.rewritten)
                except EnvelopeError as exc:
                    self.writer, self.writer_error = None, exc

        passed = None
        try:
            if pool is None:
                passed = read_extract(self.path, on_record, progress=progress, cancel=p.cancel)
            else:
                from iplos_tui.core.pass_pool import read_extract_parallel

                try:
                    passed = read_extract_parallel(self.path, pool, on_chunk_header, on_chunk, chunk_size=chunk_size, progress=progress, cancel=p.cancel)
                finally:
                    if self.writer is not None:
                        self.writer.seal_with(None)  # the pool closes: the last part is sealed here
        except ExtractError as exc:
            validator.add_fatal(exc)
        except Cancelled:
            return self._refuse("validate", "cancelled", ExitCode.INTERRUPTED, t("submit.cancelled"), reason_code="cancelled")
        except EnvelopeError as exc:  # the file changed or was replaced while it was read
            return self._refuse("validate", "refused", exc.exit_code, exc.message(), t("submit.extract_changed_hint"), reason_code="extract_changed")
        except _Stop as stop:
            return stop.result
        report = validator.finish()
        if report.blocks_sending or passed is None:
            reason = safe_text(report.block_reason() or "", limit=400)
            return self._refuse("validate", "refused", blocked_exit_code(report), reason, blocked_hint(report), reason_code="validation")
        p.emit(StepDone("validate", t("submit.validated_levels", persons=fmt.count(report.persons, "format.persons"), levels=levels_text(report.counts))))
        return report, passed

    def _refuse(self, step: str, state: str, code: ExitCode, message: str, hint: str = "", *, reason_code: str) -> RunResult:
        """A refusal; when this run had journalled ``prepared``, that submission is failed-safe."""
        sub_id = self.sub_id if self.journalled else None
        if sub_id is not None:
            self.p.safe_journal(sub_id, jn.FAILED_SAFE, reason=message, reason_code=reason_code)
        return self.p.fail(step, state, code, message, hint, sub_id)

    # --- validate, hash and encrypt ----------------------------------------------------------

    def _one_pass(self, subs: list[jn.Submission]) -> Prepared | RunResult:
        from iplos_tui.core.envelope import EnvelopeError, EnvelopeParams, EnvelopeWriter, StagingDir, check_certificates, load_cert
        from iplos_tui.core.keys import CertificateError

        p, profile = self.p, self.p.profile
        never_sent = [s for s in subs if s.open and s.attempts == 0]
        sub_id = self.sub_id = never_sent[-1].id if never_sent else str(uuid.uuid4())
        out_dir = p.journal.outbox / sub_id
        if never_sent and out_dir.exists():
            shutil.rmtree(out_dir, ignore_errors=True)  # never sent: nothing of it is at the receiver
        params = EnvelopeParams.from_profile(profile)
        try:
            ssb, tpf = load_cert(profile.ssb_certificate), load_cert(profile.tpf_certificate)
            check_certificates(ssb, tpf, int(profile.year), params, p.now() if p.now else None)
        except CertificateError as exc:
            return p.fail("encrypt", "refused", ExitCode.USAGE, safe_text(str(exc), limit=400), t("submit.no_certificates_hint"))
        except EnvelopeError as exc:
            return p.fail("encrypt", "refused", ExitCode.FAILED, exc.message(), t("submit.encrypt_hint"))
        try:
            with StagingDir(out_dir) as staging:
                self.new_writer = lambda: EnvelopeWriter(staging.path, ssb, tpf, params, profile.part_size, now=p.now() if p.now else None)  # type: ignore[arg-type]
                self.writer = writer = self.new_writer()
                outcome = self._read(on_header=self._journal_prepared)
                if isinstance(outcome, RunResult):
                    return outcome
                report, passed = outcome
                if self.writer_error is not None:
                    raise self.writer_error
                writer = self.writer or writer  # the one of the read that decided (see _restart)
                manifest, manifest_bytes = writer.finish()
                same = self._same_content(subs, sub_id, writer.content_sha256, passed.sha256)
                reused = reuse_envelope(p, same, dict(report.counts), announce=False) if same is not None else None
                if reused is not None and same is not None:
                    p.safe_journal(sub_id, jn.NOTE, superseded=True, note=t("submit.note_same_content", id=same.id[:8]))
                    return self._done(reused, announce=same)
                staging.publish()
        except EnvelopeError as exc:
            return self._refuse("encrypt", "failed-safe", ExitCode.FAILED, exc.message(), t("submit.encrypt_hint"), reason_code="encrypt")
        except OSError as exc:
            message = t("envelope.io_failed", path=str(out_dir), error=safe_text(exc.strerror or str(exc), one_line=True))
            return self._refuse("encrypt", "failed-safe", ExitCode.FAILED, message, t("submit.encrypt_hint"), reason_code="encrypt")
        return self._encrypted(sub_id, out_dir, manifest, manifest_bytes, report, passed, writer.content_sha256)

    def _journal_prepared(self) -> None:
        p = self.p
        assert self.sub_id is not None
        if self.journalled:  # the file is read again (core.pass_pool's Fallback)
            return
        kommunenr, bydel, year = p.period()
        # Takes over a never-sent submission: its envelope fields are emptied until the new one exists.
        failed = p.journal_or_fail(
            self.sub_id, jn.PREPARED, "validate",
            extract_path=str(self.path), year=year, kommunenr=kommunenr, bydel=bydel, persons=0,
            envelope_dir="", manifest_sha256="", parts=[], extract_sha256="", content_sha256="",
        )  # fmt: skip
        if failed is not None:
            raise _Stop(failed)
        self.journalled = True
        p.emit(StepStarted("encrypt", t("submit.step_encrypt")))

    def _encrypted(self, sub_id: str, out_dir: Path, manifest: Any, manifest_bytes: bytes, report: Any, passed: PassResult, content_sha: str) -> Prepared | RunResult:
        p = self.p
        parts = [{"file": part.file, "size": part.ciphertext_size, "sha256": part.ciphertext_sha256} for part in manifest.parts]
        manifest_sha = hashlib.sha256(manifest_bytes).hexdigest()
        failed = p.journal_or_fail(
            sub_id, jn.ENCRYPTED, "encrypt",
            envelope_dir=str(out_dir), manifest_sha256=manifest_sha, parts=parts,
            certificates={role: info.get("sha256", "") for role, info in manifest.certificates.items()},
            persons=manifest.persons, extract_sha256=passed.sha256, content_sha256=content_sha,
            extract_identity=passed.identity.to_dict(), extract_size=passed.identity.size,
            extract_mtime=passed.identity.mtime_ns / 1e9, levels=dict(report.counts),
        )  # fmt: skip
        if failed is not None:
            return failed
        p.emit(LogLine(t("submit.log_extract_hash", sha=passed.sha256[:16])))
        p.emit(StepDone("encrypt", t("submit.encrypted", parts=fmt.count(len(parts), "format.files"), size=fmt_bytes(sum(x["size"] for x in parts)))))
        prepared = Prepared(sub_id, out_dir, manifest_bytes, manifest_sha, manifest, self.path, passed.sha256, levels=dict(report.counts))
        return self._done(prepared)
