"""What the console tells about where things stand: the profile line and the submission window
countdown (the header), and the journal's submissions (``iplos status``, the history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

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


def state_label(state: str, *, interrupted: bool = False, superseded: bool = False) -> str:
    """The one name of a state, for the TUI and ``iplos status`` alike: a journal state, or a
    run's result state (``duplicate``, ``refused``, ...). ``interrupted``: a ``sending`` that no
    run holds any more, or an ``ambiguous`` that came from one."""
    from iplos_tui.core.i18n import has

    if superseded:
        return t("submit.state_superseded")
    if interrupted:
        return t("submit.state_interrupted")
    return t(f"submit.state_{state}") if has(f"submit.state_{state}") else state


def submission_label(sub: Any, *, running: bool) -> str:
    from iplos_tui.core.journal import AMBIGUOUS, SENDING

    interrupted = (sub.state == SENDING and not running) or (sub.state == AMBIGUOUS and sub.reason_code == "interrupted")
    return state_label(sub.state, interrupted=interrupted, superseded=sub.superseded)


def _waiting_for(sub: Any, running: bool, now: dt.datetime | None = None) -> str:
    """What it waits for; a ``sending`` that no run holds waits for the operator, not a start."""
    from iplos_tui.core.journal import SENDING

    return t("submit.wait_interrupted") if sub.state == SENDING and not running else sub.waiting_for(now)


def _running(journal: Any) -> bool:
    from iplos_tui.core.journal import LOCK_FILE, RunLock

    return (journal.secure_dir / LOCK_FILE).exists() and not RunLock(journal.secure_dir).is_free()


def unfinished_submissions(profile: Profile) -> list[dict[str, Any]]:
    """What the console should announce on start: every submission that is neither delivered
    nor replaced, the interrupted and unresolved ones first, each with its one state name, what
    it waits for and one line to say it ("Innsending 1a2b3c4d (avbrutt under sending) ..."). An
    unusable journal raises ``JournalError``; none gives []."""
    from iplos_tui.core.journal import AMBIGUOUS, SENDING, Journal

    journal = Journal(profile.secure_dir)
    journal.check_secure_dir()
    if not journal.path.exists():
        return []
    running = _running(journal)
    found = [s for s in journal.submissions() if s.open and not (s.state == SENDING and running)]
    found.sort(key=lambda s: (s.state not in (SENDING, AMBIGUOUS), -(s.history[-1][0] if s.history else 0)))
    out = []
    for sub in found:
        label = submission_label(sub, running=running)
        waiting = _waiting_for(sub, running)
        out.append({
            "id": sub.id,
            "state": sub.state,
            "label": label,
            "interrupted": label == t("submit.state_interrupted"),
            "waiting_for": waiting,
            "period": sub.year,
            "updated": sub.updated,
            "line": t("submit.unfinished_one", id=sub.id[:8], state=label, waiting=waiting),
        })
    return out


def journal_status(profile: Profile, now: dt.datetime | None = None) -> dict[str, Any]:
    """The submissions as plain data; a ``sending`` with no run holding the lock is interrupted.
    Raises ``JournalError`` (an ``IplosError``) when the journal or the secure directory cannot
    be used."""
    from iplos_tui.core.journal import SENDING, Journal

    journal = Journal(profile.secure_dir)
    journal.check_secure_dir()
    if not journal.path.exists():
        return {"journal": str(journal.path), "running": False, "submissions": []}
    running = _running(journal)
    subs = []
    for sub in journal.submissions():
        item = sub.to_dict()
        item["interrupted"] = sub.state == SENDING and not running
        item["label"] = submission_label(sub, running=running)
        item["waiting_for"] = _waiting_for(sub, running, now)
        subs.append(item)
    return {"journal": str(journal.path), "running": running, "submissions": subs}
