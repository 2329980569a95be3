"""The Feedback pane's archive browser: an opened zip's entries, the selected entry's counts per
rule and severity, a filter, and the table a page at a time (``Table.page``; the rows stay in the
table's compressed blocks until shown).

Keys go to the grid after opening (arrows work at once). Enter on a row posts ``RowChosen`` with
the whole row (every column, uncut) for the row view. Esc in the filter clears it. The browser
posts ``ViewChanged`` (replaceable) whenever what it shows changed, so the pane can refresh
its key bindings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text
from iplos_tui.widgets.feedback_format import fmt_count, fmt_size, plain

PAGE_SIZE = 500  # rows in the DataTable at once (CONVENTIONS §8); n / p turn the page
CELL_LIMIT = 40  # characters of one cell on screen; Enter shows the whole row
FILTER_DELAY = 0.25  # seconds after the last keystroke before the filter runs


@dataclass
class EntryView:
    """One entry of the open archive: its table (or why there is none) and a reveal, if granted."""

    table: Any = None  # core Table
    error: str = ""
    revealed: Any = None  # RevealedTable while person ids are shown


class ArchiveBrowser(Vertical):
    DEFAULT_CSS = """
    ArchiveBrowser #fb-head, ArchiveBrowser #fb-page { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ArchiveBrowser #fb-head { text-style: bold; }
    ArchiveBrowser #fb-entries { height: auto; max-height: 4; }
    ArchiveBrowser #fb-filter { margin: 0 1; }
    ArchiveBrowser #fb-counts { height: 2; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    ArchiveBrowser #fb-table { height: 1fr; }
    ArchiveBrowser #fb-page { color: $text-muted; }
    """

    @dataclass
    class ViewChanged(Message):
        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ArchiveBrowser.ViewChanged)

    @dataclass
    class RowChosen(Message):
        entry: str  # sanitised entry name
        number: int  # 1-based row number in the table
        header: list[str]
        cells: list[str]

    @dataclass
    class _Filtered(Message):
        name: str
        query: str
        indices: Any

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.archive: Any = None
        self.entries: dict[str, EntryView] = {}
        self.entry_name: str | None = None
        self.query_text = ""
        self.indices: Sequence[int] | None = None  # rows matching the filter (None: all)
        self.page = 0
        self._filter_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Static("", id="fb-head")
        yield DataTable(id="fb-entries", cursor_type="row", zebra_stripes=False)
        yield Input(placeholder=t("feedback_screen.filter_placeholder"), compact=True, id="fb-filter")
        yield Static("", id="fb-counts")
        yield DataTable(id="fb-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="fb-page")

    def on_mount(self) -> None:
        for key in ("entry", "rows", "size", "sha256"):
            self.entry_list.add_column(t(f"feedback_screen.col_{key}"), key=key)

    # typed accessors
    @property
    def entry_list(self) -> DataTable:
        return self.query_one("#fb-entries", DataTable)

    @property
    def grid(self) -> DataTable:
        return self.query_one("#fb-table", DataTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#fb-filter", Input)

    @property
    def counts_line(self) -> Static:
        return self.query_one("#fb-counts", Static)

    @property
    def page_line(self) -> Static:
        return self.query_one("#fb-page", Static)

    @property
    def head_line(self) -> Static:
        return self.query_one("#fb-head", Static)

    # -- the archive --

    def show(self, archive: Any) -> None:
        """Show an opened FeedbackArchive; the grid gets the focus."""
        self.archive = archive
        self.entries = {}
        for entry in archive.entries:
            error = entry.table_error.message() if entry.table_error is not None else ""
            self.entries[entry.name] = EntryView(table=None if error else entry.stored, error=error)
        self.entry_name = None
        info = archive.info
        head = [safe_text(archive.source, one_line=True, limit=60)]
        if info is not None:  # the date is in the name already, the entries in the table below
            head.append(t("feedback_screen.head_profile", kommunenr=info.kommunenr, bydel=info.bydel))
        self.head_line.update(Content(" · ".join(head)))
        entries = self.entry_list
        entries.clear()
        for index, entry in enumerate(archive.entries):
            view = self.entries[entry.name]
            rows = fmt_count(len(view.table)) if view.table is not None else "–"
            entries.add_row(plain(entry.display_name), plain(rows), plain(fmt_size(entry.size)), plain(entry.sha256[:16] + "…", "dim"), key=f"e{index}")
        self.filter_input.value = ""
        if archive.entries:
            entries.move_cursor(row=0)
            self.select_entry(archive.entries[0].name)
        self.grid.focus()

    def clear(self) -> None:
        self.archive = None
        self.entries = {}
        self.entry_name = None
        self.indices = None
        self.query_text = ""
        self.filter_input.value = ""
        self.entry_list.clear()
        self._clear_grid("")

    def current_view(self) -> EntryView | None:
        if self.archive is None or self.entry_name is None:
            return None
        return self.entries.get(self.entry_name)

    @on(DataTable.RowHighlighted, "#fb-entries")
    def _entry_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self.archive is None or event.row_key is None:
            return
        index = int(str(event.row_key.value)[1:])
        if 0 <= index < len(self.archive.entries):
            self.select_entry(self.archive.entries[index].name)

    @on(DataTable.RowSelected, "#fb-entries")
    def _entry_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.grid.focus()

    def select_entry(self, name: str) -> None:
        if name == self.entry_name:
            return
        self.entry_name = name
        self.page = 0
        self.query_text = self.filter_input.value.strip()
        self.indices = None
        view = self.entries[name]
        if view.table is None:
            self._clear_grid("")
            self.counts_line.update(Content(view.error))
            self._changed()
        elif self.query_text:
            self._filter_worker(name, view.table, self.query_text)
        else:
            self.render_entry()

    def set_revealed(self, name: str, revealed: Any) -> None:
        view = self.entries.get(name)
        if view is not None:
            view.revealed = revealed
            if name == self.entry_name:
                self.render_page()

    # -- drawing --

    def _clear_grid(self, note: str) -> None:
        self.grid.clear(columns=True)
        self.counts_line.update("")
        self.page_line.update(Content(note))

    def visible_count(self) -> int:
        view = self.current_view()
        if view is None or view.table is None:
            return 0
        return len(view.table) if self.indices is None else len(self.indices)

    def page_count(self) -> int:
        return max(1, -(-self.visible_count() // PAGE_SIZE))

    def render_entry(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        self._show_counts(view)
        self.render_page()

    def _show_counts(self, view: EntryView) -> None:
        from iplos_tui.core.feedback.tables import RULE_COLUMNS

        table = view.table
        lines = []
        for key in ("rule", "severity"):
            counts = table.counts().get(key) or {}
            if counts:
                items = " · ".join(f"{safe_text(name, one_line=True, limit=30) or '–'} {fmt_count(count)}" for name, count in counts.items())
                lines.append(f"{t(f'feedback_screen.per_{key}')}: {items}")
        if not lines:
            if len(table) == 0 and table.column(*RULE_COLUMNS) is not None:
                lines.append(t("feedback_screen.no_findings"))  # an error list without errors
            else:
                lines.append(t("feedback_screen.no_counts", rows=fmt_count(len(table)), columns=len(table.header)))
        self.counts_line.update(Content("\n".join(lines)))

    def _page_rows(self, view: EntryView) -> tuple[list[int], list[list[str]]]:
        source = view.revealed if view.revealed is not None else view.table
        start = self.page * PAGE_SIZE
        if self.indices is None:
            stop = min(start + PAGE_SIZE, len(view.table))
            return list(range(start, stop)), source.page(start, stop, cell_limit=CELL_LIMIT)
        chosen = list(self.indices[start : start + PAGE_SIZE])
        return chosen, source.rows_at(chosen, cell_limit=CELL_LIMIT)

    def render_page(self) -> None:
        view = self.current_view()
        if view is None or view.table is None:
            return
        self.page = max(0, min(self.page, self.page_count() - 1))
        numbers, rows = self._page_rows(view)
        header = view.table.header
        width = max([len(header), *(len(row) for row in rows)], default=0)
        grid = self.grid
        grid.clear(columns=True)
        grid.add_column(plain(t("feedback_screen.col_row")), key="row")
        for column in range(width):
            label = header[column] if column < len(header) and header[column] else t("feedback_screen.col_n", n=column + 1)
            grid.add_column(plain(label[:CELL_LIMIT], "bold"), key=f"c{column}")
        grid.add_rows(
            [[plain(str(number + 1), "dim"), *(plain(row[c] if c < len(row) else "") for c in range(width))] for number, row in zip(numbers, rows)]
        )
        self._show_page_line(self.visible_count(), self.page * PAGE_SIZE, len(rows), view)
        self._changed()

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
        self.page_line.update(Content(" · ".join(parts)))

    def _changed(self) -> None:
        self.post_message(self.ViewChanged())

    # -- pages, rows, filter --

    def next_page(self) -> None:
        if self.page + 1 < self.page_count():
            self.page += 1
            self.render_page()

    def prev_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self.render_page()

    @on(DataTable.RowSelected, "#fb-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        view = self.current_view()
        if view is None or view.table is None:
            return
        position = self.page * PAGE_SIZE + event.cursor_row
        index = position if self.indices is None else (self.indices[position] if position < len(self.indices) else None)
        if index is None:
            return
        source = view.revealed if view.revealed is not None else view.table
        cells = source.rows_at([index])
        if cells:
            self.post_message(self.RowChosen(view.table.name, index + 1, list(view.table.header), cells[0]))

    def focus_filter(self) -> None:
        self.filter_input.focus()

    def clear_filter(self) -> None:
        """Esc: the filter is emptied and the whole table shown again; the grid gets the focus."""
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        self.filter_input.value = ""
        self.query_text = ""
        if self.indices is not None:
            self.indices = None
            self.page = 0
            self.render_page()
        self.grid.focus()

    @on(Input.Changed, "#fb-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(FILTER_DELAY, self._apply_filter)

    @on(Input.Submitted, "#fb-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter()
        self.grid.focus()

    def _apply_filter(self) -> None:
        self._filter_timer = None
        view = self.current_view()
        if view is None or view.table is None:
            return
        query = self.filter_input.value.strip()
        if query == self.query_text and (self.indices is not None or not query):
            return
        self.query_text = query
        if not query:
            self.indices = None
            self.page = 0
            self.render_page()
            return
        self._filter_worker(self.entry_name, view.table, query)

    @work(thread=True, exclusive=True, group="feedback-filter", exit_on_error=False)
    def _filter_worker(self, name: str, table: Any, query: str) -> None:
        self.post_message(self._Filtered(name, query, table.search(query)))

    @on(_Filtered)
    def _filtered(self, message: _Filtered) -> None:
        message.stop()
        if message.name != self.entry_name or message.query != self.query_text:
            return
        self.indices = message.indices
        self.page = 0
        view = self.current_view()
        if view is not None and view.table is not None:
            self._show_counts(view)
        self.render_page()
