"""What every pane shares: the profile header on top and the key footer below."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from iplos_tui.runs import ReportsWorkers
from iplos_tui.widgets.header import ProfileHeader


class PaneScreen(ReportsWorkers, Screen):
    """A pane: subclasses implement ``compose_body``; its workers' ends reach the app's handler
    (``RunFinished`` / ``RunFailed``, iplos_tui/runs.py)."""

    def compose(self) -> ComposeResult:
        yield ProfileHeader(getattr(self, "MODE", None))
        yield from self.compose_body()
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        for header in self.query(ProfileHeader):
            header.refresh_header()

