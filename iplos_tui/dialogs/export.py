"""Where to export an opened feedback zip: a new folder inside the secure directory (prefilled
with a free name, editable); the core checks it and refuses anything else."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from iplos_tui.core.i18n import t


class ExportDialog(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    ExportDialog > Vertical {
        width: 78; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ExportDialog .dialog-title { text-style: bold; }
    ExportDialog .dialog-body { height: auto; max-height: 12; }
    ExportDialog Input { margin-top: 1; }
    ExportDialog Horizontal { height: 3; align: right middle; }
    ExportDialog Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", t("dialogs.cancel"), id="dialogs.export.cancel")]
    AUTO_FOCUS = "#export-path"

    def __init__(self, lines: Sequence[str], default: str) -> None:
        super().__init__()
        self._lines = list(lines)
        self._default = default

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(t("feedback_screen.export_confirm_title")), classes="dialog-title")
            yield Static(Content("\n".join(self._lines)), classes="dialog-body")
            yield Input(self._default, compact=True, select_on_focus=False, id="export-path")
            with Horizontal():
                yield Button(t("dialogs.cancel"), id="export-cancel")
                yield Button(t("feedback_screen.export"), variant="warning", id="export-ok")

    @property
    def path_input(self) -> Input:
        return self.query_one("#export-path", Input)

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-ok")
    def action_export(self) -> None:
        value = self.path_input.value.strip()
        if value:
            self.dismiss(value)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
