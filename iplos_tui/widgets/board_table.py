"""The board as a table: one row per municipality (core/fleet/board.py's rows and their cells),
what needs a person first; the last column is cut at 80 columns, so the pane shows the highlighted
row's whole line below it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from iplos_tui.core.fleet.board import ACT, DONE, SOON, WATCH, BoardRow, cells
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

LEVEL_STYLE = {ACT: "bold red", SOON: "bold yellow", WATCH: "", DONE: "green"}
# (cell key, catalog key of the header, width with its one-space gap); the need takes the rest.
# Below WIDE columns the accepted findings and the feedback are in the pane's detail lines only.
NARROW = (
    ("kommune", "fleet.col.id", 18),
    ("submission", "fleet.col.submission", 12),
    ("preflight", "fleet.col.preflight", 9),
    ("deadline", "fleet.col.deadline", 7),
)
WIDE_EXTRA = (("accepted", "fleet.col.accepted", 10), ("feedback", "fleet.col.feedback", 7))
WIDE = 100
MIN_NEED = 16


class BoardTable(DataTable[Text]):
    DEFAULT_CSS = """
    BoardTable { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, cell_padding=0, **kwargs)  # type: ignore[arg-type]
        self.rows_shown: list[BoardRow] = []
        self._built: tuple[tuple[tuple[str, str, int], ...], int] = ((), 0)

    def on_mount(self) -> None:
        self._build_columns()

    def on_resize(self) -> None:
        if self._layout() != self._built:
            self._build_columns()
            self.show_rows(self.rows_shown)

    def _layout(self) -> tuple[tuple[tuple[str, str, int], ...], int]:
        width = self.size.width or self.app.size.width
        columns = NARROW[:1] + (WIDE_EXTRA if width >= WIDE else ()) + NARROW[1:]
        scrollbar = self.styles.scrollbar_size_vertical or 0
        return columns, max(MIN_NEED, width - sum(w for _, _, w in columns) - scrollbar)

    def _build_columns(self) -> None:
        self.clear(columns=True)
        self._built = self._layout()
        columns, need = self._built
        for key, header, width in (*columns, ("need", "fleet.col.need", need)):
            self.add_column(Text(t(header)), key=key, width=width)

    def show_rows(self, rows: Sequence[BoardRow]) -> None:
        """Fill the table; the highlighted municipality stays highlighted where it still is."""
        keep = self.highlighted_id()
        self.clear()
        self.rows_shown = list(rows)
        columns, _ = self._built
        for row in rows:
            cell = cells(row)
            style = LEVEL_STYLE.get(row.level, "")
            kommune = Text(cell["level"] + " ", style=style)
            kommune.append(f"{row.id} {safe_text(row.name, one_line=True)}".strip())
            values = {
                "kommune": kommune,
                "submission": Text(cell["submission"], style=style if row.level == ACT else ""),
                "preflight": Text(cell["preflight"], style="bold red" if row.preflight == "fail" else ""),
                "accepted": Text(cell["accepted"]),
                "feedback": Text(cell["feedback"], style="bold" if row.feedback_gateway_new else ""),
                "deadline": Text(cell["deadline"]),
                "need": Text(safe_text(cell["need"], one_line=True)),
            }
            for key, _, width in columns:  # the one-space gap stays free: a long name never runs on
                values[key].truncate(width - 1, overflow="crop")
            line = [values[key] for key, _, _ in columns] + [values["need"]]
            for text in line:
                text.no_wrap, text.overflow = True, "crop"
            self.add_row(*line, key=row.id)
        if keep is not None:
            index = next((i for i, row in enumerate(rows) if row.id == keep), None)
            if index is not None:
                self.move_cursor(row=index)

    def highlighted_row(self) -> BoardRow | None:
        if not self.rows_shown or self.cursor_row < 0 or self.cursor_row >= len(self.rows_shown):
            return None
        return self.rows_shown[self.cursor_row]

    def highlighted_id(self) -> str | None:
        row = self.highlighted_row()
        return row.id if row is not None else None
