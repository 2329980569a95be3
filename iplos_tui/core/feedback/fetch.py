"""The feedback fetch, written once: log in to the gateway, list, choose, download, verify, mark.

``FeedbackFetch(profile, ...).run(password)`` is called by ``iplos feedback fetch`` and by the
Feedback pane's worker; both only map its events (``on_event``) and its ``FetchResult`` to their
output. What it guarantees (issue 11 items 6, 8, 9, 12, 15):

- only files named ``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip`` for the profile's kommunenr and
  bydel are stored; every other listed file is reported as skipped with its reason and stays new
  on the gateway, so the operator still sees it there;
- at most ``gateway_max_files`` files and ``gateway_max_bytes`` bytes per fetch (the rest is
  skipped, and said);
- every request has its deadline and the whole fetch ``gateway_fetch_timeout``;
- the gateway password is never the PIN (refused before anything is sent);
- the console's own temp files left by a killed run are removed before downloading.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.errors import Cancelled, IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.feedback.naming import check_feedback_name, matches_profile, parse_feedback_name
from iplos_tui.core.gateway.errors import GatewayError, GatewayUsageError
from iplos_tui.core.gateway.models import Downloaded, GatewayFile, Listing, RefusedItem
from iplos_tui.core.gateway.passwords import PasswordRequirements, Revealable, check_login_password, check_new_password
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

# ---- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggingIn:
    url: str
    username: str


@dataclass(frozen=True)
class Listed:
    files: int
    candidates: int
    refused: int


@dataclass(frozen=True)
class FileStarted:
    number: int
    total: int
    name: str  # sanitised


@dataclass(frozen=True)
class FileProgress:
    name: str
    done: int
    total: int


@dataclass(frozen=True)
class FileFinished:
    row: FetchedFile


FetchEvent = LoggingIn | Listed | FileStarted | FileProgress | FileFinished

# ---- result ---------------------------------------------------------------------------------

DOWNLOADED, PRESENT, SKIPPED, FAILED = "downloaded", "present", "skipped", "failed"


@dataclass
class FetchedFile:
    """One listed file and what the fetch did with it."""

    file: GatewayFile | None
    status: str
    reason: str = ""  # why skipped: a key of the catalog's ``feedback.skip_<reason>``
    path: Path | None = None
    sha1: str | None = None
    matches_profile: bool = False
    error: str = ""
    refused: RefusedItem | None = None
    marked: bool = False
    deleted: bool = False

    @property
    def display_name(self) -> str:
        if self.file is not None:
            return self.file.display_name
        return self.refused.name if self.refused is not None else ""

    def to_json(self) -> dict[str, Any]:
        base: dict[str, Any]
        if self.file is not None:
            base = self.file.to_json()
        else:
            base = {"id": self.refused.id if self.refused else "", "name": self.display_name, "size": None, "uploadStamp": "", "isNew": None, "uploadUsername": ""}
        if self.marked:
            base["isNew"] = False
        base.update(
            status=self.status,
            reason=self.reason or None,
            path=safe_text(str(self.path), one_line=True) if self.path else None,
            sha1=self.sha1,
            matches_profile=self.matches_profile,
            error=self.error or None,
        )
        if self.deleted:
            base["deleted"] = True
        return base


@dataclass
class FetchResult:
    rows: list[FetchedFile] = field(default_factory=list)
    listing: Listing | None = None  # every file the gateway listed (the pane shows them)
    directory: Path | None = None
    error: IplosError | None = None  # what stopped the fetch early, if anything

    def with_status(self, status: str) -> list[FetchedFile]:
        return [row for row in self.rows if row.status == status]

    @property
    def stored(self) -> list[FetchedFile]:
        return [row for row in self.rows if row.status in (DOWNLOADED, PRESENT)]

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        return ExitCode.NETWORK if self.with_status(FAILED) else ExitCode.OK

    def skipped_by_reason(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.with_status(SKIPPED):
            counts[row.reason] = counts.get(row.reason, 0) + 1
        return counts

    def skipped_summary(self) -> str:
        """One sentence for a person: how many files were left on the gateway, and why."""
        skipped = self.with_status(SKIPPED)
        if not skipped:
            return ""
        reasons = ", ".join(
            t("feedback.fetch_skipped_reason", count=count, reason=t(f"feedback.skip_{reason}")) for reason, count in self.skipped_by_reason().items()
        )
        return t("feedback.fetch_skipped_one" if len(skipped) == 1 else "feedback.fetch_skipped", count=len(skipped), reasons=reasons)


# ---- the flow -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchOptions:
    all_files: bool = False  # not only the new ones
    only_ids: frozenset[str] = frozenset()  # and these (the pane's selected row)
    keep_new: bool = False  # leave them marked new on the gateway
    delete: bool = False  # delete them there after a verified download


class FeedbackFetch:
    def __init__(
        self,
        profile: Any,
        *,
        options: FetchOptions | None = None,
        pin: Revealable | None = None,
        on_event: Callable[[FetchEvent], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.profile = profile
        self.options = options or FetchOptions()
        self.pin = pin
        self.on_event = on_event or (lambda event: None)
        self.cancel = cancel or threading.Event()

    @property
    def directory(self) -> Path:
        from iplos_tui.core.feedback.store import feedback_dir

        return feedback_dir(Path(self.profile.secure_dir).expanduser())

    def check_passwords(self, password: Revealable, new_password: Revealable | None = None, requirements: PasswordRequirements | None = None) -> None:
        """Refuse before anything is sent: the PIN as a password, a new password that breaks a rule."""
        if check_login_password(password, self.pin):
            raise GatewayUsageError("password_is_pin")
        if new_password is not None:
            self.check_new_password(new_password, requirements)

    def check_new_password(self, new_password: Revealable, requirements: PasswordRequirements | None = None) -> None:
        reasons = check_new_password(new_password, self.profile.gateway_username, requirements, pin=self.pin)
        if reasons:
            raise GatewayUsageError("pw_rejected", reasons="; ".join(reasons))

    def run(self, password: Revealable, *, new_password: Revealable | None = None, requirements: PasswordRequirements | None = None) -> FetchResult:
        """Log in and fetch. Raises (nothing fetched) when the login or the setup fails, including
        ``PasswordChangeRequired``; after the login a failure ends the fetch and is ``result.error``."""
        from iplos_tui.core.gateway.client import GatewayClient, Timeouts

        profile = self.profile
        username = profile.gateway_username
        if not username:
            raise GatewayUsageError("no_username")
        if not profile.kommunenr:
            raise GatewayUsageError("no_kommunenr")
        self.check_passwords(password, new_password, requirements)
        secure = Path(profile.secure_dir).expanduser()
        if not secure.is_dir():
            raise GatewayUsageError("no_secure_dir", dir=str(secure))
        directory = self._prepare_directory()
        timeouts = Timeouts(request=float(profile.gateway_request_timeout))
        result = FetchResult(directory=directory)
        self.on_event(LoggingIn(safe_text(profile.gateway_url, one_line=True), safe_text(username, one_line=True)))
        with GatewayClient(profile.gateway_url, ca_bundle=profile.gateway_ca_bundle, timeouts=timeouts) as client:
            client.limit_until(float(profile.gateway_fetch_timeout))
            client.login(username, password, new_password=new_password, requirements=requirements)
            try:
                result.listing = client.list_files()
                self._fetch_all(client, result)
            except (GatewayError, Cancelled) as exc:
                result.error = exc
        return result

    def _prepare_directory(self) -> Path:
        from iplos_tui.core.feedback.store import remove_own_leftovers
        from iplos_tui.core.fsutil import UnsafePathError, ensure_private_dir

        try:
            directory = ensure_private_dir(self.directory)
        except (OSError, UnsafePathError) as exc:
            raise GatewayUsageError("write_failed", detail=str(exc)) from None
        remove_own_leftovers(directory)
        return directory

    def _candidates(self, listing: Listing) -> list[GatewayFile]:
        options = self.options
        return [f for f in listing.files if f.is_new or options.all_files or f.id in options.only_ids]

    def _fetch_all(self, client: Any, result: FetchResult) -> None:
        listing = result.listing
        assert listing is not None
        candidates = self._candidates(listing)
        self.on_event(Listed(len(listing.files), len(candidates), len(listing.refused)))
        for item in listing.refused:
            result.rows.append(FetchedFile(None, SKIPPED, reason=f"item_{item.reason}", refused=item))
        chosen: list[GatewayFile] = []
        taken_bytes = 0
        for remote in candidates:
            reason = self._skip_reason(remote, len(chosen), taken_bytes)
            if reason:
                result.rows.append(FetchedFile(remote, SKIPPED, reason=reason, matches_profile=self._matches(remote.name)))
                continue
            chosen.append(remote)
            taken_bytes += remote.size
        for number, remote in enumerate(chosen, start=1):
            if self.cancel.is_set():
                raise Cancelled()
            self.on_event(FileStarted(number, len(chosen), remote.display_name))
            row = FetchedFile(remote, FAILED, matches_profile=True)
            result.rows.append(row)
            try:
                got = client.download(remote, result.directory, remote.name, progress=self._progress(remote), cancel=self.cancel)
            except Cancelled as exc:
                row.error = exc.message()
                raise
            except GatewayError as exc:
                row.error = exc.message()
                if exc.kind in ("auth", "network"):
                    raise
                self.on_event(FileFinished(row))
                continue
            self._stored(client, row, got)

    def _stored(self, client: Any, row: FetchedFile, got: Downloaded) -> None:
        remote = row.file
        assert remote is not None
        row.status = PRESENT if got.already_present else DOWNLOADED
        row.path, row.sha1 = got.path, got.sha1
        if not self.options.keep_new and remote.is_new:
            client.mark_not_new(remote.id)
            row.marked = True
        if self.options.delete:
            client.delete(remote.id)
            row.deleted = True
        self.on_event(FileFinished(row))

    def _progress(self, remote: GatewayFile) -> Callable[[int, int], None]:
        name = remote.display_name

        def report(done: int, total: int) -> None:
            self.on_event(FileProgress(name, done, total))

        return report

    def _matches(self, name: str) -> bool:
        return matches_profile(parse_feedback_name(name), self.profile.kommunenr, self.profile.bydel)

    def _skip_reason(self, remote: GatewayFile, files_taken: int, bytes_taken: int) -> str:
        from iplos_tui.core.feedback.errors import NameRefusal
        from iplos_tui.core.feedback.naming import expected_bydel

        profile = self.profile
        try:
            check_feedback_name(remote.name, profile.kommunenr, expected_bydel(profile.bydel))
        except NameRefusal as refusal:
            return "not_feedback_name" if refusal.reason == "name_unknown" else "other_municipality"
        if files_taken >= profile.gateway_max_files:
            return "max_files"
        if bytes_taken + remote.size > profile.gateway_max_bytes:
            return "max_bytes"
        return ""
