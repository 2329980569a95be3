"""Preflight: the IT checklist of the guide as live diagnostics.

Every check returns a ``CheckResult`` (status pass / warn / fail / skip / manual, a one-line detail,
evidence lines of the kind nslookup, Test-NetConnection and ``openssl s_client`` print, a hint,
elapsed ms). ``run_checks`` runs them all at once and keeps the whole run within its largest
timeout. One module per group of checks:

- ``ids``: the check ids and statuses, the one list (the CLI's parser reads it: constants only);
- ``model``: ``CheckResult``, the status marks, the text helpers;
- ``endpoint``: the Sendemodul, the feedback gateway and the proxy from the profile;
- ``context``: one run (seams, deadlines, the name lookup done once);
- ``connection``: TCP, the proxy's CONNECT, TLS with the pins, one GET;
- ``evidence``: connection stages as the lines IT knows;
- ``dns``, ``network``, ``gateway``, ``local``: the checks;
- ``runner``: ``run_checks``; ``report``: the text for the IT ticket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iplos_tui.core.preflight.ids import CHECK_IDS, FAIL, MANUAL, MANUAL_CHECKS, PASS, SKIP, STATUSES, WARN

if TYPE_CHECKING:  # what __getattr__ below loads on first use, for the type checker
    from iplos_tui.core.preflight.model import CheckResult, all_ok, mark, pending_result, seconds_text, summary_counts, title_of
    from iplos_tui.core.preflight.report import ReportError, render_report, write_report
    from iplos_tui.core.preflight.runner import GRACE_SECONDS, run_checks

__all__ = [
    "CHECK_IDS",
    "FAIL",
    "GRACE_SECONDS",
    "MANUAL",
    "MANUAL_CHECKS",
    "PASS",
    "SKIP",
    "STATUSES",
    "WARN",
    "CheckResult",
    "ReportError",
    "all_ok",
    "mark",
    "pending_result",
    "render_report",
    "run_checks",
    "seconds_text",
    "summary_counts",
    "title_of",
    "write_report",
]

_LAZY = {
    "CheckResult": "model",
    "all_ok": "model",
    "mark": "model",
    "pending_result": "model",
    "seconds_text": "model",
    "summary_counts": "model",
    "title_of": "model",
    "run_checks": "runner",
    "GRACE_SECONDS": "runner",
    "render_report": "report",
    "write_report": "report",
    "ReportError": "report",
}


def __getattr__(name: str) -> object:
    """The rest loads on first use, so that importing ``CHECK_IDS`` stays cheap (the CLI's parser)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
