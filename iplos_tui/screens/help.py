"""`?` on every pane: what the pane is for, its keys and the console's keys, what to do when
something fails, in the UI language. Closed with Esc or `?`; it replaces Textual's key panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from iplos_tui.screens import keymap
from iplos_tui.core.i18n import t

MODE_KEYS = {"config": "F1", "preflight": "F2", "submission": "F3", "feedback": "F4", "board": "F7"}


def _key_rows(rows: list[tuple[str, str]], table_id: str) -> Vertical:
    """Keys on the left, what they do on the right; a long text wraps under itself."""
    width = max((len(keys) for keys, _ in rows), default=0) + 2
    lines = []
    for keys, what in rows:
        key = Static(Content.styled(keys, "bold"), classes="help-key")
        key.styles.width = width
        lines.append(Horizontal(key, Static(Content(what), classes="help-what"), classes="help-row"))
    return Vertical(*lines, id=table_id, classes="help-keys")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen #help-dialog { width: 78; max-width: 100%; height: 100%; max-height: 40; border: round $accent; background: $surface; }
    HelpScreen #help-body { height: 1fr; padding: 0 1; }
    HelpScreen .help-keys, HelpScreen .help-row { height: auto; }
    HelpScreen .help-what { width: 1fr; }
    HelpScreen .help-title { text-style: bold; color: $accent; margin-top: 1; }
    HelpScreen #help-close { color: $text-muted; padding: 0 1; height: 1; }
    """
    BINDINGS = [
        Binding("escape", "close", t("help.close_hint"), show=False, id="help.close"),
        Binding("question_mark", "close", t("help.close_hint"), show=False, id="help.close_alt"),
    ]
    AUTO_FOCUS = "#help-body"

    def __init__(self, pane: str, pane_bindings: list | None = None, *, sandbox: bool = False) -> None:
        super().__init__()
        self.pane = pane
        self._pane_rows = keymap.binding_rows(pane_bindings if pane_bindings is not None else keymap.pane_classes()[pane].BINDINGS)
        self._sandbox = sandbox

    def compose(self) -> ComposeResult:
        global_rows = [row for row, (_, text) in zip(keymap.global_keys(), keymap.GLOBAL_KEYS) if self._sandbox or text != "help.key_morning"]
        with Vertical(id="help-dialog"):
            with VerticalScroll(id="help-body"):
                yield Static(Content.styled(t("help.title", pane=t(f"app.mode_{self.pane}"), key=MODE_KEYS.get(self.pane, "")), "bold"), id="help-title")
                yield Static(Content(t("help.purpose_title")), classes="help-title")
                yield Static(Content(t(f"help.{self.pane}.purpose")), id="help-purpose")
                if self._pane_rows:
                    yield Static(Content(t("help.pane_keys_title")), classes="help-title")
                    yield _key_rows(self._pane_rows, "help-pane-keys")
                yield Static(Content(t("help.global_keys_title")), classes="help-title")
                yield _key_rows(global_rows, "help-global-keys")
                yield Static(Content(t("help.trouble_title")), classes="help-title")
                yield Static(Content(t(f"help.{self.pane}.trouble")), id="help-trouble")
            yield Static(Content(t("help.close_hint")), id="help-close")

    def action_close(self) -> None:
        self.dismiss(None)
