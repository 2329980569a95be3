"""One table row in full: every column as «header: value», wrapped, scrollable (Enter on a row
of the feedback table). Wide control tables and SSB's long messages are read here, at 80
columns, without pressing → thirty times. Esc, Enter or q closes it."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


class RowDialog(ModalScreen[None]):
    DEFAULT_CSS = """
    RowDialog { align: center middle; }
    RowDialog > Vertical {
        width: 90%; max-width: 100; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    RowDialog .dialog-title { text-style: bold; }
    RowDialog VerticalScroll { height: auto; max-height: 100%; }
    RowDialog .row-label { color: $text-muted; }
    RowDialog .row-value { padding-left: 2; margin-bottom: 1; }
    RowDialog .dialog-keys { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "close", t("dialogs.close"), id="dialogs.row.escape"),
        Binding("enter", "close", t("dialogs.close"), show=False, id="dialogs.row.enter"),
        Binding("q", "close", t("dialogs.close"), show=False, id="dialogs.row.q"),
    ]

    def __init__(self, title: str, header: Sequence[str], cells: Sequence[str]) -> None:
        super().__init__()
        self._title = title
        self._header = list(header)
        self._cells = list(cells)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="dialog-title")
            with VerticalScroll(id="row-fields"):
                for index in range(max(len(self._header), len(self._cells))):
                    label = self._header[index] if index < len(self._header) and self._header[index] else t("feedback_screen.col_n", n=index + 1)
                    value = self._cells[index] if index < len(self._cells) else ""
                    yield Static(Content(safe_text(label, one_line=True)), classes="row-label")
                    yield Static(Content(safe_text(value, one_line=True) or "–"), classes="row-value")
            yield Static(Content(t("dialogs.row_keys")), classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#row-fields").focus()

    def action_close(self) -> None:
        self.dismiss(None)
