"""The sandbox clock: Norwegian local time that starts in the submission window and can be advanced.

The clock starts at Monday 8 January 2018, 09:00 in Oslo (inside the 2–15 January window for
2017 data). It ticks with real time only while the sandbox runs (``resume``/``pause``), so a
sandbox left for a week is still in the submission window, and moves on with every advance. Its
state is a small JSON file in the sandbox directory, read again whenever it changed, so that
``iplos sandbox advance-clock`` in another process moves the clock of a running ``serve``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from iplos_tui.core.fsutil import atomic_write_bytes

OSLO = ZoneInfo("Europe/Oslo")
DEFAULT_START = dt.datetime(2018, 1, 8, 9, 0, tzinfo=OSLO)
RECEIPT_HOUR = 8


def _easter(year: int) -> dt.date:
    """Easter Sunday (the Gregorian computus, Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[dt.date]:
    """Norwegian public holidays (helligdager) of ``year``."""
    easter = _easter(year)
    moving = (-3, -2, 0, 1, 39, 49, 50)  # skjærtorsdag .. 2. pinsedag
    fixed = ((1, 1), (5, 1), (5, 17), (12, 25), (12, 26))
    days = {easter + dt.timedelta(days=offset) for offset in moving}
    days |= {dt.date(year, month, day) for month, day in fixed}
    return frozenset(days)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def next_working_day_at(moment: dt.datetime, hour: int = RECEIPT_HOUR) -> dt.datetime:
    """``hour``:00 Oslo time on the first working day after the day of ``moment``."""
    day = moment.astimezone(OSLO).date() + dt.timedelta(days=1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=OSLO)


def iso(moment: dt.datetime) -> str:
    """RFC 3339 in Oslo time with its offset, to the second."""
    return moment.astimezone(OSLO).isoformat(timespec="seconds")


class SandboxClock:
    """``now()`` = start + (real time since the state was made) + advances.

    ``path`` None keeps the state in memory only (tests that need no second process).
    """

    def __init__(self, path: Path | None = None, start: dt.datetime = DEFAULT_START) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._state = {"start": start.isoformat(), "real_epoch": time.time(), "advanced": 0.0, "running": False}
        if self.path is not None:
            if self.path.exists():
                self._reload()
            else:
                self._save()

    def _reload(self) -> None:
        # Read every time (about 100 bytes): mtime alone misses two writes within one clock tick.
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            state = {
                "start": dt.datetime.fromisoformat(str(data["start"])).isoformat(),
                "real_epoch": float(data["real_epoch"]),
                "advanced": float(data["advanced"]),
                "running": bool(data.get("running", False)),
            }
        except (OSError, ValueError, KeyError, TypeError):
            return  # a missing or broken file keeps the clock as it was
        self._state = state

    def _save(self) -> None:
        if self.path is None:
            return
        atomic_write_bytes(self.path, (json.dumps(self._state, indent=2) + "\n").encode("utf-8"), mode=0o600)

    def _now_locked(self) -> dt.datetime:
        state = self._state
        start = dt.datetime.fromisoformat(state["start"])
        elapsed = state["advanced"]
        if state["running"]:
            elapsed += max(0.0, time.time() - state["real_epoch"])
        return (start + dt.timedelta(seconds=elapsed)).astimezone(OSLO)

    def now(self) -> dt.datetime:
        with self._lock:
            if self.path is not None:
                self._reload()
            return self._now_locked()

    def _set_running(self, running: bool) -> None:
        with self._lock:
            if self.path is not None:
                self._reload()
            now = self._now_locked()
            self._state = {"start": now.isoformat(), "real_epoch": time.time(), "advanced": 0.0, "running": running}
            self._save()

    def resume(self) -> None:
        """Tick with real time from now on (the sandbox started)."""
        self._set_running(True)

    def pause(self) -> None:
        """Stand still (the sandbox stopped)."""
        self._set_running(False)

    def advance(self, seconds: float) -> dt.datetime:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            if self.path is not None:
                self._reload()
            self._state = dict(self._state, advanced=self._state["advanced"] + float(seconds))
            self._save()
        return self.now()

    def advance_to(self, moment: dt.datetime) -> dt.datetime:
        """Move forward to ``moment`` (never back)."""
        return self.advance(max(0.0, (moment - self.now()).total_seconds()))

    def advance_to_next_receipt_time(self) -> dt.datetime:
        """Let "08:00 the next working day" arrive (a second past it)."""
        return self.advance_to(next_working_day_at(self.now()) + dt.timedelta(seconds=1))
