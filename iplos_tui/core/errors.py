"""The one error model: every error the console explains to a person derives from ``IplosError``.

An ``IplosError`` carries what a front end needs and nothing else: ``message()`` (already in the
UI language, outside text already through ``safe_text``), ``hint()`` (what to do, or ``None``) and
``exit_code`` (the CLI's exit code; the TUI shows the same message). ``Cancelled`` is the one
cancellation type: core flows raise it when their cancel event is set.

``explain()`` turns *any* exception into the same three things, so that neither front end ever
shows a traceback: the CLI's top level prints one line (plus the hint) and exits with the code;
the TUI's worker handler (``IplosApp.on_worker_state_changed``) shows the message and hands the
pane a ``RunFailed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


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
        return t("cli.interrupted")


class Explanation(NamedTuple):
    """What a person is told about an error: one message, an optional hint, the exit code."""

    message: str
    hint: str | None
    exit_code: ExitCode
    cancelled: bool = False
    expected: bool = True  # False: not an IplosError, i.e. a defect of ours worth reporting


def explain(error: BaseException) -> Explanation:
    """Explain any exception in the UI language, sanitised, without a traceback.

    An ``IplosError`` speaks for itself. ``KeyboardInterrupt`` is a cancellation. Anything else
    is a defect (or an unforeseen fault): it is named by its type, its own text (through
    ``safe_text``, one line, bounded) and the innermost place it came from, so that a report of
    it is useful and never shows local variables.
    """
    if isinstance(error, IplosError):
        hint = error.hint()
        return Explanation(
            safe_text(error.message()),
            safe_text(hint) if hint else None,
            ExitCode(error.exit_code),
            cancelled=isinstance(error, Cancelled),
        )
    if isinstance(error, KeyboardInterrupt):
        return Explanation(t("cli.interrupted"), None, ExitCode.INTERRUPTED, cancelled=True)
    kind = safe_text(type(error).__name__, one_line=True)
    detail = safe_text(str(error), one_line=True, limit=300)
    if isinstance(error, (MemoryError, RecursionError)):
        message = t("errors.too_complex", kind=kind)
    elif isinstance(error, OSError) and error.strerror:
        where = safe_text(str(error.filename), one_line=True) if error.filename else ""
        message = t("errors.os_error", detail=safe_text(error.strerror, one_line=True), path=where) if where else t("errors.os_error_no_path", detail=safe_text(error.strerror, one_line=True))
    else:
        message = t("errors.unexpected", kind=kind, detail=detail) if detail else t("errors.unexpected_bare", kind=kind)
    return Explanation(message, t("errors.report_hint", where=_origin(error)), ExitCode.FAILED, expected=False)


def _origin(error: BaseException) -> str:
    """``file.py:123 in function`` of the innermost frame (no path, no locals)."""
    import traceback  # only when something went wrong: it costs start-up (`iplos --version`)

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
