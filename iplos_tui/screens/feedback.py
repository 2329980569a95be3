"""The Feedback pane (not built yet: its issue fills it)."""

from iplos_tui.screens.base import NotBuiltScreen


class FeedbackScreen(NotBuiltScreen):
    PANE = "feedback"
