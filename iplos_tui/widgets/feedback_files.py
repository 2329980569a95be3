"""The Feedback pane's file list: the local zips and the gateway's files (new ones marked), a
folder line above and the highlighted file's details below.

The list only shows; the pane decides. It posts ``Highlighted`` when the cursor moves and
``Chosen`` on Enter. ``show()`` takes plain values (the local zips, the gateway's listing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Static

from iplos_tui.core.feedback.naming import FeedbackName, matches_profile, parse_feedback_name
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.widgets.feedback_format import fmt_count, fmt_size, plain, shown_path, tn

# then the name, as wide as fits: a 40-character feedback name fits at 80 columns
ZIP_COLUMNS = (("mark", 3), ("where", 8), ("date", 10), ("size", 8))
MIN_NAME_WIDTH = 24


@dataclass
class ZipRow:
    """One row of the file list: a local zip, or a gateway file that is not here yet."""

    kind: str  # "local" | "remote"
    name: str  # untrusted; shown through safe_text
    size: int
    date: str
    path: Path | None = None
    remote: Any = None  # GatewayFile
    new: bool = False
    matches: bool = True
    info: FeedbackName | None = None


@dataclass
class FileListState:
    """What the list shows: the local zips, the gateway's files and what this session did."""

    local: list[Any] = field(default_factory=list)  # LocalZip
    remote: list[Any] | None = None  # GatewayFile; None: the gateway was not asked yet
    remote_done: set[str] = field(default_factory=set)  # ids fetched this session
    remote_checked: dt.datetime | None = None
    fresh: set[str] = field(default_factory=set)  # local names that came in as new files


def _date(info: FeedbackName | None) -> str:
    return info.date.strftime("%d.%m.%Y") if info is not None and info.date else "–"


def build_rows(state: FileListState, kommunenr: str, bydel: str) -> list[ZipRow]:
    """Local zips first, then the gateway's files not fetched yet (one profile-match rule)."""
    rows: list[ZipRow] = []
    names = set()
    for z in state.local:
        names.add(z.name)
        rows.append(ZipRow("local", z.name, z.size, _date(z.info), path=z.path, new=z.name in state.fresh, matches=z.matches(kommunenr, bydel), info=z.info))
    for f in state.remote or []:
        if f.id in state.remote_done or f.name in names:
            continue  # fetched already: the local row stands for it
        info = parse_feedback_name(f.name)
        date = _date(info) if info and info.date else safe_text(f.upload_stamp[:10], one_line=True)
        rows.append(ZipRow("remote", f.name, f.size, date, remote=f, new=f.is_new, matches=matches_profile(info, kommunenr, bydel), info=info))
    return rows


class FeedbackFileList(Vertical):
    DEFAULT_CSS = """
    FeedbackFileList #fb-folder { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    FeedbackFileList #fb-zips { height: 1fr; scrollbar-size-vertical: 1; }
    FeedbackFileList #fb-detail { height: 6; border-top: solid $primary; padding: 0 1; color: $text; }
    """

    @dataclass
    class Highlighted(Message):
        row: ZipRow | None

    @dataclass
    class Chosen(Message):
        row: ZipRow

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, ZipRow] = {}
        self.folder = Path()
        self.kommunenr = ""
        self.bydel = ""
        self._state = FileListState()
        self._name_width_shown = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="fb-folder")
        yield DataTable(id="fb-zips", cursor_type="row", zebra_stripes=False)
        yield Static("", id="fb-detail")

    # typed accessors
    @property
    def table(self) -> DataTable:
        return self.query_one("#fb-zips", DataTable)

    @property
    def detail(self) -> Static:
        return self.query_one("#fb-detail", Static)

    @property
    def folder_line(self) -> Static:
        return self.query_one("#fb-folder", Static)

    def focus_list(self) -> None:
        self.table.focus()

    @property
    def selected(self) -> ZipRow | None:
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def show(self, state: FileListState, folder: Path, kommunenr: str, bydel: str) -> None:
        self._state, self.folder, self.kommunenr, self.bydel = state, folder, kommunenr, bydel
        table = self.table
        cursor = table.cursor_row if table.row_count else 0
        self._name_width_shown = self._name_width()
        table.clear(columns=True)
        for key, width in ZIP_COLUMNS:
            table.add_column(t(f"feedback_screen.col_{key}"), width=width, key=key)
        table.add_column(t("feedback_screen.col_name"), width=self._name_width_shown, key="name")
        self.rows = {}
        for index, row in enumerate(build_rows(state, kommunenr, bydel)):
            key = f"z{index}"
            self.rows[key] = row
            mark = (t("feedback_screen.mark_new") if row.new else "") + ("!" if not row.matches else "")
            table.add_row(
                plain(mark, "bold yellow" if row.new else "bold red"),
                plain(t(f"feedback_screen.where_{row.kind}"), "" if row.kind == "local" else "italic"),
                plain(row.date),
                plain(fmt_size(row.size)),
                plain(safe_text(row.name, one_line=True, limit=self._name_width_shown)),
                key=key,
            )
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self.show_folder_line()
        self._show_detail()

    def show_folder_line(self) -> None:
        state = self._state
        parts = [t("feedback_screen.folder", path=shown_path(self.folder))]
        if state.local:
            parts.append(tn("feedback_screen.local_count", len(state.local)))
        if state.remote is None:
            parts.append(t("feedback_screen.gateway_unchecked"))
        else:
            new = sum(1 for f in state.remote if f.is_new and f.id not in state.remote_done)
            when = state.remote_checked.strftime("%H:%M") if state.remote_checked else ""
            parts.append(tn("feedback_screen.gateway_checked", len(state.remote), new=new, time=when))
        self.folder_line.update(Content(" · ".join(parts)))

    def _name_width(self) -> int:
        fixed = sum(width for _, width in ZIP_COLUMNS) + 2 * (len(ZIP_COLUMNS) + 1) + 1  # padding, scrollbar
        return max(self.size.width - fixed, MIN_NAME_WIDTH)

    def on_resize(self) -> None:
        if self._name_width_shown != self._name_width() and self.is_mounted:
            self.show(self._state, self.folder, self.kommunenr, self.bydel)

    def _detail_lines(self, row: ZipRow) -> Iterable[Content]:
        yield Content.styled(safe_text(row.name, one_line=True, limit=200), "bold")
        if row.kind == "local":
            yield Content(t("feedback_screen.detail_local", path=shown_path(row.path or ""), size=fmt_count(row.size)))
        else:
            f = row.remote
            yield Content(t(
                "feedback_screen.detail_remote",
                size=fmt_count(row.size),
                stamp=safe_text(f.upload_stamp, one_line=True, limit=40),
                by=safe_text(f.upload_username, one_line=True, limit=60) or "–",
            ))
        if row.info is None:
            yield Content.styled(t("feedback_screen.detail_unknown_name"), "red")
        elif row.matches:
            yield Content(t("feedback_screen.detail_matches", kommunenr=row.info.kommunenr, bydel=row.info.bydel, date=_date(row.info)))
        else:
            yield Content.styled(t(
                "feedback_screen.detail_other", kommunenr=row.info.kommunenr, bydel=row.info.bydel,
                expected_kommunenr=self.kommunenr or "–", expected_bydel=self.bydel or "–",
            ), "red")
        if row.new:
            yield Content.styled(t("feedback_screen.detail_new"), "yellow")
        yield Content.styled(t("feedback_screen.hint_local" if row.kind == "local" else "feedback_screen.hint_remote"), "dim")

    def _show_detail(self) -> None:
        row = self.selected
        if row is None:
            self.detail.update(Content(t("feedback_screen.intro", path=shown_path(self.folder))))
        else:
            self.detail.update(Content("\n").join(list(self._detail_lines(row))))

    @on(DataTable.RowHighlighted, "#fb-zips")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()
        self.post_message(self.Highlighted(self.selected))

    @on(DataTable.RowSelected, "#fb-zips")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.selected
        if row is not None:
            self.post_message(self.Chosen(row))
