"""The Submission pane (not built yet: its issue fills it)."""

from iplos_tui.screens.base import NotBuiltScreen


class SubmissionScreen(NotBuiltScreen):
    PANE = "submission"
