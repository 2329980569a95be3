"""Shown instead of a broken screen while the terminal is smaller than the console can draw."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from iplos_tui.core.i18n import t

MIN_WIDTH, MIN_HEIGHT = 60, 20  # every pane and dialog fits (or scrolls) down to this


def too_small(width: int, height: int) -> bool:
    return width < MIN_WIDTH or height < MIN_HEIGHT


class TooSmallScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen #too-small { width: 100%; height: auto; padding: 0 1; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="too-small")

    def on_mount(self) -> None:
        self.show_size(self.app.size.width, self.app.size.height)

    def show_size(self, width: int, height: int) -> None:
        self.query_one("#too-small", Static).update(
            Content(t("app.too_small", width=width, height=height, min_width=MIN_WIDTH, min_height=MIN_HEIGHT))
        )
