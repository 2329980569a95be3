"""The Board pane (F7): every municipality of the fleet on one screen, what needs a person first
(core/fleet/board.py); the highlighted row's whole line below the table. Enter switches the console
to that municipality; `p` runs the preflight for all (core/fleet/preflight_round.py), `f` fetches
the feedback of every gateway user (core/fleet/feedback_round.py; each password asked in a masked
dialog at its turn). The pane only maps core data and events to its widgets."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from iplos_tui.core.fleet.board import BoardRow, cells, level_counts
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.runs import RunFailed, RunFinished
from iplos_tui.screens.base import PaneScreen
from iplos_tui.widgets.board_table import BoardTable


class BoardScreen(PaneScreen):
    AUTO_FOCUS = "#board-table"
    HELP = t("fleet_screen.help")
    DEFAULT_CSS = """
    BoardScreen #board-status { height: 1; padding: 0 1; text-style: bold; }
    BoardScreen #board-detail { height: 3; padding: 0 1; border-top: solid $primary; }
    """
    BINDINGS = [
        Binding("f5", "refresh", t("fleet_screen.refresh"), id="board.refresh"),
        Binding("p", "preflight_all", t("fleet_screen.preflight_all"), id="board.preflight_all"),
        Binding("f", "feedback_all", t("fleet_screen.feedback_all"), id="board.feedback_all"),
        Binding("c", "cancel", t("fleet_screen.cancel"), id="board.cancel"),
    ]

    class RoundProgress(Message):
        def __init__(self, done: int, total: int, running: str = "fleet_screen.preflight_running") -> None:
            super().__init__()
            self.done, self.total, self.running = done, total, running

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[BoardRow] = []
        self.loaded_at: dt.datetime | None = None
        self._cancel: threading.Event | None = None
        self._progress = ""

    def compose_body(self) -> ComposeResult:
        yield Static("", id="board-status")
        yield BoardTable(id="board-table")
        yield Static("", id="board-detail")

    @property
    def table(self) -> BoardTable:
        return self.query_one("#board-table", BoardTable)

    def on_mount(self) -> None:
        self.action_refresh()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.loaded_at is not None:
            self.action_refresh()

    # --- loading -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        config = getattr(self.app, "fleet_config", None)
        if config is not None and not self.busy:
            self._load_worker(config, self.app.now())  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="board", exit_on_error=False)
    def _load_worker(self, config: Any, now: dt.datetime) -> list[BoardRow]:
        from iplos_tui.core.fleet.board import build_board
        from iplos_tui.core.profiles import load_fleet

        return build_board(load_fleet(config), now)

    @on(RunFinished)
    def _finished(self, message: RunFinished) -> None:
        if message.group == "board":
            self.rows = list(message.result)
            self.loaded_at = self.app.now()  # type: ignore[attr-defined]
            self.table.show_rows(self.rows)
            self._refresh_status()
            self._refresh_detail()
        elif message.group in ("board-preflight", "board-feedback"):
            self._cancel, self._progress = None, ""
            self.refresh_bindings()
            self.action_refresh()
            if message.group == "board-feedback":
                fetched = sum(1 for outcome in message.result if outcome.state == "fetched")
                self.notify(t("fleet.feedback_summary", fetched=fetched, total=len(message.result)))

    @on(RunFailed)
    def _failed(self, message: RunFailed) -> None:
        if message.group in ("board-preflight", "board-feedback"):
            self._cancel, self._progress = None, ""
            self.refresh_bindings()
            self.action_refresh()
        self._refresh_status()

    # --- the preflight for all -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def action_preflight_all(self) -> None:
        config = getattr(self.app, "fleet_config", None)
        if config is None or self.busy:
            return
        self._cancel = threading.Event()
        self._progress = t("fleet_screen.preflight_running", done=0, total=len(self.rows))
        self._refresh_status()
        self.refresh_bindings()
        options = dict(getattr(self.app, "services", {}).get("preflight", {}))
        self._preflight_worker(config, self._cancel, options)

    @work(thread=True, exclusive=True, group="board-preflight", exit_on_error=False)
    def _preflight_worker(self, config: Any, cancel: threading.Event, options: dict[str, Any]) -> int:
        from iplos_tui.core.fleet.preflight_round import FleetPreflight, ProfileDone
        from iplos_tui.core.profiles import load_fleet

        fleet = load_fleet(config)
        total, done = len(fleet.entries), [0]

        def emit(event: object) -> None:
            if isinstance(event, ProfileDone):
                done[0] += 1
                self.post_message(self.RoundProgress(done[0], total))

        FleetPreflight(fleet.entries, emit=emit, cancel=cancel, now=self.app.now, check_options=options).run()  # type: ignore[attr-defined]
        return done[0]

    @on(RoundProgress)
    def _round_progress(self, message: RoundProgress) -> None:
        self._progress = t(message.running, done=message.done, total=message.total)
        self._refresh_status()

    # --- the feedback for all --------------------------------------------------------------------

    def action_feedback_all(self) -> None:
        config = getattr(self.app, "fleet_config", None)
        if config is None or self.busy:
            return
        self._cancel = threading.Event()
        self._progress = t("fleet_screen.feedback_running", done=0, total=len(self.rows))
        self._refresh_status()
        self.refresh_bindings()
        self._feedback_worker(config, self._cancel)

    @work(thread=True, exclusive=True, group="board-feedback", exit_on_error=False)
    def _feedback_worker(self, config: Any, cancel: threading.Event) -> list[Any]:
        from iplos_tui.core.fleet.feedback_round import FleetFeedback, ProfileDone
        from iplos_tui.core.profiles import load_fleet

        fleet = load_fleet(config)
        total, done = len(fleet.entries), [0]

        def emit(event: object) -> None:
            if isinstance(event, ProfileDone):
                done[0] += 1
                self.post_message(self.RoundProgress(done[0], total, "fleet_screen.feedback_running"))

        def password_for(account: Any) -> Any:
            import concurrent.futures

            answer: concurrent.futures.Future[Any] = concurrent.futures.Future()
            self.app.call_from_thread(self._password_prompt, account, answer)
            while True:
                try:
                    return answer.result(timeout=0.2)
                except concurrent.futures.TimeoutError:
                    if cancel.is_set():
                        return None

        return FleetFeedback(fleet.entries, password_for=password_for, emit=emit, cancel=cancel, now=self.app.now).run()  # type: ignore[attr-defined]

    def _password_prompt(self, account: Any, answer: Any) -> None:
        """The masked dialog for one gateway user's password; Esc skips that user."""
        from iplos_tui.dialogs.secret_prompt import SecretPromptDialog

        def submitted(secrets: dict[str, Any]) -> None:
            if not answer.done():
                answer.set_result(secrets["password"])
            dialog.dismiss(True)

        def closed(result: object) -> None:
            if not answer.done():
                answer.set_result(None)

        dialog = SecretPromptDialog(
            t("fleet_screen.feedback_prompt_title", ids=", ".join(account.ids)),
            [t("fleet_screen.feedback_prompt_body", username=safe_text(account.username, one_line=True, limit=120))],
            [("password", t("fleet_screen.feedback_password"))],
            t("fleet_screen.feedback_fetch"),
            submitted,
        )
        self.app.push_screen(dialog, callback=closed)

    def action_cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.busy
        if action in ("preflight_all", "feedback_all"):
            return not self.busy
        return True

    # --- the view --------------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#board-table")
    def _highlighted(self) -> None:
        self._refresh_detail()

    @on(DataTable.RowSelected, "#board-table")
    def _selected(self) -> None:
        row = self.table.highlighted_row()
        if row is not None and not row.problem:
            self.app.use_profile(row.id)  # type: ignore[attr-defined]

    def _refresh_status(self) -> None:
        if self._progress:
            text = self._progress
        elif not self.rows:
            text = t("fleet_screen.empty")
        else:
            counts = level_counts(self.rows)
            text = t("fleet.summary", profiles=len(self.rows), **counts)
        self.query_one("#board-status", Static).update(Content(text))

    def _refresh_detail(self) -> None:
        row = self.table.highlighted_row()
        if row is None:
            self.query_one("#board-detail", Static).update("")
            return
        facts = []
        cell = cells(row)
        if cell["accepted"]:
            facts.append(t("fleet_screen.fact_accepted", errors=row.accepted.get("error", 0), warnings=row.accepted.get("warning", 0)))
        if row.feedback_gateway_new:
            facts.append(t("fleet.need.feedback_new", count=row.feedback_gateway_new).rstrip("."))
        elif row.feedback_local:
            facts.append(t("fleet_screen.fact_feedback", date=cell["feedback"]))
        if row.receipt_id:
            facts.append(t("fleet_screen.fact_receipt", receipt=row.receipt_id, at=row.received_at[:16].replace("T", " ")))
        if row.preflight_at:
            facts.append(t("fleet_screen.fact_preflight", at=row.preflight_at[:16].replace("T", " ")))
        if row.feedback_seen_at:
            facts.append(t("fleet_screen.fact_gateway", at=row.feedback_seen_at[:16].replace("T", " ")))
        head = f"{' '.join(part for part in (row.id, row.name) if part)}: {row.need}"
        text = safe_text(head, one_line=True) + ("\n" + safe_text(" · ".join(facts), one_line=True) if facts else "")
        self.query_one("#board-detail", Static).update(Content(text))

    def palette_commands(self) -> list[SystemCommand]:
        return [
            SystemCommand(f"{t('fleet_screen.refresh')} (F5)", t("fleet_screen.refresh_help"), self.action_refresh),
            SystemCommand(f"{t('fleet_screen.preflight_all')} (P)", t("fleet_screen.preflight_all_help"), self.action_preflight_all),
            SystemCommand(f"{t('fleet_screen.feedback_all')} (F)", t("fleet_screen.feedback_all_help"), self.action_feedback_all),
        ]
