"""The Feedback pane: SSB's feedback zips in the secure directory and on the gateway, opened with
the PIN in memory, browsed as tables, exported only into a new folder in the secure directory.

Composition and orchestration only: the file list (``widgets/feedback_files``) and the archive
browser (``widgets/archive_browser``) show; the dialogs (``dialogs/``) ask; every flow is in
core — ``FeedbackFetch`` for the gateway, ``open_feedback`` for a zip, ``export_entries`` and
``delete_local`` for files (the mixins ``GatewayFetching`` and ``LocalFileActions`` hold the
gateway and the local halves) — and runs in thread workers whose results come back as messages.
Everything from a zip or from the server is shown as plain text after ``safe_text``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from iplos_tui.core.i18n import t
from iplos_tui.core.journal import JOURNAL_FILE
from iplos_tui.core.secrets import Secret
from iplos_tui.core.text import safe_text
from iplos_tui.dialogs.confirm import ConfirmDialog
from iplos_tui.dialogs.row_view import RowDialog
from iplos_tui.dialogs.secret_prompt import SecretPromptDialog
from iplos_tui.screens.base import PaneScreen
from iplos_tui.screens.feedback_fetching import GatewayFetching, failure
from iplos_tui.screens.feedback_local_files import LocalFileActions
from iplos_tui.widgets.archive_browser import PAGE_SIZE, ArchiveBrowser
from iplos_tui.widgets.feedback_files import FeedbackFileList, FileListState, ZipRow
from iplos_tui.widgets.feedback_format import shown_path, tn

__all__ = ["PAGE_SIZE", "FeedbackScreen"]


class FeedbackScreen(GatewayFetching, LocalFileActions, PaneScreen):
    AUTO_FOCUS = "#fb-zips"
    DEFAULT_CSS = """
    FeedbackScreen #fb-archive { display: none; }
    FeedbackScreen.-archive #fb-archive { display: block; }
    FeedbackScreen.-archive #fb-files { display: none; }
    FeedbackScreen #fb-status { height: auto; max-height: 3; padding: 0 1; text-style: bold; }
    FeedbackScreen #fb-status.-error { color: $error; }
    """
    BINDINGS = [
        Binding("o", "open", t("feedback_screen.open"), id="feedback.open"),
        Binding("h", "fetch", t("feedback_screen.fetch"), id="feedback.fetch"),
        Binding("r", "refresh", t("feedback_screen.refresh"), id="feedback.refresh"),
        Binding("f5", "refresh", t("feedback_screen.refresh"), show=False, id="feedback.refresh_alt"),
        Binding("d", "delete", t("feedback_screen.delete"), id="feedback.delete"),
        Binding("c", "cancel_fetch", t("feedback_screen.cancel_fetch"), id="feedback.cancel_fetch"),
        Binding("s", "search", t("feedback_screen.search"), id="feedback.search"),
        Binding("n", "next_page", t("feedback_screen.next_page"), id="feedback.next_page"),
        Binding("p", "prev_page", t("feedback_screen.prev_page"), id="feedback.prev_page"),
        Binding("v", "reveal", t("feedback_screen.reveal"), id="feedback.reveal"),
        Binding("e", "export", t("feedback_screen.export"), id="feedback.export"),
        Binding("l", "close", t("feedback_screen.close"), id="feedback.close"),
        Binding("escape", "clear_filter", t("feedback_screen.leave_filter"), show=False, id="feedback.leave_filter"),
    ]
    FILE_ACTIONS = ("open", "fetch", "refresh", "delete")
    ARCHIVE_ACTIONS = ("search", "next_page", "prev_page", "reveal", "export", "close")

    # --- messages from the workers ---------------------------------------------------------

    @dataclass
    class Listed(Message):
        zips: list[Any]
        error: str

    @dataclass
    class Inspected(Message):
        path: Path
        error: str

    @dataclass
    class Opened(Message):
        attempt: int
        archive: Any
        typed_pin: Secret | None

    @dataclass
    class OpenFailed(Message):
        attempt: int
        message: str
        kind: str

    @dataclass
    class Revealed(Message):
        name: str
        revealed: Any
        error: str


    def __init__(self) -> None:
        super().__init__()
        self.files = FileListState()
        self.fetching = False
        self.listed = False
        self._fetch_attempt = -1
        self._fetch_args: tuple[bool, frozenset[str]] = (False, frozenset())
        self._attempt = 0  # increases with every PIN or password try; stale answers are dropped
        self._prompt: SecretPromptDialog | None = None
        self._pending_path: Path | None = None
        self._cancel = threading.Event()
        self._hook: Callable[[Any], None] | None = None

    # --- layout and typed accessors ----------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        yield FeedbackFileList(id="fb-files")
        yield ArchiveBrowser(id="fb-archive")
        yield Static("", id="fb-status")

    @property
    def file_list(self) -> FeedbackFileList:
        return self.query_one(FeedbackFileList)

    @property
    def browser(self) -> ArchiveBrowser:
        return self.query_one(ArchiveBrowser)

    @property
    def archive(self) -> Any:
        return self.browser.archive if self.is_mounted else None

    @property
    def local(self) -> list[Any]:
        return self.files.local

    def current_view(self) -> Any:
        return self.browser.current_view()

    def page_count(self) -> int:
        return self.browser.page_count()

    def on_mount(self) -> None:
        from iplos_tui.core.feedback import add_reveal_hook
        from iplos_tui.core.feedback.audit import journal_reveal_hook

        self._hook = journal_reveal_hook(lambda: self.secure_dir)
        add_reveal_hook(self._hook)
        self._show_files()
        self.refresh_local()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.archive is None and self.is_mounted:  # the profile may have changed meanwhile
            self._show_files()
            self.refresh_local()

    def on_unmount(self) -> None:
        from iplos_tui.core.feedback import remove_reveal_hook

        if self._hook is not None:
            remove_reveal_hook(self._hook)
        self._cancel.set()

    # --- shared helpers ----------------------------------------------------------------------

    @property
    def profile(self) -> Any:
        return self.app.profile  # type: ignore[attr-defined]

    @property
    def secure_dir(self) -> Path:
        return Path(self.profile.secure_dir).expanduser()

    @property
    def folder(self) -> Path:
        from iplos_tui.core.feedback.store import feedback_dir

        return feedback_dir(self.secure_dir)

    def status(self, text: str, *, error: bool = False) -> None:
        widget = self.query_one("#fb-status", Static)
        widget.set_class(error, "-error")
        widget.update(Content(safe_text(text, limit=600)))

    def _sandbox_secret(self, name: str) -> str:
        """The sandbox's PIN or gateway password, to prefill a masked field (never printed)."""
        secret = getattr(self.app.sandbox, name, None)  # type: ignore[attr-defined]
        if isinstance(secret, Secret) and secret.is_set:
            return secret.reveal()
        return ""

    def selected_row(self) -> ZipRow | None:
        return self.file_list.selected if self.is_mounted else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        archive_open = self.archive is not None
        if action in self.FILE_ACTIONS:
            if archive_open:
                return False
            if action == "fetch":
                return None if self.fetching else True
            if action in ("open", "delete"):
                row = self.selected_row()
                return True if row is not None and row.kind == "local" else None
            return True
        if action == "cancel_fetch":
            return self.fetching and not archive_open
        if action in self.ARCHIVE_ACTIONS:
            return self._check_archive_action(action) if archive_open else False
        if action == "clear_filter":
            return archive_open
        return True

    def _check_archive_action(self, action: str) -> bool | None:
        browser = self.browser
        if action == "next_page":
            return True if browser.page + 1 < browser.page_count() else None
        if action == "prev_page":
            return True if browser.page > 0 else None
        if action == "reveal":
            view = browser.current_view()
            return True if view is not None and view.table is not None and view.table.masked_cells else None
        return True

    def palette_commands(self) -> Iterable[SystemCommand]:
        for action, key in (
            (self.action_open, "open"),
            (self.action_fetch, "fetch"),
            (self.action_fetch_all, "fetch_all"),
            (self.action_cancel_fetch, "cancel_fetch"),
            (self.action_refresh, "refresh"),
            (self.action_delete, "delete"),
            (self.action_search, "search"),
            (self.action_next_page, "next_page"),
            (self.action_prev_page, "prev_page"),
            (self.action_reveal, "reveal"),
            (self.action_export, "export"),
            (self.action_close, "close"),
        ):
            yield SystemCommand(t(f"feedback_screen.{key}_title"), t(f"feedback_screen.{key}_help"), action)

    @on(ArchiveBrowser.ViewChanged)
    @on(FeedbackFileList.Highlighted)
    def _view_changed(self, message: Message) -> None:
        self.refresh_bindings()

    # --- the file list -----------------------------------------------------------------------

    def _show_files(self) -> None:
        self.file_list.show(self.files, self.folder, self.profile.kommunenr or "", self.profile.bydel or "")
        self.refresh_bindings()

    def refresh_local(self) -> None:
        self._list_worker(self.folder)

    @work(thread=True, exclusive=True, group="feedback-list", exit_on_error=False)
    def _list_worker(self, folder: Path) -> None:
        from iplos_tui.core.feedback import FeedbackError
        from iplos_tui.core.feedback.store import list_local

        try:
            zips, error = list_local(folder), ""
        except FeedbackError as exc:
            zips, error = [], exc.message()
        self.post_message(self.Listed(zips, error))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        self.files.local = message.zips
        self.listed = True
        if message.error:
            self.status(message.error, error=True)
        self._show_files()

    @on(FeedbackFileList.Chosen)
    def _zip_chosen(self, message: FeedbackFileList.Chosen) -> None:
        self.action_open()

    def action_refresh(self) -> None:
        if self.archive is None:
            self.status("")
            self.refresh_local()

    # --- unlocking ---------------------------------------------------------------------------

    def action_open(self) -> None:
        if self.archive is not None:
            return
        row = self.selected_row()
        if row is None:
            self.status(t("feedback_screen.nothing_selected"), error=True)
            return
        if row.kind != "local" or row.path is None:
            self.status(t("feedback_screen.fetch_first"), error=True)
            return
        self.status(t("feedback_screen.checking", name=safe_text(row.name, one_line=True, limit=80)))
        self._inspect_worker(row.path)

    def _where(self) -> dict[str, Any]:
        from iplos_tui.core.feedback.naming import expected_bydel

        return {"kommunenr": self.profile.kommunenr or None, "bydel": expected_bydel(self.profile.bydel)}

    @work(thread=True, exclusive=True, group="feedback-open", exit_on_error=False)
    def _inspect_worker(self, path: Path) -> None:
        """Name and structure first: a refused zip never gets as far as the PIN."""
        from iplos_tui.core.feedback import inspect_feedback

        try:
            inspect_feedback(path, **self._where())
            error = ""
        except Exception as exc:  # noqa: BLE001 - shown, never a crash of the pane
            error = failure(exc)
        self.post_message(self.Inspected(path, error))

    @on(Inspected)
    def _inspected(self, message: Inspected) -> None:
        if message.error:
            self.status(message.error, error=True)
            return
        self._pending_path = message.path
        pin = self.app.pin  # type: ignore[attr-defined]
        if pin is not None and pin.is_set:
            self.status(t("feedback_screen.opening_memory"))
            self._start_open(message.path, pin, typed=False)
        else:
            self.status("")
            self._ask_pin(message.path)

    def _ask_pin(self, path: Path, error: str = "") -> None:
        from iplos_tui.core.secrets import check_pin

        prefill = self._sandbox_secret("pin")
        lines = [t("feedback_screen.pin_body", name=safe_text(path.name, one_line=True, limit=80))]
        if prefill:
            lines.append(t("feedback_screen.prefilled_sandbox"))
        prompt = SecretPromptDialog(
            t("feedback_screen.pin_title"),
            lines,
            [("pin", t("feedback_screen.pin_label"))],
            t("feedback_screen.unlock"),
            lambda values: self._start_open(path, values["pin"], typed=True),
            check=lambda values: check_pin(values["pin"]),
            prefill={"pin": prefill} if prefill else None,
            error=error,
        )
        self._show_prompt(prompt)

    def _show_prompt(self, prompt: SecretPromptDialog) -> None:
        self._prompt = prompt

        def closed(result: bool | None) -> None:
            if self._prompt is prompt:
                self._prompt = None
            if result is None:  # cancelled: whatever answer is still on its way is dropped
                self._attempt += 1
                self._cancel.set()
                self.status(t("feedback_screen.cancelled"))

        self.app.push_screen(prompt, closed)

    def _close_prompt(self) -> None:
        if self._prompt is not None:
            self._prompt.dismiss(True)
            self._prompt = None

    def _start_open(self, path: Path, pin: Secret, *, typed: bool) -> None:
        self._attempt += 1
        self._cancel = threading.Event()
        self._open_worker(path, pin, typed, self._attempt, self._cancel)

    @work(thread=True, exclusive=True, group="feedback-open", exit_on_error=False)
    def _open_worker(self, path: Path, pin: Secret, typed: bool, attempt: int, cancel: threading.Event) -> None:
        from iplos_tui.core.feedback import FeedbackError, open_feedback

        try:
            archive = open_feedback(path, pin, **self._where(), cancel=cancel)
            for entry in archive.entries:  # counted here, so the pane never counts on its event loop
                if entry.table_error is None:
                    entry.stored.counts()
        except Exception as exc:  # noqa: BLE001 - shown, never a crash of the pane
            if typed:
                pin.clear()
            self.post_message(self.OpenFailed(attempt, failure(exc), exc.kind if isinstance(exc, FeedbackError) else "refused"))
            return
        self.post_message(self.Opened(attempt, archive, pin if typed else None))

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        if message.attempt != self._attempt:
            if message.typed_pin is not None:
                message.typed_pin.clear()
            return  # the prompt was cancelled meanwhile
        if message.typed_pin is not None:
            self.app.remember_pin(message.typed_pin)  # type: ignore[attr-defined]  # it proved right
        self._close_prompt()
        self.show_archive(message.archive)

    @on(OpenFailed)
    def _open_failed(self, message: OpenFailed) -> None:
        if message.attempt != self._attempt:
            return
        if message.kind == "auth":
            if self._prompt is not None:
                self._prompt.failed(message.message)  # said there, not twice
            elif self._pending_path is not None:
                self._ask_pin(self._pending_path, error=message.message)  # the PIN in memory did not fit
            return
        self._close_prompt()
        self.status(message.message, error=True)

    # --- the archive -------------------------------------------------------------------------

    def show_archive(self, archive: Any) -> None:
        """Show an opened FeedbackArchive (also used for the README picture)."""
        self.add_class("-archive")
        self.browser.show(archive)
        self.status(t("feedback_screen.opened", name=safe_text(archive.source, one_line=True, limit=80)))
        self.refresh_bindings()

    def action_search(self) -> None:
        if self.archive is not None:
            self.browser.focus_filter()

    def action_clear_filter(self) -> None:
        if self.archive is not None:
            self.browser.clear_filter()

    def action_next_page(self) -> None:
        if self.archive is not None:
            self.browser.next_page()

    def action_prev_page(self) -> None:
        if self.archive is not None:
            self.browser.prev_page()

    @on(ArchiveBrowser.RowChosen)
    def _row_chosen(self, message: ArchiveBrowser.RowChosen) -> None:
        title = t("feedback_screen.row_title", entry=message.entry, row=message.number)
        self.app.push_screen(RowDialog(title, message.header, message.cells))

    def action_close(self) -> None:
        """Back to the file list; the decrypted entries are dropped from memory."""
        if self.archive is None:
            return
        self.browser.clear()
        self.remove_class("-archive")
        self.file_list.focus_list()
        self.status(t("feedback_screen.closed"))
        self.refresh_bindings()

    # --- reveal ------------------------------------------------------------------------------

    def action_reveal(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        name = self.browser.entry_name
        if view.revealed is not None:
            self.browser.set_revealed(name, None)  # back to masked: no question needed
            self.status(t("feedback_screen.masked_again"))
            return
        if not view.table.masked_cells:
            self.status(t("feedback_screen.nothing_to_reveal"))
            return
        lines = [
            tn("feedback_screen.reveal_body", view.table.masked_cells, entry=safe_text(view.table.name, one_line=True, limit=60)),
            t("feedback_screen.reveal_logged", path=shown_path(self.secure_dir / JOURNAL_FILE)),
        ]

        def answer(choice: str | None) -> None:
            if choice == "yes" and self.current_view() is view and name is not None:
                self._reveal_worker(name, view.table)
            elif choice != "yes":
                self.status(t("feedback_screen.not_revealed"))

        self.app.push_screen(ConfirmDialog.yes_no(t("feedback_screen.reveal_confirm_title"), lines, t("feedback_screen.reveal_yes")), answer)

    @work(thread=True, exclusive=True, group="feedback-reveal", exit_on_error=False)
    def _reveal_worker(self, name: str, table: Any) -> None:
        from iplos_tui.core.feedback import RevealRefused

        try:
            revealed, error = table.reveal(), ""  # every registered hook first (our reveal log)
        except RevealRefused as exc:
            revealed, error = None, t("feedback_screen.reveal_refused", reason=str(exc))
        self.post_message(self.Revealed(name, revealed, error))

    @on(Revealed)
    def _revealed(self, message: Revealed) -> None:
        if message.error:
            self.status(message.error, error=True)
            return
        view = self.browser.entries.get(message.name) if self.archive is not None else None
        if view is None:
            return
        self.browser.set_revealed(message.name, message.revealed)
        self.status(tn("feedback_screen.revealed", view.table.masked_cells))
