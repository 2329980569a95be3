"""What the console tells about where things stand: the profile line and the submission window
countdown (the header), and the journal's submissions (``iplos status``, the history)."""

from __future__ import annotations

import datetime as dt

from iplos_tui.core.config import Profile, submission_window
from iplos_tui.core.i18n import t


def _date(day: dt.date) -> str:
    return f"{day.day}.{day.month}.{day.year}"


def profile_label(profile: Profile) -> str:
    """"0403 Hamar · bydel 00 · 2017" (name from SSB's list for that year when known)."""
    from iplos_tui.core import refdata

    if not profile.kommunenr:
        return t("app.no_profile")
    try:
        name = refdata.kommune_name(profile.kommunenr, profile.year)
    except ValueError:
        name = None
    kommune = f"{profile.kommunenr} {name}" if name else profile.kommunenr
    return t("app.profile_label", kommune=kommune, bydel=profile.bydel, year=profile.year)


def window_status(year: int, today: dt.date) -> str:
    """Where ``today`` stands against the window 2–15 January and the 21 March corrections."""
    opens, closes, corrections = submission_window(year)
    if today < opens:
        return t("app.window_opens", days=(opens - today).days, date=_date(opens))
    if today <= closes:
        return t("app.window_open", days=(closes - today).days, date=_date(closes))
    if today <= corrections:
        return t("app.window_corrections", days=(corrections - today).days, date=_date(corrections))
    return t("app.window_over", year=year)


def journal_status(profile: Profile) -> dict:
    """The submissions as plain data; a ``sending`` with no run holding the lock is interrupted.
    Raises ``JournalError`` (an ``IplosError``) when the journal or the secure directory cannot
    be used."""
    from iplos_tui.core.journal import LOCK_FILE, SENDING, Journal, RunLock

    journal = Journal(profile.secure_dir)
    journal.check_secure_dir()
    if not journal.path.exists():
        return {"journal": str(journal.path), "running": False, "submissions": []}
    running = (journal.secure_dir / LOCK_FILE).exists() and not RunLock(journal.secure_dir).is_free()
    subs = []
    for sub in journal.submissions():
        item = sub.to_dict()
        item["interrupted"] = sub.state == SENDING and not running
        subs.append(item)
    return {"journal": str(journal.path), "running": running, "submissions": subs}
