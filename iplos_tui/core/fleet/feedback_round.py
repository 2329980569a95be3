"""Feedback for every gateway account of a fleet in one go (``iplos fleet feedback``): each
profile's fetch is the single fetch, ``core.feedback.fetch.FeedbackFetch``, in its own profile and
secure directory, so only that municipality's ``KKKKBB_iplos_tilbakemelding_*.zip`` is stored
there (another's stays new on the gateway).

- **A password per account, asked when its turn comes** (``password_for``), held as a ``Secret``
  for that account's fetches and cleared after them; never written. Profiles that share one
  gateway user (the same address and username) are one account: asked once, fetched for each.
- **One account's failure stops only that account**: a wrong password, a locked user, a gateway
  that wants a new password (the single fetch, ``iplos --profile ID feedback fetch``, changes it),
  a network fault. The others go on.
- What each fetch saw is remembered for the board (``seen.record_gateway``): the municipality's
  files still new on the gateway, or why it could not ask.

Every step goes out as ``AccountEvent(id, event)`` (the fetch's own events).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.errors import Cancelled, explain
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import ProfileEntry
from iplos_tui.core.text import safe_text


@dataclass(frozen=True)
class Account:
    """One gateway user and the profiles it serves."""

    url: str
    username: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class RoundStarted:
    accounts: int
    profiles: int


@dataclass(frozen=True)
class AccountAsked:
    account: Account


@dataclass(frozen=True)
class AccountEvent:
    id: str
    event: Any  # a core.feedback.fetch event of this profile's fetch


@dataclass
class ProfileFetched:
    id: str
    state: str  # fetched | failed | no-password | skipped | cancelled
    stored: int = 0  # feedback files of this municipality now in its secure dir (new or present)
    downloaded: int = 0
    left_new: int = 0  # this municipality's files still new on the gateway
    skipped_others: int = 0  # files on the gateway for no profile of this account
    message: str = ""
    exit_code: int = int(ExitCode.OK)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProfileDone:
    outcome: ProfileFetched


FeedbackRoundEvent = RoundStarted | AccountAsked | AccountEvent | ProfileDone


def accounts(entries: list[ProfileEntry]) -> list[Account]:
    """The gateway accounts of these profiles, in the profiles' order (usable profiles only)."""
    found: dict[tuple[str, str], list[str]] = {}
    for entry in entries:
        if entry.usable and entry.profile is not None and entry.profile.gateway_username:
            key = (entry.profile.gateway_url.rstrip("/"), entry.profile.gateway_username.casefold())
            found.setdefault(key, []).append(entry.id)
    first = {entry.id: entry for entry in entries}
    return [Account(url, first[ids[0]].profile.gateway_username, tuple(ids)) for (url, _), ids in found.items()]  # type: ignore[union-attr]


class FleetFeedback:
    def __init__(
        self,
        entries: list[ProfileEntry],
        *,
        password_for: Callable[[Account], Any],
        emit: Callable[[FeedbackRoundEvent], None] | None = None,
        cancel: threading.Event | None = None,
        options: Any = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.entries = entries
        self.password_for = password_for
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.options = options
        self.now = now or (lambda: dt.datetime.now().astimezone())

    def run(self) -> list[ProfileFetched]:
        by_id = {entry.id: entry for entry in self.entries}
        outcomes: list[ProfileFetched] = []
        found = accounts(self.entries)
        self.emit(RoundStarted(len(found), sum(len(a.ids) for a in found)))
        for entry in self.entries:
            if not entry.usable or entry.profile is None or not entry.profile.gateway_username:
                message = explain(entry.error).message if entry.error is not None else t("fleet.feedback_no_user")
                outcomes.append(self._done(ProfileFetched(entry.id, "skipped", message=message, exit_code=int(ExitCode.USAGE))))
        for account in found:
            if self.cancel.is_set():
                outcomes += [self._done(ProfileFetched(i, "cancelled", exit_code=int(ExitCode.INTERRUPTED))) for i in account.ids]
                continue
            self.emit(AccountAsked(account))
            password = self.password_for(account)
            if password is None or not getattr(password, "is_set", False):
                outcomes += [self._done(ProfileFetched(i, "no-password", message=t("fleet.feedback_no_password"))) for i in account.ids]
                continue
            try:
                refused: ProfileFetched | None = None
                for kid in account.ids:
                    if refused is not None:  # the account's login failed: its other profiles say so, untried
                        outcomes.append(self._done(ProfileFetched(kid, "failed", message=refused.message, exit_code=refused.exit_code)))
                        continue
                    outcome, login_refused = self._fetch(by_id[kid], password)
                    refused = outcome if login_refused else None
                    outcomes.append(self._done(outcome))
            finally:
                password.clear()
        order = {entry.id: n for n, entry in enumerate(self.entries)}
        return sorted(outcomes, key=lambda o: order.get(o.id, 0))

    def _done(self, outcome: ProfileFetched) -> ProfileFetched:
        self.emit(ProfileDone(outcome))
        return outcome

    def _fetch(self, entry: ProfileEntry, password: Any) -> tuple[ProfileFetched, bool]:
        """This profile's fetch, and whether the gateway refused the account's login."""
        from iplos_tui.core.feedback.fetch import DOWNLOADED, SKIPPED, FeedbackFetch
        from iplos_tui.core.fleet.seen import record_gateway
        from iplos_tui.core.gateway.errors import GatewayAuthError

        profile = entry.profile
        assert profile is not None
        fetch = FeedbackFetch(profile, options=self.options, on_event=lambda event: self.emit(AccountEvent(entry.id, event)), cancel=self.cancel)
        secure = Path(profile.secure_dir)
        try:
            result = fetch.run(password)
        except Cancelled:
            return ProfileFetched(entry.id, "cancelled", exit_code=int(ExitCode.INTERRUPTED)), False
        except Exception as exc:  # noqa: BLE001 - this account's failure, said for it; the others go on
            explanation = explain(exc)
            message = safe_text(explanation.message, one_line=True, limit=300)
            self._remember(record_gateway, secure, 0, message)
            return ProfileFetched(entry.id, "failed", message=message, exit_code=int(explanation.exit_code)), isinstance(exc, GatewayAuthError)
        own_skipped = [row for row in result.with_status(SKIPPED) if row.matches_profile]
        left_new = sum(1 for row in own_skipped if row.file is not None and row.file.is_new)
        outcome = ProfileFetched(
            entry.id, "fetched" if result.error is None else "failed",
            stored=len(result.stored), downloaded=len(result.with_status(DOWNLOADED)), left_new=left_new,
            skipped_others=len(result.with_status(SKIPPED)) - len(own_skipped),
            message=safe_text(explain(result.error).message, one_line=True, limit=300) if result.error is not None else result.skipped_summary(),
            exit_code=int(result.exit_code),
        )
        self._remember(record_gateway, secure, left_new, outcome.message if result.error is not None else "")
        return outcome, False

    def _remember(self, record: Callable[..., Any], secure: Path, new_files: int, error: str) -> None:
        try:
            record(secure, new_files, self.now(), error)
        except OSError:
            pass  # the board's note only; the fetch itself is done
