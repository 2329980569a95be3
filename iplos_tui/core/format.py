"""The one formatter for what people read: counts with their noun, numbers, sizes, dates and times,
in the current UI language (``core.i18n``). Every area uses these instead of f-strings, so that
"1 advarsel" / "2 advarsler", the decimal comma (nb) or point (en) and the date form are the same
on every pane and in every CLI line.

    count(1, "format.warnings")        -> "1 advarsel"        (en: "1 warning")
    count(12345, "format.persons")     -> "12 345 personer"   (en: "12,345 persons")
    number(2.5, 1)                     -> "2,5"               (en: "2.5")
    size(1_572_864)                    -> "1,5 MiB"           (en: "1.5 MiB")
    date(dt.date(2018, 1, 8))          -> "8.1.2018"          (en: "8 Jan 2018")
    time(moment)                       -> "09:30"
    moment(moment_or_iso_string)       -> "8.1.2018 09:30"    (en: "8 Jan 2018 09:30")

A counted noun is a catalog entry with two forms, ``<key>.one`` and ``<key>.other``, each with
``{n}`` (and any further placeholders)::

    [warnings.one]
    nb = "{n} advarsel"
    en = "{n} warning"
    [warnings.other]
    nb = "{n} advarsler"
    en = "{n} warnings"

Aware datetimes are shown in the machine's local time zone (or ``tz``); ISO strings are parsed
first, and a string that is not a time is returned through ``safe_text`` rather than raising.
"""

from __future__ import annotations

import datetime as dt

from iplos_tui.core.i18n import get_language, t

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SIZE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
# nb groups thousands with a (no-break) space and writes a decimal comma; en a comma and a point.
_SEPARATORS = {"nb": ("\u00a0", ","), "en": (",", ".")}


def _separators() -> tuple[str, str]:
    return _SEPARATORS.get(get_language(), _SEPARATORS["nb"])


def number(value: float | int, decimals: int = 0) -> str:
    """``value`` with thousands grouped and the language's decimal mark."""
    group, point = _separators()
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\0").replace(".", point).replace("\0", group)


def count(n: int, key: str, /, **values: object) -> str:
    """``n`` with its noun in the right form: ``t(key + ".one")`` for 1, ``t(key + ".other")`` else."""
    form = "one" if n == 1 else "other"
    return t(f"{key}.{form}", n=number(n), **values)


def size(n_bytes: int | float) -> str:
    """Bytes in binary units: "812 B", "1,5 MiB" (one decimal above bytes)."""
    value = float(n_bytes)
    for unit in _SIZE_UNITS:
        if abs(value) < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{number(value, 0 if unit == 'B' else 1)}\u00a0{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _as_datetime(value: dt.datetime | dt.date | str) -> dt.datetime | dt.date | None:
    if isinstance(value, (dt.datetime, dt.date)):
        return value
    try:
        return dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            return None


def _local(value: dt.datetime, tz: dt.tzinfo | None) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(tz)


def _not_a_time(value: object) -> str:
    from iplos_tui.core.text import safe_text

    return safe_text(str(value), one_line=True, limit=40)


def date(value: dt.date | dt.datetime | str, tz: dt.tzinfo | None = None) -> str:
    """A day: nb "8.1.2018", en "8 Jan 2018"."""
    parsed = _as_datetime(value)
    if parsed is None:
        return _not_a_time(value)
    day = _local(parsed, tz).date() if isinstance(parsed, dt.datetime) else parsed
    if get_language() == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"


def time(value: dt.datetime | dt.time | str, tz: dt.tzinfo | None = None) -> str:
    """A time of day, 24-hour, both languages: "09:30"."""
    if isinstance(value, dt.time):
        return f"{value:%H:%M}"
    parsed = _as_datetime(value)
    if not isinstance(parsed, dt.datetime):
        return _not_a_time(value)
    return f"{_local(parsed, tz):%H:%M}"


def moment(value: dt.datetime | dt.date | str, tz: dt.tzinfo | None = None) -> str:
    """A day and a time: "8.1.2018 09:30" (a bare date gives the day alone)."""
    parsed = _as_datetime(value)
    if parsed is None:
        return _not_a_time(value)
    if not isinstance(parsed, dt.datetime):
        return date(parsed)
    local = _local(parsed, tz)
    return f"{date(local, tz)} {time(local, tz)}"


def duration(seconds: float) -> str:
    """A span for people: "45 s", "3 min 20 s", "2 t 5 min" (en "2 h 5 min")."""
    whole = max(0, round(seconds))
    if whole < 60:
        return t("format.duration_s", s=whole)
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return t("format.duration_min_s", min=minutes, s=secs)
    hours, minutes = divmod(minutes, 60)
    return t("format.duration_h_min", h=hours, min=minutes)
