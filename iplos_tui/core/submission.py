"""The submission flows both front ends call: the validate step, and the whole submit run.

``validate_step`` checks an extract and reports the findings grouped by rule (the pane's F5).
``SubmitRun`` is one run from the extract to the receipt: it takes the run lock, prepares
(validation, duplicate check, encryption), asks ``confirm`` with exactly what will be sent, and
sends on a yes. The TUI answers ``confirm`` from its dialog, the CLI from ``--yes`` or the
terminal; both map the same events (``core.events``) to their output and get one ``RunResult``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core import format as fmt
from iplos_tui.core.errors import IplosError
from iplos_tui.core.events import Event, LogLine, StepDone, StepFailed, StepProgress, StepStarted, Throttle, fmt_bytes
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.pipeline import SubmissionPipeline
from iplos_tui.core.run_result import Prepared, RunResult
from iplos_tui.core.preparation import blocked_hint, levels_text
from iplos_tui.core.text import safe_text

FINDINGS_PER_RULE = 3
SUMMARY_PARTS = 12


# --- the validate step ----------------------------------------------------------------------


def validate_step(
    path: Path | str,
    profile: Any,
    *,
    emit: Callable[[Event], None],
    cancel: threading.Event | None = None,
    per_rule: int = FINDINGS_PER_RULE,
) -> Any:
    """Check the extract against the profile; the findings go out as log lines, a few examples
    per rule. Returns the validator's report, or None when cancelled."""
    from iplos_tui.core.errors import Cancelled
    from iplos_tui.core.fsutil import check_extract_placement
    from iplos_tui.core.validation import validate_file

    emit(StepStarted("validate", t("submit.step_validate")))
    placement = check_extract_placement(path, profile.secure_dir)  # the rule `validate` and the send use
    for warning in placement.warnings:
        emit(LogLine(warning, "warning"))
    throttle = Throttle()

    def progress(done: int, total: int) -> None:
        if throttle.ready(done >= total):
            emit(StepProgress("validate", done, total))

    try:
        report = validate_file(
            placement.path,
            year=profile.year,
            profile_kommunenr=profile.kommunenr or None,
            profile_bydel=profile.bydel or None,
            max_per_rule=per_rule,  # examples of every rule, not only the commonest
            progress=progress,
            cancel=cancel,
            workers=profile.workers,
            chunk_size=profile.part_size,
        )
    except Cancelled:
        emit(StepFailed("validate", t("submit.cancelled")))
        return None
    if report.workers > 1:
        emit(LogLine(t("validate.log_workers", workers=report.workers)))
    if report.fatal is not None and not report.findings[1:]:
        # The file cannot be read at all (missing, a directory, not an extract): one line, once.
        emit(StepFailed("validate", safe_text(report.block_reason() or "", limit=400), blocked_hint(report)))
        return report
    for line in findings_by_rule(report, per_rule):
        emit(LogLine(line, "error" if report.blocks_sending or report.needs_acceptance else "warning"))
    levels = levels_text(report.counts)
    if report.blocks_sending:
        emit(StepFailed("validate", safe_text(report.block_reason() or "", limit=400), blocked_hint(report)))
    elif report.needs_acceptance:
        emit(StepDone("validate", t("submit.validated_needs_acceptance", persons=fmt.count(report.persons, "format.persons"), levels=levels)))
    else:
        emit(StepDone("validate", t("submit.validated_levels", persons=fmt.count(report.persons, "format.persons"), levels=levels)))
    return report


def findings_by_rule(report: Any, per_rule: int = FINDINGS_PER_RULE) -> list[str]:
    """The validation findings grouped by rule: a count per rule and its first few lines."""
    lines: list[str] = []
    counts = Counter(report.by_rule)
    first: dict[str, list[Any]] = {}
    for finding in report.findings:
        first.setdefault(finding.rule, []).append(finding)
    for rule, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        lines.append(t("submit.pane.rule_count", rule=rule, count=count))
        for finding in first.get(rule, [])[:per_rule]:
            where = _finding_place(finding)
            lines.append(f"    {where}{safe_text(str(finding.message), one_line=True, limit=160)}")
    return lines


def _finding_place(finding: Any) -> str:
    """"EO-000101 (linje 18): " – the care system's own id first, which is what gets corrected."""
    local_id = safe_text(getattr(finding, "local_id", None) or "", one_line=True, limit=24)
    line = getattr(finding, "line", None)
    if local_id and line:
        return t("submit.pane.finding_at", local_id=local_id, line=line) + " "
    if line:
        return t("submit.pane.finding_line", line=line) + " "
    return f"{local_id}: " if local_id else ""


# --- what will be sent ----------------------------------------------------------------------


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """What will be sent, for the confirmation (the CLI and the TUI show the same facts)."""
    head, parts = summary_sections(summary)
    return head + parts


def summary_sections(summary: dict[str, Any], *, parts_shown: int | None = SUMMARY_PARTS) -> tuple[list[str], list[str]]:
    """The facts first (issue 14.3): a re-send's earlier receipt, municipality, period and
    persons, the findings per level, the recipients, the destination and the parts in one line;
    then the parts, one a line (the first ``parts_shown``, all for None)."""
    head = []
    if summary.get("again"):
        if summary.get("again_at"):
            head.append(t("submit.sum_again", receipt=summary["again"], at=summary["again_at"]))
        else:
            head.append(t("submit.sum_again_undated", receipt=summary["again"]))
    if summary.get("resumed"):
        head.append(t("submit.sum_resumed", id=summary["submission_id"][:8]))
    head += [
        t("submit.sum_kommune", kommunenr=summary["kommunenr"], name=summary.get("kommune_name") or "?", bydel=summary["bydel"]),
        t("submit.sum_period", period=summary["period"], persons=summary["persons"]),
    ]
    if "levels" in summary:
        head.append(t("submit.sum_levels", levels=levels_text(summary["levels"])))
    if summary.get("needs_acceptance"):
        head.append(t("submit.sum_errors", errors=summary["levels"].get("error", 0), due=summary.get("corrections_due", "")))
    for role, info in summary.get("certificates", {}).items():
        head.append(t("submit.sum_recipient", role=role.upper(), subject=info.get("subject", ""), sha=info.get("sha256", "")[:32]))
    head.append(t("submit.sum_destination", url=summary["destination"]))
    head.append(t("submit.sum_parts", count=len(summary["parts"]), size=fmt_bytes(summary["total_bytes"])))
    shown = summary["parts"] if parts_shown is None else summary["parts"][:parts_shown]
    parts = [f"    {file:<20} {fmt_bytes(size):>12}" for file, size in shown]
    if len(summary["parts"]) > len(shown):
        parts.append("    " + t("submit.sum_more", count=len(summary["parts"]) - len(shown)))
    return head, parts


def progress_text(event: StepProgress) -> str:
    """"42.0 %  1.2 MiB / 3.0 MiB  800.0 KiB/s  ca. 2 s igjen" (the CLI's progress line)."""
    text = f"{fmt.number(event.fraction * 100, 1):>5} %  {fmt_bytes(event.done)} / {fmt_bytes(event.total)}"
    if event.rate:
        text += f"  {fmt_bytes(event.rate)}/s"
    if event.eta is not None:
        text += "  " + t("submit.eta", seconds=f"{event.eta:.0f}")
    return text


# --- the whole run --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmRequest:
    """What the operator is asked to confirm: the facts (``summary``) and the same as lines.
    ``needs_acceptance``: the extract has findings of level error (counts in ``levels``); it is
    sent only when the answer accepts them (``Decision.accept_errors``)."""

    submission_id: str
    summary: dict[str, Any]
    lines: list[str]
    resumed: bool = False
    levels: dict[str, int] = field(default_factory=dict)
    needs_acceptance: bool = False
    again: str = ""  # the earlier receipt this submission is sent in spite of


@dataclass
class Decision:
    """The operator's answer: send or not, the PIN to log in with (a ``Secret``), and whether
    the findings of level error are accepted."""

    send: bool
    pin: Any = None
    accept_errors: bool = False

    @classmethod
    def no(cls) -> Decision:
        return cls(False)


Confirm = Callable[[ConfirmRequest], Decision]


class NotConfirmed(IplosError):
    """Raised by a ``confirm`` callback that cannot say yes, with the reason (a PIN that is
    refused before it is sent, say); the run ends with nothing sent."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self._message = message
        self.exit_code = exit_code

    def message(self) -> str:
        return self._message


class SubmitRun:
    """One submission run for one profile, from the extract (or a journalled submission) to the
    receipt. ``run``/``resume`` always return a ``RunResult``; errors the console explains
    (``IplosError``) become results too, so a front end only maps events and the result."""

    def __init__(
        self,
        profile: Any,
        *,
        emit: Callable[[Event], None] | None = None,
        cancel: threading.Event | None = None,
        client_factory: Callable[[Any], Any] | None = None,
        now: Callable[[], Any] | None = None,
    ) -> None:
        self.profile = profile
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.client_factory = client_factory
        self.now = now

    def run(self, extract_path: Path | str, confirm: Confirm, *, again: str = "") -> RunResult:
        """``again``: the receipt of the period's earlier delivery that this one is sent in spite
        of (the operator's explicit override)."""
        return self._run(lambda pipeline: pipeline.prepare(extract_path, again=again), confirm)

    def resume(self, sub_id: str, confirm: Confirm) -> RunResult:
        """Finish or resolve a journalled submission with its own envelope and key."""

        def prepare(pipeline: SubmissionPipeline) -> Prepared | RunResult:
            sub = pipeline.journal.get(sub_id)
            if sub is not None:
                self.emit(LogLine(t("submit.pane.resume_line", id=sub.id[:8], state=t(f"submit.state_{sub.state}"))))
            return pipeline.prepare_resume(sub_id)

        return self._run(prepare, confirm, resume=True)

    def _run(self, prepare: Callable[[SubmissionPipeline], Prepared | RunResult], confirm: Confirm, *, resume: bool = False) -> RunResult:
        from iplos_tui.core.journal import RunLockBusy

        pipeline = SubmissionPipeline(self.profile, emit=self.emit, cancel=self.cancel, client_factory=self.client_factory, now=self.now)
        try:
            pipeline.start()
        except RunLockBusy as busy:
            self.emit(LogLine(str(busy), "error"))
            return RunResult(False, "busy", ExitCode.NETWORK, message=str(busy))
        # Any other IplosError (the secure directory or the journal cannot be used) reaches the
        # front end's one handler: cli.main, the app's worker handler.
        pin = None
        try:
            prepared = prepare(pipeline)
            if isinstance(prepared, RunResult):
                return prepared
            if prepared.lookup_only:  # nothing to show: only the Sendemodul's answer settles it
                return self._send(pipeline, prepared, confirm)
            lines = summary_lines(prepared.summary)
            request = ConfirmRequest(
                prepared.submission_id,
                prepared.summary,
                lines,
                resumed=resume or prepared.resumed,
                levels=dict(prepared.levels),
                needs_acceptance=prepared.needs_acceptance,
                again=prepared.again,
            )
            try:
                decision = confirm(request)
            except IplosError as exc:
                self.emit(LogLine(exc.message(), "error"))
                return self._not_sent(prepared, exc.exit_code, exc.message(), exc.hint() or "")
            pin = decision.pin
            if not decision.send:
                self.emit(LogLine(t("submit.not_confirmed"), "warning"))
                return self._not_sent(prepared, ExitCode.INTERRUPTED, t("submit.not_confirmed"))
            if pin is None or not getattr(pin, "is_set", True):
                return self._not_sent(prepared, ExitCode.AUTH, t("submit.no_pin"))
            return pipeline.send(prepared, pin, accept_errors=decision.accept_errors)
        finally:
            pipeline.close()

    def _send(self, pipeline: SubmissionPipeline, prepared: Prepared, confirm: Confirm) -> RunResult:
        """A look-up only (its envelope is gone): asks for the PIN like any run, sends nothing."""
        lines = [t("submit.lookup_only_line", id=prepared.submission_id[:8])]
        try:
            decision = confirm(ConfirmRequest(prepared.submission_id, {}, lines, resumed=True))
        except IplosError as exc:
            return self._not_sent(prepared, exc.exit_code, exc.message(), exc.hint() or "")
        if not decision.send or decision.pin is None:
            return self._not_sent(prepared, ExitCode.INTERRUPTED, t("submit.not_confirmed"))
        return pipeline.send(prepared, decision.pin)

    @staticmethod
    def _not_sent(prepared: Prepared, code: ExitCode, message: str, hint: str = "") -> RunResult:
        return RunResult(False, "not-sent", code, prepared.submission_id, manifest=prepared.manifest_summary(), message=message, hint=hint)



def delivered_receipt(profile: Any) -> str:
    """The receipt of the last delivered submission of the profile's period, or '' (what an
    operator's "send again anyway" names)."""
    from iplos_tui.core.journal import CONFIRMED, Journal

    subs = [s for s in Journal(profile.secure_dir).period(profile.kommunenr or "", profile.bydel or "", int(profile.year)) if s.state == CONFIRMED and not s.superseded]
    return str((subs[-1].receipt or {}).get("receipt_id", "")) if subs else ""
