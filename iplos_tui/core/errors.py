"""The one error model: every error the console explains to a person derives from ``IplosError``.

An ``IplosError`` carries what a front end needs and nothing else: ``message()`` (already in the
UI language, outside text already through ``safe_text``), ``hint()`` (what to do, or ``None``) and
``exit_code`` (the CLI's exit code; the TUI shows the same message). ``Cancelled`` is the one
cancellation type: core flows raise it when their cancel event is set.

The CLI's top level turns any ``IplosError`` into one line on stderr (plus the hint) and its exit
code, so a command module needs no error-to-exit table of its own; the TUI's worker handler does
the same on screen.
"""

from __future__ import annotations

from iplos_tui.core.exitcodes import ExitCode


class IplosError(Exception):
    """Base of every explained error. Subclasses set ``exit_code`` and override ``message``."""

    exit_code: ExitCode = ExitCode.FAILED

    def message(self) -> str:
        return str(self)

    def hint(self) -> str | None:
        return None


class Cancelled(IplosError):
    """The operator (or a signal) asked a flow to stop; nothing half-written is left behind."""

    exit_code = ExitCode.INTERRUPTED

    def message(self) -> str:
        from iplos_tui.core.i18n import t

        return t("cli.interrupted")
