"""iplos-tui: a terminal console for the yearly IPLOS submission."""

__version__ = "0.1.0"
