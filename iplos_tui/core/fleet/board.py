"""The board: where every municipality of a fleet stands, sorted so that what needs a person
comes first. Read-only: it reads each profile's journal, its last preflight and what its gateway
showed when last asked (``seen``), and never takes a run lock (a running round is seen from the
lock file's pid). ``iplos fleet status`` prints it; the Board pane shows it.

Levels: ``act`` (a person must do something now), ``soon`` (before the deadline), ``watch``
(nothing to do yet, something to look at), ``done``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.config import Profile, submission_window
from iplos_tui.core.fleet.seen import GatewaySeen, PreflightSeen, last_gateway, last_preflight
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import Fleet, ProfileEntry
from iplos_tui.core.text import safe_text

ACT, SOON, WATCH, DONE = "act", "soon", "watch", "done"
LEVELS = (ACT, SOON, WATCH, DONE)
PREFLIGHT_STALE_DAYS = 7
ALMOST_LATE_DAYS = 3  # in the window, nothing sent and this few days left: act
MAIL_GRACE = dt.timedelta(hours=4)
MAIL_FORGOTTEN = dt.timedelta(days=14)


@dataclass
class BoardRow:
    id: str
    kommunenr: str
    bydel: str
    year: int
    name: str  # the municipality's name for the year ('' when unknown)
    level: str = DONE
    need: str = ""  # the one line a person reads: what to do, or how it stands
    need_kind: str = "done"
    problem: str = ""  # the profile cannot be used: why
    running: bool = False
    preflight: str = "none"  # pass | warn | fail | none
    preflight_at: str = ""
    preflight_age_days: int | None = None
    preflight_failed: list[str] = field(default_factory=list)
    submission: str = "none"  # the latest submission's journal state, or "none"
    submission_id: str = ""
    submission_reason: str = ""
    submission_reason_code: str = ""
    unresolved: int = 0  # submissions of the period that are ambiguous or interrupted while sending
    receipt_id: str = ""
    received_at: str = ""
    persons: int = 0
    accepted: dict[str, int] = field(default_factory=dict)  # findings accepted to send (error, warning)
    receipt_mail_due: str = ""
    receipt_mail_overdue: bool = False
    feedback_gateway_new: int | None = None  # as last seen
    feedback_seen_at: str = ""
    feedback_seen_error: str = ""
    feedback_local: str = ""  # the date of the newest feedback zip of this profile in its secure dir
    deadline: str = ""  # window_opens | window_open | corrections | over
    deadline_date: str = ""
    days_left: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _deadline(year: int, today: dt.date) -> tuple[str, dt.date, int]:
    opens, closes, corrections = submission_window(year)
    if today < opens:
        return "window_opens", opens, (opens - today).days
    if today <= closes:
        return "window_open", closes, (closes - today).days
    if today <= corrections:
        return "corrections", corrections, (corrections - today).days
    return "over", corrections, (corrections - today).days


def _run_pid_alive(secure_dir: Path) -> bool:
    """A run holds this secure directory's lock: its pid is in the lock file and alive (a probe
    that takes the lock could make a starting run fail, so the board never does that)."""
    from iplos_tui.core.journal import LOCK_FILE

    try:
        with open(Path(secure_dir) / LOCK_FILE, "rb") as handle:
            text = handle.read(32).decode("ascii", "replace").strip()
    except OSError:
        return False
    if not text.isdigit():
        return False
    try:
        os.kill(int(text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _when(value: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.astimezone()


def _fill_submissions(row: BoardRow, profile: Profile, now: dt.datetime) -> None:
    from iplos_tui.core.journal import AMBIGUOUS, CONFIRMED, SENDING, Journal

    journal = Journal(profile.secure_dir)
    row.running = _run_pid_alive(Path(profile.secure_dir))
    period = [
        sub for sub in journal.submissions()
        if (sub.kommunenr, sub.bydel, int(sub.year or 0)) == (profile.kommunenr, profile.bydel, profile.year) and not sub.superseded
    ]
    row.unresolved = sum(1 for sub in period if sub.state == AMBIGUOUS or (sub.state == SENDING and not row.running))
    if not period:
        return
    latest = max(period, key=lambda sub: sub.history[-1][0] if sub.history else 0)
    row.submission, row.submission_id = latest.state, latest.id
    row.submission_reason = safe_text(latest.reason, one_line=True, limit=200)
    row.submission_reason_code = latest.reason_code
    row.persons = int(latest.persons or 0)
    accepted = latest.accepted_levels or {}
    row.accepted = {level: int(count) for level, count in accepted.items() if level in ("error", "warning") and isinstance(count, int)}
    confirmed = [sub for sub in period if sub.state == CONFIRMED]
    if confirmed:
        last = max(confirmed, key=lambda sub: sub.history[-1][0] if sub.history else 0)
        receipt = last.receipt or {}
        row.receipt_id = safe_text(str(receipt.get("receipt_id", "")), one_line=True, limit=80)
        row.received_at = safe_text(str(receipt.get("received_at", "")), one_line=True, limit=40)
        row.receipt_mail_due = safe_text(str(receipt.get("receipt_mail_expected_at", "")), one_line=True, limit=40)
        due = _when(row.receipt_mail_due)
        # late by some hours, and not so long ago that it no longer matters
        row.receipt_mail_overdue = due is not None and due + MAIL_GRACE < now < due + MAIL_FORGOTTEN


def _fill_seen(row: BoardRow, profile: Profile, now: dt.datetime) -> None:
    from iplos_tui.core.feedback.store import feedback_dir, list_local

    preflight: PreflightSeen | None = last_preflight(Path(profile.secure_dir), now.tzinfo)
    if preflight is not None:
        row.preflight = preflight.status
        row.preflight_at = preflight.at.isoformat(timespec="seconds")
        row.preflight_age_days = max(0, (now.date() - preflight.at.astimezone(now.tzinfo).date()).days)  # calendar days
        row.preflight_failed = list(preflight.failed or preflight.warned)
    gateway: GatewaySeen | None = last_gateway(Path(profile.secure_dir))
    if gateway is not None:
        row.feedback_gateway_new = gateway.new_files
        row.feedback_seen_at = gateway.at.isoformat(timespec="seconds")
        row.feedback_seen_error = safe_text(gateway.error, one_line=True, limit=200)
    try:
        zips = [z for z in list_local(feedback_dir(Path(profile.secure_dir))) if z.matches(profile.kommunenr, profile.bydel)]
    except Exception:  # noqa: BLE001 - an unreadable feedback folder: the Feedback pane says why
        zips = []
    dates = [z.info.date for z in zips if z.info is not None and z.info.date is not None]
    row.feedback_local = max(dates).isoformat() if dates else ""


def _judge(row: BoardRow) -> None:
    """The level and the one line, from the first thing that needs a person."""
    def need(level: str, kind: str, **values: object) -> None:
        row.level, row.need_kind, row.need = level, kind, t(f"fleet.need.{kind}", **values)

    sent = bool(row.receipt_id)
    if row.problem:
        return need(ACT, "profile", problem=row.problem)
    if row.running:
        return need(WATCH, "running")
    if row.unresolved:
        return need(ACT, "unresolved", count=row.unresolved)
    if row.submission == "failed-safe" and row.submission_reason_code == "locked":
        return need(ACT, "locked", reason=row.submission_reason)
    if row.submission == "failed-safe" and row.submission_reason_code == "auth":
        return need(ACT, "wrong_pin")
    if row.preflight == "fail" and not sent:
        return need(ACT, "preflight_failed", checks=", ".join(row.preflight_failed) or "?")
    if not sent and row.deadline in ("window_open", "corrections"):
        late = row.deadline == "corrections" or row.days_left <= ALMOST_LATE_DAYS
        kind = "not_sent_failed" if row.submission == "failed-safe" else "not_sent"
        return need(ACT if late else SOON, kind, days=row.days_left, reason=row.submission_reason)
    if row.feedback_gateway_new:
        return need(SOON, "feedback_new", count=row.feedback_gateway_new)
    if sent and row.receipt_mail_overdue:
        return need(SOON, "receipt_mail_overdue", due=row.receipt_mail_due[:16].replace("T", " "))
    if not sent and row.deadline == "window_opens":
        if row.preflight in ("none", "fail") or (row.preflight_age_days or 0) > PREFLIGHT_STALE_DAYS:
            return need(SOON if row.preflight == "fail" else WATCH, "preflight_first", days=row.days_left)
        return need(WATCH, "waiting_window", days=row.days_left)
    if row.preflight == "warn" and not sent:
        return need(WATCH, "preflight_warned", checks=", ".join(row.preflight_failed) or "?")
    if sent and row.receipt_mail_due and not row.feedback_local:
        return need(WATCH, "receipt_mail", due=row.receipt_mail_due[:16].replace("T", " "))
    if sent:
        return need(DONE, "confirmed", receipt=row.receipt_id)
    return need(WATCH, "round_over")


_RANK = {
    "profile": 0, "unresolved": 1, "locked": 2, "wrong_pin": 3, "not_sent_failed": 4, "not_sent": 5, "preflight_failed": 6,
    "feedback_new": 7, "receipt_mail_overdue": 8, "preflight_first": 9, "preflight_warned": 10, "running": 11,
    "waiting_window": 12, "receipt_mail": 13, "round_over": 14, "confirmed": 15,
}


def sort_key(row: BoardRow) -> tuple[int, int, int, str]:
    return (LEVELS.index(row.level), _RANK.get(row.need_kind, 99), row.days_left, row.id)


def board_row(entry: ProfileEntry, now: dt.datetime) -> BoardRow:
    """One municipality's row; a profile or journal that cannot be read is a row that says why."""
    from iplos_tui.core import refdata
    from iplos_tui.core.errors import explain

    profile = entry.profile or Profile(kommunenr=entry.id[:4], bydel=entry.id[5:] or "00")
    try:
        name = refdata.kommune_name(profile.kommunenr, profile.year) or ""
    except ValueError:
        name = ""
    row = BoardRow(entry.id, profile.kommunenr, profile.bydel, profile.year, name)
    row.deadline, deadline_date, row.days_left = _deadline(profile.year, now.date())
    row.deadline_date = deadline_date.isoformat()
    if entry.error is not None or entry.profile is None:
        row.problem = explain(entry.error).message if entry.error is not None else entry.id
    else:
        try:
            _fill_submissions(row, profile, now)
            _fill_seen(row, profile, now)
        except Exception as exc:  # noqa: BLE001 - an unusable journal or secure dir is this row's problem
            row.problem = explain(exc).message
    _judge(row)
    return row


def build_board(fleet: Fleet, now: dt.datetime) -> list[BoardRow]:
    return sorted((board_row(entry, now) for entry in fleet.entries), key=sort_key)


def level_counts(rows: list[BoardRow]) -> dict[str, int]:
    return {level: sum(1 for row in rows if row.level == level) for level in LEVELS}


def cells(row: BoardRow) -> dict[str, str]:
    """The short texts of a row's columns, the same in `iplos fleet status` and the Board pane."""
    if row.problem:
        submission = "broken"
    elif row.submission == "failed-safe" and row.submission_reason_code == "locked":
        submission = "locked"
    else:
        submission = row.submission
    preflight = t(f"fleet.cell.preflight.{row.preflight}")
    if row.preflight_age_days is not None:
        preflight += " " + t("fleet.cell.age_days", days=row.preflight_age_days)
    accepted = ""
    if row.accepted:
        accepted = t("fleet.cell.accepted", errors=row.accepted.get("error", 0), warnings=row.accepted.get("warning", 0))
    feedback = ""
    if row.feedback_gateway_new:
        feedback = t("fleet.cell.feedback_new", count=row.feedback_gateway_new)
    elif row.feedback_local:
        day = dt.date.fromisoformat(row.feedback_local)
        feedback = t("fleet.cell.feedback_here", date=f"{day.day:02d}.{day.month:02d}")
    return {
        "level": t(f"fleet.level.{row.level}"),
        "id": row.id,
        "name": row.name,
        "submission": t(f"fleet.cell.submission.{submission}"),
        "preflight": preflight,
        "accepted": accepted,
        "feedback": feedback,
        "deadline": t(f"fleet.cell.deadline.{row.deadline}", days=row.days_left),
        "need": row.need,
    }


NAGIOS_SERVICE = "IPLOS FLEET"


def nagios_line(rows: list[BoardRow]) -> tuple[str, int]:
    """The board as one monitoring-plugin line, in the preflight's plugin format
    (core/preflight/monitoring.py): CRITICAL when a municipality needs action now, WARNING when
    one needs it soon, UNKNOWN without profiles, else OK; the worst one's own words in brackets."""
    from iplos_tui.core.preflight.monitoring import PluginState, plugin_line

    counts = level_counts(rows)
    parts: list[str] = []
    for level in (ACT, SOON):
        group = [row for row in rows if row.level == level]
        if group:
            part = t(f"fleet.nagios.{level}", count=len(group), ids=", ".join(row.id for row in group))
            if not parts:
                part += f" ({safe_text(group[0].need, one_line=True, limit=160)})"
            parts.append(part)
    if not rows:
        state, parts = PluginState.UNKNOWN, [t("fleet.no_profiles")]
    elif counts[ACT]:
        state = PluginState.CRITICAL
    elif counts[SOON]:
        state = PluginState.WARNING
    else:
        state, parts = PluginState.OK, [t("fleet.nagios.all_ok", count=len(rows), done=counts[DONE])]
    perf = [f"{level}={counts[level]};;;0" for level in LEVELS] + [f"profiles={len(rows)};;;0"]
    return plugin_line(NAGIOS_SERVICE, state, parts, perf), int(state)
