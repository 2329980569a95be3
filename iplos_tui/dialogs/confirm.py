"""A question with one or more choices and «Avbryt», which has the focus: a stray Enter or Esc
never does the thing asked about (CONVENTIONS 9). Every choice may carry a letter key.

    def answer(choice: str | None) -> None: ...
    app.push_screen(ConfirmDialog.yes_no(title, lines, t("feedback_screen.delete_yes"), danger=True), answer)

The result is the chosen ``Choice.id``, or ``None`` when the operator declined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from iplos_tui.core.i18n import t

CANCEL_KEY = "n"


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    key: str = ""  # a letter that picks this choice (never "n", which declines)
    danger: bool = False


class ConfirmDialog(ModalScreen[str | None]):
    """``title``, the ``lines`` (scrollable when long), the choices as buttons and «Avbryt»."""

    DEFAULT_CSS = """
    ConfirmDialog { align: center middle; }
    ConfirmDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfirmDialog .dialog-title { text-style: bold; }
    ConfirmDialog .dialog-body { height: auto; max-height: 16; }
    ConfirmDialog .dialog-keys { color: $text-muted; height: auto; }
    ConfirmDialog Horizontal { height: 3; align: right middle; }
    ConfirmDialog Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "decline", t("dialogs.cancel"), id="dialogs.confirm.escape")]
    AUTO_FOCUS = "#confirm-no"

    def __init__(self, title: str, lines: Sequence[str], choices: Sequence[Choice], *, cancel_label: str = "") -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._choices = list(choices)
        self._cancel_label = cancel_label or t("dialogs.cancel")
        keys = [c.key for c in self._choices if c.key]
        if CANCEL_KEY in keys or len(keys) != len(set(keys)):
            raise ValueError("choice keys must be distinct and not the cancel key")

    @classmethod
    def yes_no(cls, title: str, lines: Sequence[str], yes_label: str, *, danger: bool = False) -> ConfirmDialog:
        """The common case: one choice «yes» (key j) beside «Avbryt»."""
        return cls(title, lines, [Choice("yes", yes_label, key="j", danger=danger)])

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(Content("\n".join(self._lines)))
            yield Static(Content(self._keys_line()), classes="dialog-keys")
            with Horizontal():
                yield Button(self._cancel_label, id="confirm-no")
                for choice in self._choices:
                    yield Button(choice.label, variant="error" if choice.danger else "warning", id=f"confirm-{choice.id}")

    def _keys_line(self) -> str:
        picks = [t("dialogs.key", key=c.key, label=c.label) for c in self._choices if c.key]
        return t("dialogs.confirm_keys", choices=" · ".join(picks), cancel=self._cancel_label)

    def on_key(self, event: events.Key) -> None:
        if event.key == CANCEL_KEY:
            event.stop()
            self.dismiss(None)
            return
        for choice in self._choices:
            if choice.key and event.key == choice.key:
                event.stop()
                self.dismiss(choice.id)
                return

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        chosen = (event.button.id or "").removeprefix("confirm-")
        self.dismiss(chosen if any(c.id == chosen for c in self._choices) else None)

    def action_decline(self) -> None:
        self.dismiss(None)
