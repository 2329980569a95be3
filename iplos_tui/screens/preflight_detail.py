"""One check in full (Enter on a row of the Preflight pane): the result, what to do, every
evidence line and the commands to run by hand, wrapped to the terminal's width and scrollable;
Esc, Enter or q closes it. The same text the pane's box below the table starts with."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from iplos_tui.core import preflight as pf
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def check_detail(result: pf.CheckResult, state_line: str = "", *, in_pane: bool = False) -> list[Static]:
    """The detail of one result as widgets: text lines, and evidence and commands as indented
    blocks, so that a long line wraps under itself. Outside text through safe_text, never markup."""
    parts: list[Static] = [Static(Content(safe_text(result.detail)))]
    if state_line:
        parts.append(Static(Content.styled(state_line, "dim")))
    if result.hint:
        parts.append(Static(Content.styled(f"{t('preflight.pane.detail_hint')}: ", "bold") + Content(safe_text(result.hint))))
    if in_pane and (result.evidence or result.commands):
        parts.append(Static(Content.styled(t("preflight.pane.detail_more"), "dim italic")))
    if result.evidence:
        parts.append(Static(Content.styled(f"{t('preflight.pane.detail_evidence')}:", "bold")))
        parts.extend(_block_line(line) for line in result.evidence)
    if result.commands:
        parts.append(Static(Content.styled(f"{t('preflight.pane.detail_commands')}:", "bold")))
        parts.extend(Static(Content(safe_text(line, one_line=True)), classes="check-line -command") for line in result.commands)
    return parts


def _block_line(line: str) -> Static:
    """An evidence line; one that starts indented (a certificate's details) stays indented when
    it wraps."""
    text = safe_text(line, one_line=True)
    indent = len(text) - len(text.lstrip(" "))
    widget = Static(Content(text.lstrip(" ")), classes="check-line")
    if indent:
        widget.styles.padding = (0, 0, 0, 2 + indent)
    return widget


def detail_text(box) -> str:
    """What a detail box shows, as plain text (tests, captures)."""
    lines = []
    for widget in box.query(Static):
        indent = max(widget.styles.padding.left - 2, 0) if widget.has_class("check-line") else 0
        lines.append(" " * indent + str(widget.render()))
    return "\n".join(lines)


class CheckDetailScreen(ModalScreen[None]):
    AUTO_FOCUS = "#check-detail-box"
    DEFAULT_CSS = """
    CheckDetailScreen {
        align: center middle;
    }
    .check-line {
        padding-left: 2;
    }
    .check-line.-command {
        text-style: bold;
    }
    #check-detail-box {
        width: 100%;
        height: 100%;
        border: round $accent;
        border-title-color: $text;
        padding: 0 1;
        background: $surface;
    }
    """
    BINDINGS = [
        Binding("escape", "close", t("preflight.pane.detail_close"), id="preflight.detail_close"),
        Binding("enter", "close", t("preflight.pane.detail_close"), show=False, id="preflight.detail_close_enter"),
        Binding("q", "close", t("preflight.pane.detail_close"), show=False, id="preflight.detail_close_q"),
    ]

    def __init__(self, result: pf.CheckResult, state_line: str = "") -> None:
        super().__init__()
        self.result = result
        self.state_line = state_line

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="check-detail-box"):
            yield from check_detail(self.result, self.state_line)

    def on_mount(self) -> None:
        box = self.query_one("#check-detail-box", VerticalScroll)
        box.border_title = Content(f"{pf.mark(self.result.status)} {safe_text(self.result.title, one_line=True)}")
        box.border_subtitle = Content(t("preflight.pane.detail_keys"))

    def action_close(self) -> None:
        self.dismiss(None)
