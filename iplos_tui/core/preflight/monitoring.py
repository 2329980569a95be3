"""The checklist as a monitoring plugin (Nagios, Icinga, Zabbix, Checkmk): one status line with
performance data, and the plugin convention's exit code.

    IPLOS PREFLIGHT CRITICAL - 1 feil: tcp (…); 1 advarsel: tpf_certificate | ok=8 warn=1 …

State: any failure -> CRITICAL (2); else any warning or unticked manual item -> WARNING (1); else
nothing passed at all (every check not tested) -> UNKNOWN (3); else OK (0). A plugin that cannot
run (config error, bad arguments) says UNKNOWN (3) too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.model import FAIL, MANUAL, PASS, SKIP, WARN, CheckResult, summary_counts
from iplos_tui.core.text import safe_text

SERVICE = "IPLOS PREFLIGHT"
MAX_DETAIL = 160


class PluginState(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def plugin_state(results: Iterable[CheckResult]) -> PluginState:
    counts = summary_counts(results)
    if counts[FAIL]:
        return PluginState.CRITICAL
    if counts[WARN] or counts[MANUAL]:
        return PluginState.WARNING
    if not counts[PASS]:
        return PluginState.UNKNOWN
    return PluginState.OK


def _plain(text: str, limit: int) -> str:
    # One line, and no "|" (it starts the performance data).
    return safe_text(text, one_line=True, limit=limit).replace("|", "/")


def status_line(results: list[CheckResult], elapsed: float) -> tuple[str, PluginState]:
    """The plugin's one line (text | perfdata) and its state."""
    state = plugin_state(results)
    counts = summary_counts(results)
    parts = []
    # The worst check's own words go with its group: what the on-call person reads first.
    worst = next((r for r in results if r.status == FAIL), None) or next((r for r in results if r.status == WARN), None)
    for status, key in ((FAIL, "fail"), (WARN, "warn"), (MANUAL, "manual"), (SKIP, "skip")):
        ids = [r for r in results if r.status == status]
        if not ids or (status == SKIP and state is not PluginState.UNKNOWN):
            continue
        part = t(f"preflight.nagios.{key}", count=len(ids), ids=", ".join(r.id for r in ids))
        if worst is not None and worst.status == status:
            part += f" ({_plain(worst.detail, MAX_DETAIL)})"
        parts.append(part)
    if not parts:
        parts.append(t("preflight.nagios.all_ok", count=counts[PASS]))
    perf = [f"{key}={counts[status]};;;0" for status, key in ((PASS, "ok"), (WARN, "warn"), (FAIL, "fail"), (SKIP, "skip"), (MANUAL, "manual"))]
    perf.append(f"time={elapsed:.3f}s;;;0")
    perf += [f"{r.id}={r.elapsed_ms / 1000:.3f}s;;;0" for r in results]
    return plugin_line(SERVICE, state, parts, perf), state


def plugin_line(service: str, state: PluginState, parts: list[str], perf: list[str]) -> str:
    """``SERVICE STATE - part; part | perfdata``: the one shape of a plugin line (also the
    fleet's, core/fleet/board.py); no part can start the performance data early."""
    return f"{service} {state.name} - {'; '.join(_plain(part, 1000) for part in parts)} | {' '.join(perf)}"


def unknown_line(reason: str, service: str = SERVICE) -> str:
    return f"{service} UNKNOWN - {_plain(reason, 300)}"
