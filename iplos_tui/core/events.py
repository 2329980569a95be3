"""The events a submission run reports through its one callback, and their small helpers.

The core emits these; the TUI maps them to widgets, the CLI to stderr lines (CONVENTIONS.md §6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

STEPS = ("validate", "encrypt", "login", "upload", "commit")
PROGRESS_INTERVAL = 0.1


@dataclass(frozen=True)
class StepStarted:
    step: str
    label: str


@dataclass(frozen=True)
class StepProgress:
    step: str
    done: int
    total: int
    rate: float = 0.0  # bytes per second
    eta: float | None = None  # seconds left

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


@dataclass(frozen=True)
class LogLine:
    text: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True)
class StepDone:
    step: str
    detail: str = ""


@dataclass(frozen=True)
class StepFailed:
    step: str
    reason: str
    hint: str = ""


Event = StepStarted | StepProgress | LogLine | StepDone | StepFailed


class Throttle:
    """At most one progress event per ``interval`` seconds (the final one always passes)."""

    def __init__(self, interval: float = PROGRESS_INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def fmt_bytes(size: float) -> str:
    """Bytes for people, with the language's decimal mark (core/format.py: "34,1 KiB" in nb)."""
    from iplos_tui.core import format as fmt

    return fmt.size(size)
