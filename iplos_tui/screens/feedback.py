"""The Feedback pane: SSB's feedback zips in the secure directory and on the gateway, opened with
the PIN in memory, browsed as tables, exported only into the secure directory.

Two views in one screen. The file list (local zips, and the gateway's files once fetched; new ones
marked) and, after a zip is unlocked, the archive: its entries, the selected entry as a paged
table with a filter and the findings counted per rule and per severity.

All I/O runs in thread workers (listing, gateway, decrypting, parsing, filtering, export, delete);
their results come back as messages. The PIN and the gateway password are typed into masked
fields that stay open while the value is tried, so a wrong one is answered in place (message
shown, field cleared). Everything from a zip or from the server is shown as plain text after
``safe_text`` (DataTable cells as ``rich.text.Text``, never markup).
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from iplos_tui.core.i18n import t
from iplos_tui.core.journal import JOURNAL_FILE
from iplos_tui.core.secrets import Secret
from iplos_tui.core.text import safe_text
from iplos_tui.dialogs.confirm import ConfirmDialog
from iplos_tui.dialogs.secret_prompt import SecretPromptDialog
from iplos_tui.screens.base import PaneScreen

PAGE_SIZE = 500  # rows in the DataTable at once (CONVENTIONS §8); n / p turn the page
CELL_LIMIT = 40  # characters of one cell on screen; the full value stays in memory
# then the name, as wide as fits: a 40-character feedback name fits at 80 columns
ZIP_COLUMNS = (("mark", 3), ("where", 8), ("date", 10), ("size", 8))
MIN_NAME_WIDTH = 24
FILTER_DELAY = 0.25  # seconds after the last keystroke before the filter runs


def tn(key: str, count: int, **values: object) -> str:
    """``key`` with a count: ``key_one`` for exactly one, where the catalog has it (Norwegian
    and English both say «1 fil» / «2 filer»)."""
    from iplos_tui.core.i18n import has

    if count == 1 and has(f"{key}_one"):
        key = f"{key}_one"
    return t(key, count=fmt_count(count), **values)


def fmt_size(size: int) -> str:
    """At most 8 characters: «812 B», «1,5 KiB», «23 KiB», «64 MiB»."""
    if size < 1024:
        return f"{size} B"
    for unit, scale in (("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024**3)):
        value = size / scale
        if value < 1024 or unit == "GiB":
            return (f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}").replace(".", ",")
    return f"{size} B"


def fmt_count(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def tilde(path: Path | str) -> str:
    """``~`` for the home directory (what ``os.path.expanduser`` turns back)."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        text = "~" + text[len(home):]
    return text


def shown_path(path: Path | str) -> str:
    """A path for the screen: ``~`` for the home directory, control characters made visible."""
    return safe_text(tilde(path), one_line=True)


def plain(text: str, style: str = "") -> Text:
    """A DataTable cell: plain text, never parsed as markup."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def reveal_log_hook(secure_dir: Callable[[], Path]) -> Callable[[Any], None]:
    """A reveal hook that writes one record per reveal to the submission journal in the secure
    directory (no values, only what was shown: zip, entry, rows, count, OS user).
    If it cannot write, it raises, and the reveal is refused."""
    from iplos_tui.core.journal import Journal, JournalError

    def hook(event: Any) -> None:
        try:
            user = getpass.getuser()
        except Exception:  # no user name in the environment: the uid still says who
            user = ""
        try:
            Journal(Path(secure_dir()).expanduser()).event(
                "reveal_fnr",
                shown_at=event.at.isoformat(timespec="seconds"),
                zip=event.source,
                entry=event.entry,
                rows="all" if event.rows is None else len(event.rows),
                cells=event.cells,
                user=safe_text(user, one_line=True, limit=64),
                uid=os.geteuid(),
            )
        except JournalError as exc:
            raise OSError(exc.message()) from None

    return hook


# ---- modals ---------------------------------------------------------------------------------

class ExportPrompt(ModalScreen[str | None]):
    """Where to export: a folder inside the secure directory (prefilled), checked by the core."""

    DEFAULT_CSS = """
    ExportPrompt { align: center middle; }
    ExportPrompt > Vertical { width: 78; height: auto; max-height: 22; border: thick $warning; background: $surface; padding: 0 1; }
    ExportPrompt .export-title { text-style: bold; }
    ExportPrompt .export-body { height: auto; max-height: 12; }
    ExportPrompt Input { margin-top: 1; }
    ExportPrompt Horizontal { height: 3; align: right middle; }
    ExportPrompt Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", t("feedback_screen.cancel"), id="feedback.export.cancel")]
    AUTO_FOCUS = "#export-path"

    def __init__(self, lines: list[str], default: str) -> None:
        super().__init__()
        self._lines = lines
        self._default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(t("feedback_screen.export_confirm_title")), classes="export-title")
            yield Static(Content("\n".join(self._lines)), classes="export-body")
            yield Input(self._default, compact=True, select_on_focus=False, id="export-path")
            with Horizontal():
                yield Button(t("feedback_screen.cancel"), id="export-cancel")
                yield Button(t("feedback_screen.export"), variant="warning", id="export-ok")

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def action_export(self) -> None:
        value = self.query_one("#export-path", Input).value.strip()
        if value:
            self.dismiss(value)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# ---- the pane -------------------------------------------------------------------------------

@dataclass
class ZipRow:
    """One row of the file list: a local zip, or a gateway file that is not here yet."""

    kind: str  # "local" | "remote"
    name: str  # untrusted; shown through safe_text
    size: int
    date: str
    path: Path | None = None
    remote: Any = None  # GatewayFile
    local: Any = None  # LocalZip
    new: bool = False
    matches: bool = True
    info: Any = None


@dataclass
class EntryView:
    """The state of one entry of the open archive."""

    table: Any = None  # Table once parsed
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    revealed: list[list[str]] | None = None


class FeedbackScreen(PaneScreen):
    AUTO_FOCUS = "#fb-zips"
    DEFAULT_CSS = """
    FeedbackScreen #fb-archive { display: none; }
    FeedbackScreen.-archive #fb-archive { display: block; }
    FeedbackScreen.-archive #fb-files { display: none; }
    FeedbackScreen #fb-folder, FeedbackScreen #fb-head, FeedbackScreen #fb-page {
        height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    FeedbackScreen #fb-head { text-style: bold; }
    FeedbackScreen #fb-zips { height: 1fr; scrollbar-size-vertical: 1; }
    FeedbackScreen #fb-detail {
        height: 6; border-top: solid $primary; padding: 0 1; color: $text;
    }
    FeedbackScreen #fb-entries { height: auto; max-height: 4; }
    FeedbackScreen #fb-filter { margin: 0 1; }
    FeedbackScreen #fb-counts {
        height: 2; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    FeedbackScreen #fb-table { height: 1fr; }
    FeedbackScreen #fb-page { color: $text-muted; }
    FeedbackScreen #fb-status { height: auto; max-height: 2; padding: 0 1; text-style: bold; }
    FeedbackScreen #fb-status.-error { color: $error; }
    """
    BINDINGS = [
        Binding("o", "open", t("feedback_screen.open"), id="feedback.open"),
        Binding("h", "fetch", t("feedback_screen.fetch"), id="feedback.fetch"),
        Binding("f6", "fetch", t("feedback_screen.fetch"), show=False, id="feedback.fetch_alt"),
        Binding("r", "refresh", t("feedback_screen.refresh"), id="feedback.refresh"),
        Binding("f5", "refresh", t("feedback_screen.refresh"), show=False, id="feedback.refresh_alt"),
        Binding("d", "delete", t("feedback_screen.delete"), id="feedback.delete"),
        Binding("c", "cancel_fetch", t("feedback_screen.cancel_fetch"), id="feedback.cancel_fetch"),
        Binding("s", "search", t("feedback_screen.search"), id="feedback.search"),
        Binding("n", "next_page", t("feedback_screen.next_page"), id="feedback.next_page"),
        Binding("p", "prev_page", t("feedback_screen.prev_page"), id="feedback.prev_page"),
        Binding("v", "reveal", t("feedback_screen.reveal"), id="feedback.reveal"),
        Binding("f7", "reveal", t("feedback_screen.reveal"), show=False, id="feedback.reveal_alt"),
        Binding("e", "export", t("feedback_screen.export"), id="feedback.export"),
        Binding("f8", "export", t("feedback_screen.export"), show=False, id="feedback.export_alt"),
        Binding("l", "close", t("feedback_screen.close"), id="feedback.close"),
        Binding("escape", "leave_filter", t("feedback_screen.leave_filter"), show=False, id="feedback.leave_filter"),
    ]
    FILE_ACTIONS = ("open", "fetch", "refresh", "delete")
    ARCHIVE_ACTIONS = ("search", "next_page", "prev_page", "reveal", "export", "close")

    # --- messages from the workers ---------------------------------------------------------

    class Listed(Message):
        def __init__(self, zips: list[Any], error: str) -> None:
            super().__init__()
            self.zips = zips
            self.error = error

    class Inspected(Message):
        def __init__(self, path: Path, error: str) -> None:
            super().__init__()
            self.path = path
            self.error = error

    class Opened(Message):
        def __init__(self, attempt: int, archive: Any, first: EntryView | None, typed_pin: Secret | None) -> None:
            super().__init__()
            self.attempt = attempt
            self.archive = archive
            self.first = first
            self.typed_pin = typed_pin

    class OpenFailed(Message):
        def __init__(self, attempt: int, message: str, kind: str) -> None:
            super().__init__()
            self.attempt = attempt
            self.message = message
            self.kind = kind

    class EntryLoaded(Message):
        def __init__(self, archive: Any, name: str, view: EntryView) -> None:
            super().__init__()
            self.archive = archive
            self.name = name
            self.view = view

    class Filtered(Message):
        def __init__(self, name: str, query: str, indices: list[int] | None) -> None:
            super().__init__()
            self.name = name
            self.query = query
            self.indices = indices

    class LoginResult(Message):
        def __init__(self, attempt: int, error: str = "", change: Any = None) -> None:
            super().__init__()
            self.attempt = attempt
            self.error = error
            self.change = change  # PasswordRequirements when the gateway wants a new password

    class FetchProgress(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Fetched(Message):
        def __init__(self, attempt: int, files: list[Any] | None, downloaded: dict[str, Path], errors: list[str], error: str) -> None:
            super().__init__()
            self.attempt = attempt
            self.files = files
            self.downloaded = downloaded
            self.errors = errors
            self.error = error

    class Revealed(Message):
        def __init__(self, name: str, rows: list[list[str]] | None, error: str) -> None:
            super().__init__()
            self.name = name
            self.rows = rows
            self.error = error

    class Exported(Message):
        def __init__(self, paths: list[Path], target: Path, error: str) -> None:
            super().__init__()
            self.paths = paths
            self.target = target
            self.error = error

    class Deleted(Message):
        def __init__(self, path: Path, error: str) -> None:
            super().__init__()
            self.path = path
            self.error = error

    def __init__(self) -> None:
        super().__init__()
        self.local: list[Any] = []
        self.remote: list[Any] | None = None  # the gateway's listing; None: not asked yet
        self.remote_done: set[str] = set()  # ids fetched in this session (no longer new there)
        self._fetch_attempt = -1
        self._fetch_args: tuple[bool, set[str]] = (False, set())
        self.remote_checked: dt.datetime | None = None
        self.fresh: set[str] = set()  # local names that came in as new files from the gateway
        self.rows: dict[str, ZipRow] = {}
        self.archive: Any = None
        self.entries: dict[str, EntryView] = {}
        self.entry_name: str | None = None
        self.query_text = ""
        self.indices: list[int] | None = None  # rows matching the filter (None: all)
        self.page = 0
        self.fetching = False
        self.listed = False
        self._attempt = 0  # increases with every PIN or password try; stale answers are dropped
        self._prompt: SecretPromptDialog | None = None
        self._pending_path: Path | None = None
        self._cancel = threading.Event()
        self._filter_timer: Any = None
        self._hook: Callable[[Any], None] | None = None
        self._zip_name_width = 0

    # --- layout ------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Vertical(id="fb-files"):
            yield Static("", id="fb-folder")
            yield DataTable(id="fb-zips", cursor_type="row", zebra_stripes=False)
            yield Static("", id="fb-detail")
        with Vertical(id="fb-archive"):
            yield Static("", id="fb-head")
            yield DataTable(id="fb-entries", cursor_type="row", zebra_stripes=False)
            yield Input(placeholder=t("feedback_screen.filter_placeholder"), compact=True, id="fb-filter")
            yield Static("", id="fb-counts")
            yield DataTable(id="fb-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="fb-page")
        yield Static("", id="fb-status")

    def on_mount(self) -> None:
        from iplos_tui.core.feedback import add_reveal_hook

        self._hook = reveal_log_hook(lambda: self.secure_dir)
        add_reveal_hook(self._hook)
        entries = self.query_one("#fb-entries", DataTable)
        for key in ("entry", "rows", "size", "sha256"):
            entries.add_column(t(f"feedback_screen.col_{key}"), key=key)
        self._show_rows()
        self.refresh_local()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.archive is None and self.is_mounted:  # the profile may have changed meanwhile
            self._show_folder()
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
        widget.update(Content(safe_text(text, limit=400)))

    def _sandbox_secret(self, name: str) -> str:
        """The sandbox's PIN or gateway password, to prefill a masked field (never printed)."""
        secret = getattr(self.app.sandbox, name, None)  # type: ignore[attr-defined]
        if isinstance(secret, Secret) and secret.is_set:
            return secret.reveal()
        return ""

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
            if not archive_open:
                return False
            if action == "next_page":
                return True if self.page + 1 < self.page_count() else None
            if action == "prev_page":
                return True if self.page > 0 else None
            if action == "reveal":
                view = self.current_view()
                return True if view is not None and view.table is not None and view.table.masked_cells else None
            return True
        if action == "leave_filter":
            return archive_open
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

    # --- the file list -----------------------------------------------------------------------

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
        self.local = message.zips
        self.listed = True
        if message.error:
            self.status(message.error, error=True)
        self._show_rows()

    def _build_rows(self) -> list[ZipRow]:
        from iplos_tui.core.feedback.naming import parse_feedback_name
        from iplos_tui.core.filsluse import local_name_for

        kommunenr, bydel = self.profile.kommunenr or None, self.profile.bydel or None
        rows: list[ZipRow] = []
        names = set()
        for z in self.local:
            names.add(z.name)
            rows.append(
                ZipRow(
                    "local", z.name, z.size, self._date(z.info), path=z.path, local=z,
                    new=z.name in self.fresh, matches=z.matches(kommunenr, bydel), info=z.info,
                )
            )
        for f in self.remote or []:
            if f.id in self.remote_done or local_name_for(f) in names:
                continue  # fetched already: the local row stands for it
            info = parse_feedback_name(f.name)
            date = self._date(info) if info and info.date else safe_text(f.upload_stamp[:10], one_line=True)
            matches = bool(info and (not kommunenr or info.kommunenr == kommunenr) and (not bydel or info.bydel == bydel))
            rows.append(ZipRow("remote", f.name, f.size, date, remote=f, new=f.is_new, matches=matches, info=info))
        return rows

    @staticmethod
    def _date(info: Any) -> str:
        return info.date.strftime("%d.%m.%Y") if info is not None and info.date else "–"

    def _name_width(self) -> int:
        fixed = sum(width for _, width in ZIP_COLUMNS) + 2 * (len(ZIP_COLUMNS) + 1) + 1  # padding, scrollbar
        return max(self.size.width - fixed, MIN_NAME_WIDTH)

    def on_resize(self) -> None:
        if self._zip_name_width != self._name_width():
            self._show_rows()

    def _show_rows(self) -> None:
        table = self.query_one("#fb-zips", DataTable)
        cursor = table.cursor_row if table.row_count else 0
        self._zip_name_width = self._name_width()
        table.clear(columns=True)
        for key, width in ZIP_COLUMNS:
            table.add_column(t(f"feedback_screen.col_{key}"), width=width, key=key)
        table.add_column(t("feedback_screen.col_name"), width=self._zip_name_width, key="name")
        self.rows = {}
        for index, row in enumerate(self._build_rows()):
            key = f"z{index}"
            self.rows[key] = row
            mark = (t("feedback_screen.mark_new") if row.new else "") + ("!" if not row.matches else "")
            where = t(f"feedback_screen.where_{row.kind}")
            table.add_row(
                plain(mark, "bold yellow" if row.new else "bold red"),
                plain(where, "" if row.kind == "local" else "italic"),
                plain(row.date),
                plain(fmt_size(row.size)),
                plain(safe_text(row.name, one_line=True, limit=self._zip_name_width)),
                key=key,
            )
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self._show_folder()
        self._show_detail()
        self.refresh_bindings()

    def _show_folder(self) -> None:
        local = len(self.local)
        parts = [t("feedback_screen.folder", path=shown_path(self.folder))]
        if local:
            parts.append(tn("feedback_screen.local_count", local))
        if self.remote is None:
            parts.append(t("feedback_screen.gateway_unchecked"))
        else:
            new = sum(1 for f in self.remote if f.is_new and f.id not in self.remote_done)
            when = self.remote_checked.strftime("%H:%M") if self.remote_checked else ""
            parts.append(tn("feedback_screen.gateway_checked", len(self.remote), new=new, time=when))
        self.query_one("#fb-folder", Static).update(Content(" · ".join(parts)))

    def selected_row(self) -> ZipRow | None:
        try:
            table = self.query_one("#fb-zips", DataTable)
        except Exception:
            return None
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def _show_detail(self) -> None:
        row = self.selected_row()
        box = self.query_one("#fb-detail", Static)
        if row is None:
            box.update(Content(t("feedback_screen.intro", path=shown_path(self.folder))))
            return
        lines = [Content.styled(safe_text(row.name, one_line=True, limit=200), "bold")]
        if row.kind == "local":
            lines.append(Content(t("feedback_screen.detail_local", path=shown_path(row.path), size=fmt_count(row.size))))
        else:
            f = row.remote
            lines.append(Content(t(
                "feedback_screen.detail_remote",
                size=fmt_count(row.size),
                stamp=safe_text(f.upload_stamp, one_line=True, limit=40),
                by=safe_text(f.upload_username, one_line=True, limit=60) or "–",
            )))
        if row.info is None:
            lines.append(Content.styled(t("feedback_screen.detail_unknown_name"), "red"))
        elif row.matches:
            lines.append(Content(t("feedback_screen.detail_matches", kommunenr=row.info.kommunenr, bydel=row.info.bydel, date=self._date(row.info))))
        else:
            lines.append(Content.styled(t(
                "feedback_screen.detail_other", kommunenr=row.info.kommunenr, bydel=row.info.bydel,
                expected_kommunenr=self.profile.kommunenr or "–", expected_bydel=self.profile.bydel or "–",
            ), "red"))
        if row.new:
            lines.append(Content.styled(t("feedback_screen.detail_new"), "yellow"))
        hint = "feedback_screen.hint_local" if row.kind == "local" else "feedback_screen.hint_remote"
        lines.append(Content.styled(t(hint), "dim"))
        box.update(Content("\n").join(lines))

    @on(DataTable.RowHighlighted, "#fb-zips")
    def _zip_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()

    @on(DataTable.RowSelected, "#fb-zips")
    def _zip_selected(self, event: DataTable.RowSelected) -> None:
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
        if row.kind != "local":
            self.status(t("feedback_screen.fetch_first"), error=True)
            return
        self.status(t("feedback_screen.checking", name=safe_text(row.name, one_line=True, limit=80)))
        self._inspect_worker(row.path)

    @work(thread=True, exclusive=True, group="feedback-open", exit_on_error=False)
    def _inspect_worker(self, path: Path) -> None:
        """Name and structure first: a refused zip never gets as far as the PIN."""
        from iplos_tui.core.feedback import FeedbackError, inspect_feedback

        profile = self.profile
        try:
            inspect_feedback(path, kommunenr=profile.kommunenr or None, bydel=profile.bydel or None)
            error = ""
        except FeedbackError as exc:
            error = exc.message()
        except Exception as exc:  # noqa: BLE001 - shown, never a crash of the pane
            error = safe_text(f"{type(exc).__name__}: {exc}", one_line=True, limit=200)
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

    def _start_open(self, path: Path, pin: Secret, *, typed: bool) -> None:
        self._attempt += 1
        self._cancel = threading.Event()
        self._open_worker(path, pin, typed, self._attempt, self._cancel)

    @work(thread=True, exclusive=True, group="feedback-open", exit_on_error=False)
    def _open_worker(self, path: Path, pin: Secret, typed: bool, attempt: int, cancel: threading.Event) -> None:
        from iplos_tui.core.feedback import FeedbackError, open_feedback

        profile = self.profile
        try:
            archive = open_feedback(path, pin, kommunenr=profile.kommunenr or None, bydel=profile.bydel or None, cancel=cancel)
        except FeedbackError as exc:
            if typed:
                pin.clear()
            self.post_message(self.OpenFailed(attempt, exc.message(), exc.kind))
            return
        except Exception as exc:  # noqa: BLE001
            if typed:
                pin.clear()
            self.post_message(self.OpenFailed(attempt, safe_text(f"{type(exc).__name__}: {exc}", one_line=True, limit=200), "refused"))
            return
        first = _load_entry(archive, archive.entries[0].name) if archive.entries else None
        self.post_message(self.Opened(attempt, archive, first, pin if typed else None))

    @on(Opened)
    def _opened(self, message: Opened) -> None:
        if message.attempt != self._attempt:
            if message.typed_pin is not None:
                message.typed_pin.clear()
            return  # the prompt was cancelled meanwhile
        if message.typed_pin is not None:
            self.app.remember_pin(message.typed_pin)  # type: ignore[attr-defined]  # it proved right
        if self._prompt is not None:
            self._prompt.dismiss(True)
            self._prompt = None
        self.show_archive(message.archive, message.first)

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
        if self._prompt is not None:
            self._prompt.dismiss(True)
            self._prompt = None
        self.status(message.message, error=True)

    # --- the archive view --------------------------------------------------------------------

    def show_archive(self, archive: Any, first: EntryView | None = None) -> None:
        """Show an opened FeedbackArchive (also used by the demo picture)."""
        self.archive = archive
        self.entries = {entry.name: EntryView() for entry in archive.entries}
        if first is not None and archive.entries:
            self.entries[archive.entries[0].name] = first
        self.entry_name = None
        self.add_class("-archive")
        info = archive.info
        head = [safe_text(archive.source, one_line=True, limit=60)]
        if info is not None:  # the date is in the name already, the entries in the table below
            head.append(t("feedback_screen.head_profile", kommunenr=info.kommunenr, bydel=info.bydel))
        self.query_one("#fb-head", Static).update(Content(" · ".join(head)))
        entries = self.query_one("#fb-entries", DataTable)
        entries.clear()
        for index, entry in enumerate(archive.entries):
            view = self.entries[entry.name]
            rows = fmt_count(len(view.table)) if view.table is not None else "…"
            entries.add_row(
                plain(entry.display_name), plain(rows), plain(fmt_size(entry.size)), plain(entry.sha256[:16] + "…", "dim"), key=f"e{index}"
            )
        self.query_one("#fb-filter", Input).value = ""
        self.status(t("feedback_screen.opened", name=safe_text(archive.source, one_line=True, limit=80)))
        if archive.entries:
            entries.move_cursor(row=0)
            self.select_entry(archive.entries[0].name)
            self.query_one("#fb-table", DataTable).focus()
            if len(archive.entries) > 1:
                self._preload_worker(archive, [e.name for e in archive.entries[1:]])
        self.refresh_bindings()

    def current_view(self) -> EntryView | None:
        if self.archive is None or self.entry_name is None:
            return None
        return self.entries.get(self.entry_name)

    @on(DataTable.RowHighlighted, "#fb-entries")
    def _entry_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.archive is None or event.row_key is None:
            return
        index = int(str(event.row_key.value)[1:])
        if 0 <= index < len(self.archive.entries):
            self.select_entry(self.archive.entries[index].name)

    @on(DataTable.RowSelected, "#fb-entries")
    def _entry_selected(self, event: DataTable.RowSelected) -> None:
        self.query_one("#fb-table", DataTable).focus()

    def select_entry(self, name: str) -> None:
        if name == self.entry_name:
            return
        self.entry_name = name
        self.page = 0
        self.query_text = self.query_one("#fb-filter", Input).value.strip()
        self.indices = None
        view = self.entries[name]
        if view.table is None:
            self._clear_table(t("feedback_screen.loading"))
            self._entry_worker(self.archive, name)
        elif self.query_text:
            self._filter_worker(name, view.table, self.query_text)
        else:
            self._render_entry()

    @work(thread=True, exclusive=True, group="feedback-entry", exit_on_error=False)
    def _entry_worker(self, archive: Any, name: str) -> None:
        self.post_message(self.EntryLoaded(archive, name, _load_entry(archive, name)))

    @work(thread=True, exclusive=True, group="feedback-preload", exit_on_error=False)
    def _preload_worker(self, archive: Any, names: list[str]) -> None:
        """The other entries, parsed in the background so their row counts show."""
        for name in names:
            if self.archive is not archive:
                return
            self.post_message(self.EntryLoaded(archive, name, _load_entry(archive, name)))

    @on(EntryLoaded)
    def _entry_loaded(self, message: EntryLoaded) -> None:
        if message.archive is not self.archive:
            return
        if self.entries[message.name].table is not None:
            return  # parsed twice (preload and selection): keep the first, it may be revealed
        self.entries[message.name] = message.view
        self._update_entry_rows(message.name)
        if message.name == self.entry_name:
            if self.query_text:
                self._filter_worker(message.name, message.view.table, self.query_text)
            else:
                self._render_entry()

    def _update_entry_rows(self, name: str) -> None:
        entries = self.query_one("#fb-entries", DataTable)
        for index, entry in enumerate(self.archive.entries):
            if entry.name == name and self.entries[name].table is not None:
                entries.update_cell(f"e{index}", "rows", plain(fmt_count(len(self.entries[name].table))))

    def _clear_table(self, note: str) -> None:
        self.query_one("#fb-table", DataTable).clear(columns=True)
        self.query_one("#fb-counts", Static).update("")
        self.query_one("#fb-page", Static).update(Content(note))

    def visible_indices(self) -> list[int] | range:
        view = self.current_view()
        if view is None or view.table is None:
            return []
        return range(len(view.table)) if self.indices is None else self.indices

    def page_count(self) -> int:
        total = len(self.visible_indices())
        return max(1, -(-total // PAGE_SIZE))

    def _render_entry(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        self._show_counts(view)
        self._render_page()

    def _show_counts(self, view: EntryView) -> None:
        lines = []
        for key in ("rule", "severity"):
            counts = view.counts.get(key) or {}
            if counts:
                items = " · ".join(f"{safe_text(name, one_line=True, limit=30) or '–'} {fmt_count(count)}" for name, count in counts.items())
                lines.append(f"{t(f'feedback_screen.per_{key}')}: {items}")
        if not lines:
            from iplos_tui.core.feedback.tables import RULE_COLUMNS

            if len(view.table) == 0 and view.table.column(*RULE_COLUMNS) is not None:
                lines.append(t("feedback_screen.no_findings"))  # an error list without errors
            else:
                lines.append(t("feedback_screen.no_counts", rows=fmt_count(len(view.table)), columns=len(view.table.header)))
        self.query_one("#fb-counts", Static).update(Content("\n".join(lines)))

    def _render_page(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        table = view.table
        indices = self.visible_indices()
        self.page = max(0, min(self.page, self.page_count() - 1))
        start = self.page * PAGE_SIZE
        chosen = indices[start:start + PAGE_SIZE]
        source = view.revealed if view.revealed is not None else table.rows
        header = table.header
        width = max([len(header), *(len(source[i]) for i in chosen)], default=0)
        grid = self.query_one("#fb-table", DataTable)
        grid.clear(columns=True)
        grid.add_column(plain(t("feedback_screen.col_row")), key="row")
        for column in range(width):
            label = header[column] if column < len(header) and header[column] else t("feedback_screen.col_n", n=column + 1)
            grid.add_column(plain(_cut(label), "bold"), key=f"c{column}")
        rows = []
        for i in chosen:
            cells = source[i]
            rows.append([plain(str(i + 1), "dim"), *(plain(_cut(cells[c]) if c < len(cells) else "") for c in range(width))])
        grid.add_rows(rows)
        self._show_page_line(len(indices), start, len(chosen), view)
        self.refresh_bindings()

    def _show_page_line(self, total: int, start: int, shown: int, view: EntryView) -> None:
        parts = []
        if shown:
            parts.append(t("feedback_screen.rows_range", first=fmt_count(start + 1), last=fmt_count(start + shown), total=fmt_count(total)))
        else:
            parts.append(t("feedback_screen.rows_none"))
        if self.indices is not None:
            parts.append(t("feedback_screen.filter_hits", query=safe_text(self.query_text, one_line=True, limit=20), of=fmt_count(len(view.table))))
        if self.page_count() > 1:
            parts.append(t("feedback_screen.page", page=self.page + 1, pages=self.page_count()))
        if view.table.masked_cells:
            key = "feedback_screen.fnr_shown" if view.revealed is not None else "feedback_screen.fnr_masked"
            parts.append(t(key, count=fmt_count(view.table.masked_cells)))
        self.query_one("#fb-page", Static).update(Content(" · ".join(parts)))

    # --- filter and pages --------------------------------------------------------------------

    def action_search(self) -> None:
        if self.archive is not None:
            self.query_one("#fb-filter", Input).focus()

    def action_leave_filter(self) -> None:
        if self.archive is not None and self.focused is self.query_one("#fb-filter", Input):
            self.query_one("#fb-table", DataTable).focus()

    @on(Input.Changed, "#fb-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, self._apply_filter)

    @on(Input.Submitted, "#fb-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter()
        self.query_one("#fb-table", DataTable).focus()

    def _apply_filter(self) -> None:
        self._filter_timer = None
        view = self.current_view()
        if view is None or view.table is None:
            return
        query = self.query_one("#fb-filter", Input).value.strip()
        if query == self.query_text and (self.indices is not None or not query):
            return
        self.query_text = query
        if not query:
            self.indices = None
            self.page = 0
            self._render_page()
            return
        self._filter_worker(self.entry_name, view.table, query)

    @work(thread=True, exclusive=True, group="feedback-filter", exit_on_error=False)
    def _filter_worker(self, name: str, table: Any, query: str) -> None:
        self.post_message(self.Filtered(name, query, table.search(query)))

    @on(Filtered)
    def _filtered(self, message: Filtered) -> None:
        if message.name != self.entry_name or message.query != self.query_text:
            return
        self.indices = message.indices
        self.page = 0
        view = self.current_view()
        if view is not None and view.table is not None:
            self._show_counts(view)
        self._render_page()

    def action_next_page(self) -> None:
        if self.archive is not None and self.page + 1 < self.page_count():
            self.page += 1
            self._render_page()

    def action_prev_page(self) -> None:
        if self.archive is not None and self.page > 0:
            self.page -= 1
            self._render_page()

    # --- reveal ------------------------------------------------------------------------------

    def action_reveal(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        if view.revealed is not None:
            view.revealed = None  # back to masked: no question needed
            self.status(t("feedback_screen.masked_again"))
            self._render_page()
            return
        if not view.table.masked_cells:
            self.status(t("feedback_screen.nothing_to_reveal"))
            return
        name = self.entry_name
        lines = [
            tn("feedback_screen.reveal_body", view.table.masked_cells, entry=safe_text(view.table.name, one_line=True, limit=60)),
            t("feedback_screen.reveal_logged", path=shown_path(self.secure_dir / JOURNAL_FILE)),
        ]

        def answer(choice: str | None) -> None:
            yes = choice == "yes"
            if yes and self.current_view() is view and name is not None:
                self._reveal_worker(name, view.table)
            elif not yes:
                self.status(t("feedback_screen.not_revealed"))

        self.app.push_screen(ConfirmDialog.yes_no(t("feedback_screen.reveal_confirm_title"), lines, t("feedback_screen.reveal_yes")), answer)

    @work(thread=True, exclusive=True, group="feedback-reveal", exit_on_error=False)
    def _reveal_worker(self, name: str, table: Any) -> None:
        from iplos_tui.core.feedback import RevealRefused

        try:
            rows, error = table.reveal(), ""  # every registered hook first (our reveal log)
        except RevealRefused as exc:
            rows, error = None, t("feedback_screen.reveal_refused", reason=str(exc))
        self.post_message(self.Revealed(name, rows, error))

    @on(Revealed)
    def _revealed(self, message: Revealed) -> None:
        if message.error:
            self.status(message.error, error=True)
            return
        view = self.entries.get(message.name) if self.archive is not None else None
        if view is None:
            return
        view.revealed = message.rows
        self.status(tn("feedback_screen.revealed", view.table.masked_cells))
        if message.name == self.entry_name:
            self._render_page()

    # --- export ------------------------------------------------------------------------------

    def default_export_dir(self) -> Path:
        from iplos_tui.core.feedback.store import safe_local_name

        stem = self.archive.source.rsplit("/", 1)[-1]
        stem = stem[:-4] if stem.lower().endswith(".zip") else stem
        return self.folder / safe_local_name(stem, fallback="tilbakemelding")

    def action_export(self) -> None:
        if self.archive is None:
            return
        names = ", ".join(entry.display_name for entry in self.archive.entries)
        lines = [
            tn("feedback_screen.export_body", len(self.archive.entries), names=safe_text(names, one_line=True, limit=120)),
            t("feedback_screen.export_inside", secure=shown_path(self.secure_dir)),
        ]
        archive = self.archive

        def answer(value: str | None) -> None:
            if value is None:
                self.status(t("feedback_screen.not_exported"))
                return
            target = Path(os.path.expanduser(value))
            self.status(t("feedback_screen.exporting", path=shown_path(target)))
            self._export_worker(archive, target, self.secure_dir)

        self.app.push_screen(ExportPrompt(lines, tilde(self.default_export_dir())), answer)

    @work(thread=True, exclusive=True, group="feedback-export", exit_on_error=False)
    def _export_worker(self, archive: Any, target: Path, secure: Path) -> None:
        from iplos_tui.core.feedback import FeedbackError
        from iplos_tui.core.feedback.store import OutsideSecureDir, export_entries
        from iplos_tui.core.fsutil import UnsafePathError

        try:
            paths, error = export_entries(archive, target, secure), ""
        except OutsideSecureDir:
            paths, error = [], t("feedback_screen.export_outside", path=shown_path(target), secure=shown_path(secure))
        except FeedbackError as exc:
            paths, error = [], exc.message()
        except (OSError, UnsafePathError) as exc:
            paths, error = [], t("feedback_screen.export_failed", detail=safe_text(str(exc), one_line=True, limit=200))
        self.post_message(self.Exported(paths, target, error))

    @on(Exported)
    def _exported(self, message: Exported) -> None:
        if message.error:
            self.status(message.error, error=True)
            return
        self.status(tn("feedback_screen.exported", len(message.paths), path=shown_path(message.target)))

    # --- close -------------------------------------------------------------------------------

    def action_close(self) -> None:
        """Back to the file list; the decrypted entries are dropped from memory."""
        if self.archive is None:
            return
        self.archive = None
        self.entries = {}
        self.entry_name = None
        self.indices = None
        self.query_text = ""
        self.query_one("#fb-filter", Input).value = ""
        self.query_one("#fb-entries", DataTable).clear()
        self._clear_table("")
        self.remove_class("-archive")
        self.query_one("#fb-zips", DataTable).focus()
        self.status(t("feedback_screen.closed"))
        self.refresh_bindings()

    # --- delete ------------------------------------------------------------------------------

    def action_delete(self) -> None:
        if self.archive is not None:
            return
        row = self.selected_row()
        if row is None or row.kind != "local":
            self.status(t("feedback_screen.delete_local_only"), error=True)
            return
        path = row.path
        lines = [
            t("feedback_screen.delete_body", name=safe_text(row.name, one_line=True, limit=80)),
            t("feedback_screen.delete_where", path=shown_path(path.parent)),
        ]

        def answer(choice: str | None) -> None:
            if choice == "yes":
                self._delete_worker(path, self.secure_dir)
            else:
                self.status(t("feedback_screen.not_deleted"))

        self.app.push_screen(ConfirmDialog.yes_no(t("feedback_screen.delete_confirm_title"), lines, t("feedback_screen.delete_yes"), danger=True), answer)

    @work(thread=True, exclusive=True, group="feedback-delete", exit_on_error=False)
    def _delete_worker(self, path: Path, secure: Path) -> None:
        from iplos_tui.core.feedback import FeedbackError
        from iplos_tui.core.feedback.store import delete_local

        try:
            delete_local(path, secure)
            error = ""
        except FeedbackError as exc:
            error = exc.message()
        except OSError as exc:
            error = t("feedback_screen.delete_failed", detail=safe_text(exc.strerror or str(exc), one_line=True))
        self.post_message(self.Deleted(path, error))

    @on(Deleted)
    def _deleted(self, message: Deleted) -> None:
        if message.error:
            self.status(message.error, error=True)
        else:
            self.fresh.discard(message.path.name)
            self.status(t("feedback_screen.deleted", name=safe_text(message.path.name, one_line=True, limit=80)))
        self.refresh_local()

    # --- the gateway -------------------------------------------------------------------------

    def action_fetch(self) -> None:
        self._fetch(all_files=False)

    def action_fetch_all(self) -> None:
        self._fetch(all_files=True)

    def _fetch(self, *, all_files: bool) -> None:
        if self.archive is not None or self.fetching:
            return
        profile = self.profile
        username = profile.gateway_username
        if not username:
            self.status(t("filsluse.no_username"), error=True)
            return
        if not str(profile.feedback_url).lower().startswith("https://"):
            self.status(t("feedback_screen.gateway_not_https"), error=True)
            return
        wanted = set()
        row = self.selected_row()
        if row is not None and row.kind == "remote":
            wanted.add(row.remote.id)
        self._ask_password(username, all_files, wanted)

    def _ask_password(self, username: str, all_files: bool, wanted: set[str], *, change: Any = None, error: str = "") -> None:
        from iplos_tui.core.filsluse import check_new_password

        profile = self.profile
        lines = [t("feedback_screen.password_body", user=safe_text(username, one_line=True, limit=60), url=safe_text(profile.feedback_url, one_line=True, limit=60))]
        prefill = self._sandbox_secret("gateway_password") if change is None else ""
        if change is None:
            fields = [("password", t("feedback_screen.password_label"))]
            lines.append(t("feedback_screen.password_not_stored"))
            check = None
        else:
            fields = [
                ("password", t("feedback_screen.password_current")),
                ("new", t("feedback_screen.password_new")),
                ("again", t("feedback_screen.password_again")),
            ]
            lines.append(t("feedback_screen.password_change_rules", min=max(6, change.minimum_length)))

            def check(values: dict[str, str]) -> str:
                if values["new"] != values["again"]:
                    return t("feedback_screen.passwords_differ")
                reasons = check_new_password(values["new"], username, change)
                return t("filsluse.pw_rejected", reasons="; ".join(reasons)) if reasons else ""

        if prefill:
            lines.append(t("feedback_screen.prefilled_sandbox"))

        def submit(values: dict[str, Secret]) -> None:
            for key in ("again",):
                if key in values:
                    values[key].clear()
            self._start_fetch(username, values["password"], values.get("new"), all_files, wanted, change)

        prompt = SecretPromptDialog(
            t("feedback_screen.password_title" if change is None else "feedback_screen.password_change_title"),
            lines,
            fields,
            t("feedback_screen.fetch"),
            submit,
            check=check,
            prefill={"password": prefill} if prefill else None,
            error=error,
        )
        self._show_prompt(prompt)

    def _start_fetch(self, username: str, password: Secret, new_password: Secret | None, all_files: bool, wanted: set[str], change: Any) -> None:
        self._attempt += 1
        self._fetch_attempt = self._attempt
        self._fetch_args = (all_files, set(wanted))
        self._cancel = threading.Event()
        self.fetching = True
        self.refresh_bindings()
        self.status(t("feedback_screen.logging_in"))
        self._fetch_worker(self.profile, username, password, new_password, all_files, wanted, change, self._attempt, self._cancel)

    @work(thread=True, exclusive=True, group="feedback-gateway", exit_on_error=False)
    def _fetch_worker(
        self, profile: Any, username: str, password: Secret, new_password: Secret | None, all_files: bool,
        wanted: set[str], change: Any, attempt: int, cancel: threading.Event,
    ) -> None:
        from iplos_tui.core.feedback.store import feedback_dir
        from iplos_tui.core.filsluse import GatewayClient, GatewayError, PasswordChangeRequired
        from iplos_tui.core.fsutil import UnsafePathError

        files: list[Any] | None = None
        downloaded: dict[str, Path] = {}
        errors: list[str] = []
        error = ""
        logged_in = False
        try:
            with GatewayClient(profile.feedback_url, ca_bundle=profile.feedback_ca_bundle) as client:
                try:
                    if new_password is not None:
                        client.login(username, password, new_password=new_password, requirements=change)
                    else:
                        client.login(username, password)
                except PasswordChangeRequired as required:
                    self.post_message(self.LoginResult(attempt, required.message(), required.requirements))
                    return
                except GatewayError as exc:
                    if exc.kind in ("auth", "usage"):
                        self.post_message(self.LoginResult(attempt, exc.message()))
                        return
                    raise
                finally:
                    password.clear()
                    if new_password is not None:
                        new_password.clear()
                logged_in = True
                self.post_message(self.LoginResult(attempt))
                files = client.list_files()
                target = feedback_dir(Path(profile.secure_dir).expanduser())
                todo = [f for f in files if f.is_new or all_files or f.id in wanted]
                for number, remote in enumerate(todo, start=1):
                    if cancel.is_set():
                        error = t("feedback_screen.fetch_cancelled")
                        break
                    self.post_message(self.FetchProgress(t(
                        "feedback_screen.downloading", n=number, total=len(todo), name=remote.display_name[:60]
                    )))
                    try:
                        got = client.download(remote, target, cancel=cancel)
                    except GatewayError as exc:
                        if exc.kind in ("auth", "network", "cancelled"):
                            raise
                        errors.append(exc.message())
                        continue
                    downloaded[remote.id] = got.path
                    if remote.is_new:
                        client.mark_not_new(remote.id)
        except GatewayError as exc:
            error = exc.message()
        except (OSError, UnsafePathError) as exc:
            error = t("feedback_screen.write_failed", detail=safe_text(str(exc), one_line=True, limit=200))
        except Exception as exc:  # noqa: BLE001 - shown, never a crash of the pane
            error = safe_text(f"{type(exc).__name__}: {exc}", one_line=True, limit=200)
        finally:
            password.clear()
            if new_password is not None:
                new_password.clear()
        if not logged_in:
            self.post_message(self.LoginResult(attempt, error or t("feedback_screen.login_failed")))
            return
        self.post_message(self.Fetched(attempt, files, downloaded, errors, error))

    @on(LoginResult)
    def _login_result(self, message: LoginResult) -> None:
        if message.error and message.attempt == self._fetch_attempt:
            self.fetching = False  # the worker has ended
            self.refresh_bindings()
        if message.attempt != self._attempt:
            return  # the prompt was cancelled meanwhile
        prompt = self._prompt
        if not message.error:
            if prompt is not None:
                prompt.dismiss(True)
                self._prompt = None
            self.status(t("feedback_screen.listing"))
            return
        if message.change is not None:
            if prompt is not None:
                prompt.dismiss(True)
                self._prompt = None
            all_files, wanted = self._fetch_args
            self._ask_password(self.profile.gateway_username, all_files, wanted, change=message.change, error=message.error)
            return
        if prompt is not None:
            prompt.failed(message.error)
        else:
            self.status(message.error, error=True)

    @on(FetchProgress)
    def _fetch_progress(self, message: FetchProgress) -> None:
        if self.fetching:
            self.status(message.text)

    @on(Fetched)
    def _fetched(self, message: Fetched) -> None:
        if message.attempt == self._fetch_attempt:
            self.fetching = False
        # whatever was fetched is on disk now, even after a cancel: show it
        if message.files is not None:
            self.remote = message.files
            self.remote_done = set(message.downloaded)
            self.remote_checked = self.app.now()  # type: ignore[attr-defined]
            newly = {f.id for f in message.files if f.is_new}
            for file_id, path in message.downloaded.items():
                if file_id in newly:
                    self.fresh.add(path.name)
        texts = []
        if message.downloaded:
            texts.append(tn("feedback_screen.fetched", len(message.downloaded), path=shown_path(self.folder)))
        elif message.files is not None and not message.error:
            texts.append(tn("feedback_screen.fetched_none", len(message.files)))
        texts.extend(message.errors)
        if message.error:
            texts.append(message.error)
        self.status(" ".join(texts), error=bool(message.error or message.errors))
        self.refresh_local()

    def action_cancel_fetch(self) -> None:
        if self.fetching:
            self._cancel.set()
            self.status(t("feedback_screen.cancelling"))

    # --- README picture ----------------------------------------------------------------------

    async def demo_state(self, pilot: Any) -> None:
        """For the README picture (scripts/make_screens.py): an opened feedback zip (in memory)."""
        archive = demo_archive()
        self.show_archive(archive, _load_entry(archive, archive.entries[0].name))
        await pilot.pause()


def _cut(text: str) -> str:
    from iplos_tui.core.feedback.tables import cut

    return cut(text, CELL_LIMIT)


def _load_entry(archive: Any, name: str) -> EntryView:
    """Parse one entry (in a worker): the table and its counts per rule and severity."""
    table = archive.table(name)
    return EntryView(table=table, counts=table.counts())


def demo_archive() -> Any:
    """A feedback archive built in memory for the README picture (synthetic numbers: month + 80)."""
    import hashlib

    from iplos_tui.core.feedback.naming import parse_feedback_name
    from iplos_tui.core.feedback.reader import FeedbackArchive, FeedbackEntry

    rows = [
        ("P0007", "F001", "feil", "fnr", "01918099960", "Ugyldig fødselsnummer"),
        ("P0019", "F014", "advarsel", "timer", "170", "Mer enn 168 timer per uke"),
        ("P0023", "F014", "advarsel", "timer", "212", "Mer enn 168 timer per uke"),
        ("P0031", "F022", "advarsel", "orgnr", "", "Mangler orgnr for tjenesten"),
        ("P0044", "F030", "feil", "vedtaksdato", "2018-13-01", "Ugyldig dato"),
        ("P0052", "F014", "advarsel", "timer", "190", "Mer enn 168 timer per uke"),
        ("P0068", "F041", "merknad", "skår", "7", "Skår utenfor 1–5 og 9"),
        ("P0071", "F001", "feil", "fnr", "17927200000", "Ugyldig fødselsnummer"),
    ]
    feil = ("\ufefflokal_id;regel;alvorlighet;felt;verdi;melding\r\n" + "".join(";".join(r) + "\r\n" for r in rows)).encode("utf-8")
    kontroll = ("\ufefftjeneste;aldersgruppe;brukere;timer\r\n" + "".join(f"{c};{a};{(c * 7 + a) % 97};{c * 3.5}\r\n" for c in range(1, 12) for a in (0, 18, 67, 80))).encode("utf-8")
    name = "040300_iplos_tilbakemelding_20180109.zip"
    entries = tuple(
        FeedbackEntry(entry_name, len(data), hashlib.sha256(data).hexdigest(), data)
        for entry_name, data in (("feilliste.csv", feil), ("kontrolltabeller.csv", kontroll))
    )
    return FeedbackArchive(source=name, info=parse_feedback_name(name), entries=entries)
