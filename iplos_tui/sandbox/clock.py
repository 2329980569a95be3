"""The sandbox clock: Norwegian local time that starts in the submission window and can be advanced.

The clock ticks with real time from a sandbox start instant (by default Monday 8 January 2018,
09:00 in Oslo, inside the 2–15 January window for 2017 data) plus every advance. Its state is a
small JSON file in the sandbox directory, read again whenever it changed, so that
``iplos sandbox advance-clock`` in another process moves the clock of a running ``serve``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
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
        self._mtime: int | None = None
        self._state = {"start": start.isoformat(), "real_epoch": time.time(), "advanced": 0.0}
        if self.path is not None:
            if self.path.exists():
                self._reload()
            else:
                self._save()

    def _reload(self) -> None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        if st.st_mtime_ns == self._mtime:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            state = {
                "start": dt.datetime.fromisoformat(str(data["start"])).isoformat(),
                "real_epoch": float(data["real_epoch"]),
                "advanced": float(data["advanced"]),
            }
        except (OSError, ValueError, KeyError, TypeError):
            return  # a broken file keeps the clock as it was
        self._state, self._mtime = state, st.st_mtime_ns

    def _save(self) -> None:
        if self.path is None:
            return
        atomic_write_bytes(self.path, (json.dumps(self._state, indent=2) + "\n").encode("utf-8"), mode=0o600)
        self._mtime = os.stat(self.path).st_mtime_ns

    def now(self) -> dt.datetime:
        with self._lock:
            if self.path is not None:
                self._reload()
            state = self._state
            start = dt.datetime.fromisoformat(state["start"])
            elapsed = max(0.0, time.time() - state["real_epoch"]) + state["advanced"]
        return (start + dt.timedelta(seconds=elapsed)).astimezone(OSLO)

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
