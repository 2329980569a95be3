"""The pane's status area: the whole last message, wrapped over as many lines as it needs (up to
a few, then it scrolls), never cut at 80 columns (issue 14 item 1)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from iplos_tui.core.text import safe_text

MESSAGE_LIMIT = 1000  # a hostile server's message is bounded; every real one fits


class StatusArea(Static):
    DEFAULT_CSS = """
    StatusArea { height: auto; max-height: 4; padding: 0 1; overflow-y: auto; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.message = ""

    def show(self, text: str) -> None:
        self.message = safe_text(text, one_line=True, limit=MESSAGE_LIMIT)
        self.update(Content(self.message))
        self.scroll_home(animate=False)
