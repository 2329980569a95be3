"""What a check returns, the status marks and the small text helpers every group of checks shares
(the ids and statuses themselves live in ``ids``)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iplos_tui.core import format as fmt
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

from iplos_tui.core.preflight.ids import CHECK_IDS, FAIL, MANUAL, MANUAL_CHECKS, PASS, SKIP, STATUSES, WARN

__all__ = ["CHECK_IDS", "FAIL", "MANUAL", "MANUAL_CHECKS", "PASS", "SKIP", "STATUSES", "WARN"]


@dataclass
class CheckResult:
    id: str
    title: str
    status: str
    detail: str
    evidence: list[str] = field(default_factory=list)
    hint: str = ""
    elapsed_ms: float = 0.0
    commands: list[str] = field(default_factory=list)  # what IT can run by hand to see the same

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
            "evidence": list(self.evidence),
            "commands": list(self.commands),
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def title_of(check_id: str) -> str:
    return t(f"preflight.title.{check_id}")


def result(
    check_id: str, status: str, detail: str, evidence: list[str] | None = None, hint: str = "", commands: list[str] | None = None
) -> CheckResult:
    return CheckResult(check_id, title_of(check_id), status, detail, list(evidence or []), hint, commands=list(commands or []))


def pending_result(check_id: str) -> CheckResult:
    """A row that has not been run (the pane's initial state)."""
    return result(check_id, SKIP, t("preflight.not_run"))


def mark(status: str) -> str:
    """The text mark of a status, readable without colour: [OK], [!!], [FEIL], [--], [??]."""
    return t(f"preflight.mark.{status}")


def summary_counts(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for item in results:
        counts[item.status] = counts.get(item.status, 0) + 1
    return counts


def all_ok(results: Iterable[CheckResult]) -> bool:
    return not any(item.status == FAIL for item in results)


# --- text helpers -------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return fmt.number(seconds * 1000, 1)


def seconds_text(value: float) -> str:
    """A configured number of seconds as written (5, 0.5), with the language's decimal mark."""
    return fmt.number(value, 0 if float(value).is_integer() else len(f"{value:g}".partition(".")[2]))


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def show(value: object, limit: int = 200) -> str:
    return safe_text(str(value), one_line=True, limit=limit)


def error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return show(exc.strerror)
    return show(str(exc) or type(exc).__name__)
