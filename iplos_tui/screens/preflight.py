"""The Preflight pane (not built yet: its issue fills it)."""

from iplos_tui.screens.base import NotBuiltScreen


class PreflightScreen(NotBuiltScreen):
    PANE = "preflight"
