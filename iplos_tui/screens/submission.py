"""The Submission pane: pick and check the extract, confirm exactly what will be sent, then watch
the run in a live log, and look back at every run in the journal's history.

All blocking work runs in thread workers that call one core flow each (``core/submission``:
the validate step, the submit run); their events go on a queue that a
100 ms timer drains into the widgets, the log with a single ``write_lines`` per tick
(CONVENTIONS.md §7). The PIN is asked for in the confirmation when it is not in memory, kept
only as a ``Secret``, and cleared after a refused login.
"""

from __future__ import annotations

import queue
import textwrap
import threading
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.runs import RunFailed
from iplos_tui.screens.base import PaneScreen
from iplos_tui.widgets.path_input import PathInput
from iplos_tui.widgets.run_log import RunLog
from iplos_tui.widgets.status_area import StatusArea

LOG_MAX_LINES = 5000
DRAIN_INTERVAL = 0.1
BAR_STEPS = ("validate", "encrypt", "upload")


def _wrapped(text: str) -> list[str]:
    """A message in lines that fit the log at 80 columns (the log itself never wraps)."""
    return textwrap.wrap(text, 74, break_long_words=False, break_on_hyphens=False)


def _steps() -> tuple[str, ...]:
    from iplos_tui.core.events import STEPS

    return STEPS


class SubmissionScreen(PaneScreen):
    DEFAULT_CSS = """
    SubmissionScreen #sub-top { height: 1; padding: 0 1; margin-top: 1; }
    SubmissionScreen #sub-top Label { width: auto; padding-right: 1; color: $text-muted; }
    SubmissionScreen #sub-path { width: 1fr; background: $boost; }
    SubmissionScreen #sub-path:focus { background: $primary 30%; }
    SubmissionScreen #sub-deadlines { height: 1; padding: 0 1; color: $text-muted; }
    SubmissionScreen #sub-steps { height: auto; padding: 0 1; grid-size: 3; grid-columns: 28 14 1fr; grid-rows: auto; }
    SubmissionScreen .step-label { width: 28; }
    SubmissionScreen .step-detail { width: 1fr; height: auto; max-height: 2; color: $text-muted; }
    SubmissionScreen ProgressBar { width: 14; }
    SubmissionScreen ProgressBar Bar { width: 12; }
    SubmissionScreen #sub-log { height: 1fr; border: round $primary-darken-2; overflow-x: hidden; scrollbar-size-vertical: 1; scrollbar-background: $panel; }
    SubmissionScreen #sub-history { height: 1fr; display: none; }
    SubmissionScreen.show-history #sub-history { display: block; }
    SubmissionScreen.show-history #sub-log { display: none; }
    """
    AUTO_FOCUS = "#sub-log"  # not the path field: a stray key on arrival must not edit it
    BINDINGS = [
        Binding("f5", "validate", t("submit.pane.validate"), id="submission.validate"),
        Binding("f6", "send", t("submit.pane.send"), id="submission.send"),
        Binding("c", "cancel_run", t("submit.pane.cancel"), id="submission.cancel"),
        Binding("f8", "toggle_history", t("submit.pane.history"), id="submission.history"),
        Binding("g", "continue_unfinished", t("submit.pane.continue_unfinished"), id="submission.continue_unfinished", show=False),
        Binding("s", "write_report", t("submission_screen.report"), id="submission.report"),
        Binding("m", "compare", t("submission_screen.compare"), id="submission.compare"),
    ]

    class Finished(Message):
        def __init__(self, result: Any) -> None:
            super().__init__()
            self.result = result

    def __init__(self) -> None:
        super().__init__()
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.cancel_event = threading.Event()
        self.running = False
        self.last_result: Any = None
        self.allow_again = False
        self.sending = False  # the running run is a send (not only a check)
        self.unfinished_id: str | None = None  # an upload cut off (announced on F3, `g` continues it)

    # --- layout ------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="sub-top"):
            yield Label(t("submit.pane.path_label"))
            yield PathInput(placeholder=t("submit.pane.path_placeholder"), id="sub-path", compact=True)
        yield Static("", id="sub-deadlines")
        with Grid(id="sub-steps"):
            for step in _steps():
                yield Label(Content("· " + t(f"submit.step_{step}")), classes="step-label", id=f"step-{step}")
                if step in BAR_STEPS:
                    yield ProgressBar(total=100, show_eta=False, show_percentage=False, id=f"bar-{step}")
                else:
                    yield Static("", id=f"bar-{step}")
                yield Static("", classes="step-detail", id=f"detail-{step}")
        yield RunLog(max_lines=LOG_MAX_LINES, id="sub-log")
        yield DataTable(id="sub-history", cursor_type="row", zebra_stripes=True)
        yield StatusArea(id="sub-status")

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self.drain_events)
        table = self.query_one("#sub-history", DataTable)
        for key in ("id", "updated", "state", "persons", "receipt", "waiting"):
            table.add_column(t(f"submit.pane.col_{key}"), key=key)
        self.refresh_history()
        self._deadlines()
        self._announce_unfinished(say=False)
        self._status(t("submit.pane.ready"))
        sandbox_extract = getattr(self.app.sandbox, "extract_path", None)  # type: ignore[attr-defined]
        if sandbox_extract is not None:
            self.query_one("#sub-path", Input).value = str(sandbox_extract)
            self._status(t("submit.pane.sandbox_ready"))
        self._announce_unfinished()
        self.app.quit_guards.add(self)  # type: ignore[attr-defined]

    def quit_question(self) -> tuple[str, list[str]] | None:
        """F10 during a send asks first (issue 14 item 8); a check alone ends harmlessly."""
        if not (self.running and self.sending):
            return None
        return t("app.quit_during_upload_title"), [t("app.quit_during_upload")]

    def stop_for_quit(self) -> None:
        self.cancel_event.set()  # the run stops at its next chunk; the journal keeps where it was

    def _announce_unfinished(self, *, say: bool = True) -> None:
        """An upload cut off (a dropped session) is named as `iplos status` names it, with its key."""
        from iplos_tui.core.errors import IplosError
        from iplos_tui.core.status import unfinished_submissions

        try:
            cut_off = [sub for sub in unfinished_submissions(self.app.profile) if sub["interrupted"]]
        except IplosError:  # an unusable journal: the run says why when it is used
            cut_off = []
        self.unfinished_id = cut_off[0]["id"] if cut_off else None
        if cut_off and say:
            self._status(t("submit.pane.unfinished", line=cut_off[0]["line"], key="g"))
        self.refresh_bindings()

    def clock_advanced(self) -> None:
        """F9 in the sandbox moved the clock: what the history waits for may have arrived."""
        self.refresh_history()
        self._deadlines()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.clock_advanced()

    def _deadlines(self) -> None:
        from iplos_tui.core.config import submission_window

        opens, closes, corrections = submission_window(self.app.profile.year)
        text = t("submit.pane.deadlines", opens=f"{opens:%d.%m}", closes=f"{closes:%d.%m.%Y}", corrections=f"{corrections:%d.%m.%Y}")
        last = self._last_confirmed()
        if last is not None:  # what the operator waits for now; the deadline stays in the header
            text = last.waiting_for(self.app.now())  # type: ignore[attr-defined]
        self.query_one("#sub-deadlines", Static).update(Content(safe_text(text, one_line=True)))

    def _last_confirmed(self) -> Any:
        try:
            subs = self._journal().submissions()
        except Exception:  # an unreadable journal shows as empty here; the run says why
            return None
        confirmed = [s for s in subs if s.state == "confirmed"]
        return confirmed[-1] if confirmed else None

    def _journal(self) -> Any:
        from iplos_tui.core.journal import Journal

        return Journal(self.app.profile.secure_dir)

    def _status(self, text: str) -> None:
        self.query_one("#sub-status", StatusArea).show(text)

    def log_lines(self, lines: list[str]) -> None:
        """Queue lines for the log (any thread)."""
        from iplos_tui.core.events import LogLine

        for line in lines:
            self.events.put(LogLine(line))

    # --- the event pump ----------------------------------------------------------------------

    def drain_events(self) -> None:
        from iplos_tui.core import events as pl

        lines: list[str] = []
        latest: dict[str, Any] = {}
        for _ in range(20000):
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if isinstance(event, pl.LogLine):
                mark = {"warning": "! ", "error": "✗ "}.get(event.level, "  ")
                lines.append(mark + safe_text(event.text, one_line=True, limit=400))
            elif isinstance(event, pl.StepProgress):
                latest[event.step] = event  # only the newest progress of a tick counts
            elif isinstance(event, pl.StepStarted):
                self._step(event.step, "▸", "")
                lines.append("▸ " + event.label)
                if self.running:  # what runs now, never a stale "waiting for you" (nor after the end)
                    self._status(event.label + " …")
            elif isinstance(event, pl.StepDone):
                self._step(event.step, "✓", event.detail)
                self._bar(event.step, 1, 1)
                lines.append("✓ " + safe_text(event.detail, one_line=True))
            elif isinstance(event, pl.StepFailed):
                self._step(event.step, "✗", t("submit.pane.step_failed_below"))  # whole in the log and status
                lines.append("✗ " + safe_text(event.reason, one_line=True, limit=400))
                if event.hint:
                    lines.append("  " + safe_text(event.hint, one_line=True, limit=400))
        for step, event in latest.items():
            self._bar(step, event.done, event.total)
            detail = f"{pl.fmt_bytes(event.done)} / {pl.fmt_bytes(event.total)}"
            if event.rate:
                detail += f" · {pl.fmt_bytes(event.rate)}/s"
            if event.eta is not None:
                detail += " · " + t("submit.eta", seconds=f"{event.eta:.0f}")
            self.query_one(f"#detail-{step}", Static).update(Content(detail))
        if lines:
            self.query_one("#sub-log", RunLog).write_lines(lines)

    def _step(self, step: str, mark: str, detail: str) -> None:
        if step not in _steps():
            return
        self.query_one(f"#step-{step}", Label).update(Content(f"{mark} {t(f'submit.step_{step}')}"))
        self.query_one(f"#detail-{step}", Static).update(Content(safe_text(detail, one_line=True, limit=200)))

    def _bar(self, step: str, done: int, total: int) -> None:
        if step in BAR_STEPS:
            self.query_one(f"#bar-{step}", ProgressBar).update(total=100, progress=(100 * done / total) if total else 0)

    def _reset_steps(self) -> None:
        for step in _steps():
            self._step(step, "·", "")
            self._bar(step, 0, 1)

    # --- actions -----------------------------------------------------------------------------

    def _path(self) -> Path | None:
        value = self.query_one("#sub-path", Input).value.strip()
        if not value:
            self._status(t("submit.pane.need_path"))
            self.query_one("#sub-path", Input).focus()
            return None
        return Path(value).expanduser()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("validate", "send", "resume"):
            return not self.running
        if action == "continue_unfinished":
            return self.unfinished_id is not None and not self.running
        if action == "cancel_run":
            return self.running
        return True

    def palette_commands(self):
        from textual.app import SystemCommand

        yield SystemCommand(t("submit.pane.validate") + " (F5)", t("submit.pane.validate_help"), self.action_validate)
        yield SystemCommand(t("submit.pane.send") + " (F6)", t("submit.pane.send_help"), self.action_send)
        yield SystemCommand(t("submit.pane.send_again"), t("submit.pane.send_again_help"), self.action_send_again)
        yield SystemCommand(t("submit.pane.cancel") + " (c)", t("submit.pane.cancel_help"), self.action_cancel_run)
        yield SystemCommand(t("submit.pane.history") + " (F8)", t("submit.pane.history_help"), self.action_toggle_history)
        yield SystemCommand(t("submit.pane.resume") + " (Enter)", t("submit.pane.resume_help"), self.action_resume)
        if self.unfinished_id is not None:
            yield SystemCommand(t("submit.pane.continue_unfinished") + " (g)", t("submit.pane.continue_unfinished_help"), self.action_continue_unfinished)
        yield SystemCommand(t("submission_screen.report") + " (s)", t("submission_screen.report_help"), self.action_write_report)
        yield SystemCommand(t("submission_screen.compare") + " (m)", t("submission_screen.compare_help"), self.action_compare)

    @on(Input.Submitted, "#sub-path")
    def _path_entered(self) -> None:
        self.action_validate()

    def action_validate(self) -> None:
        path = self._path()
        if path is None or self.running:
            return
        self._begin(sending=False)
        self.validate_worker(path, self.app.profile, self.cancel_event)

    def action_send(self) -> None:
        path = self._path()
        if path is None or self.running:
            return
        self._begin()
        self.submit_worker(path, None, self.app.profile, self.cancel_event, self.allow_again)
        self.allow_again = False

    def action_send_again(self) -> None:
        self.allow_again = True
        self.action_send()

    def action_write_report(self) -> None:
        path = self._path()
        if path is not None:
            self.report_worker(path, self.app.profile)

    def action_compare(self) -> None:
        path = self._path()
        if path is not None:
            self.compare_worker(path, self.app.profile)

    def action_cancel_run(self) -> None:
        if self.running:
            self.cancel_event.set()
            self._status(t("submit.cancelling"))

    def action_toggle_history(self) -> None:
        self.toggle_class("show-history")
        if self.has_class("show-history"):
            self.refresh_history()
            self.query_one("#sub-history", DataTable).focus()

    @on(DataTable.RowSelected, "#sub-history")
    def _history_row_chosen(self, event: DataTable.RowSelected) -> None:
        self.action_resume()  # Enter on a journal entry; it asks before anything is sent

    def action_resume(self) -> None:
        """Finish or resolve the highlighted journal entry (history view)."""
        if self.running:
            return
        table = self.query_one("#sub-history", DataTable)
        if not self.has_class("show-history") or table.row_count == 0:
            self._status(t("submit.pane.resume_pick"))
            return
        self._continue(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def action_continue_unfinished(self) -> None:
        if self.unfinished_id is not None and not self.running:
            self._continue(self.unfinished_id)

    def _continue(self, sub_id: str) -> None:
        self._begin()
        self.submit_worker(None, sub_id, self.app.profile, self.cancel_event, False)

    def _begin(self, *, sending: bool = True) -> None:
        self.running = True
        self.sending = sending
        self.cancel_event = threading.Event()
        self._reset_steps()
        self.refresh_bindings()
        self.remove_class("show-history")

    def _end(self) -> None:
        self.running = False
        self.refresh_bindings()
        self.refresh_history()
        self._deadlines()

    # --- workers: each runs one core flow; the pane only maps its events and result ------------

    @work(thread=True, exclusive=True, group="submission", exit_on_error=False)
    def validate_worker(self, path: Path, profile: Any, cancel: threading.Event) -> None:
        from iplos_tui.core.submission import validate_step

        validate_step(path, profile, emit=self.events.put, cancel=cancel)
        self.post_message(self.Finished(None))  # a raise ends the run through on_run_failed

    @work(thread=True, exclusive=True, group="extract", exit_on_error=False)
    def report_worker(self, path: Path, profile: Any) -> None:
        from iplos_tui.core.validation import report_for_profile

        written = report_for_profile(path, profile)[1]
        self.log_lines(_wrapped(t("submission_screen.report_written", text=str(written.text_path), csv=str(written.csv_path))))

    @work(thread=True, exclusive=True, group="extract", exit_on_error=False)
    def compare_worker(self, path: Path, profile: Any) -> None:
        from iplos_tui.core.extract.compare import render_comparison
        from iplos_tui.core.validation import compare_with_previous

        found = compare_with_previous(path, profile)
        if found is None:
            self.log_lines(_wrapped(t("submission_screen.compare_none")))
            return
        old, comparison = found
        self.log_lines(render_comparison(comparison, new_name=path.name, old_name=old.name).splitlines())

    @work(thread=True, exclusive=True, group="submission", exit_on_error=False)
    def submit_worker(self, path: Path | None, sub_id: str | None, profile: Any, cancel: threading.Event, allow_again: bool) -> None:
        from iplos_tui.core.submission import SubmitRun, delivered_receipt

        run = SubmitRun(profile, emit=self.events.put, cancel=cancel, client_factory=self.app.services.get("sendemodul_client"), now=self._now_for_certificates())
        if sub_id is not None:
            result = run.resume(sub_id, self._confirm_from_worker)
        else:
            # "Send again anyway" names the period's last receipt; the confirmation shows it.
            result = run.run(path, self._confirm_from_worker, again=delivered_receipt(profile) if allow_again else "")
        self.post_message(self.Finished(result))  # a raise ends the run through on_run_failed

    def _now_for_certificates(self):
        # The sandbox runs on its own clock (January 2018); the certificates are checked against it.
        sandbox = self.app.sandbox
        clock = getattr(getattr(sandbox, "clock", None), "now", None)
        return clock if callable(clock) else None

    def _confirm_from_worker(self, request: Any) -> Any:
        """The core's ``confirm``, called in the worker: show the dialog and wait for its answer."""
        from concurrent.futures import Future, TimeoutError

        from textual.worker import get_current_worker

        from iplos_tui.core.submission import Decision

        answer: Future = Future()
        self.app.call_from_thread(self._show_confirm, request, answer)
        worker = get_current_worker()
        while True:
            try:
                return answer.result(timeout=0.2)
            except TimeoutError:
                if worker.is_cancelled:
                    return Decision.no()

    def _show_confirm(self, request: Any, answer: Any) -> None:
        from iplos_tui.core.submission import Decision
        from iplos_tui.dialogs.send_confirm import SEND_WITH_ERRORS, ConfirmSend

        self.drain_events()  # what the run said before it asked comes first, never over the question
        self._status(t("submit.pane.waiting_confirm"))
        need_pin = self.app.pin is None or not self.app.pin.is_set

        dialog = ConfirmSend(request, need_pin)

        def done(choice: str | None) -> None:
            if choice is None:
                answer.set_result(Decision.no())
                return
            if dialog.pin is not None:
                self.app.remember_pin(dialog.pin)
            answer.set_result(Decision(True, self.app.pin, accept_errors=choice == SEND_WITH_ERRORS))

        self.app.push_screen(dialog, done)

    # --- messages ----------------------------------------------------------------------------

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self._finish(message.result)

    def on_run_failed(self, message: RunFailed) -> None:
        """A worker raised: the app has shown why (iplos_tui/runs.py); the pane is free again."""
        if message.group in ("submission", "extract"):
            from iplos_tui.core.events import LogLine

            self.events.put(LogLine(message.explanation.message, "warning" if message.cancelled else "error"))
            if message.group == "extract":  # the report or the comparison failed; no run to end
                return
            self._finish(None)
            self._status(message.explanation.message)

    def _finish(self, result: Any) -> None:
        from iplos_tui.core.status import state_label

        self.last_result = result
        if result is not None:
            if result.auth_refused and self.app.pin is not None:
                self.app.remember_pin(None)  # a refused PIN is not kept
            if result.ok:
                self._status(result.message)
            else:
                self._status(f"{state_label(result.state)}: {result.message}")
        else:
            self._status(t("submit.pane.ready"))
        self._end()

    def refresh_history(self) -> None:
        from iplos_tui.core.journal import short_time
        from iplos_tui.core.status import journal_status

        table = self.query_one("#sub-history", DataTable)
        table.clear()
        try:
            subs = journal_status(self.app.profile, self.app.now())["submissions"]  # type: ignore[attr-defined]
        except Exception as exc:  # shown, not raised: the pane stays usable
            self._status(safe_text(str(exc), one_line=True))
            return
        for sub in reversed(subs):
            receipt = (sub.get("receipt") or {}).get("receipt_id", "") or "–"
            row = (sub["id"][:8], short_time(sub["updated"]), sub["label"], str(sub["persons"]), receipt, sub["waiting_for"])
            table.add_row(*(Text(safe_text(cell, one_line=True, limit=160)) for cell in row), key=sub["id"])
