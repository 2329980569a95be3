"""The preflight for every profile at once (``iplos fleet preflight``, the Board pane).

Profiles that reach the same Sendemodul and gateway the same way (URL, expected and connect
address, CA bundles, pins, proxy, resolvers, timeout) share the network checks: DNS, the proxy, the
route and TCP, TLS, HTTP, the clock and the gateway run once per such group and their results are
reused; each profile's own checks (certificates, secure directory, profile fields, the manual
ticks) run for every profile. At most ``concurrency`` checklist runs go at once, each with its own
timeouts (``core.preflight.run_checks``: the whole run bounded by its largest timeout). Every
profile's result is remembered for the board (``seen.remember_preflight``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from iplos_tui.core.config import Profile
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.fleet.seen import remember_preflight
from iplos_tui.core.preflight.ids import CHECK_IDS, FAIL, PASS, WARN
from iplos_tui.core.profiles import ProfileEntry

NETWORK_CHECKS = ("dns", "proxy", "tcp", "tls", "http", "clock", "feedback_gateway")
LOCAL_CHECKS = tuple(check_id for check_id in CHECK_IDS if check_id not in NETWORK_CHECKS)
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 16


def network_key(profile: Profile) -> tuple[Any, ...]:
    """What the network checks depend on: profiles with the same key get the same answers."""
    return (
        profile.sendemodul_url,
        profile.sendemodul_address,
        profile.sendemodul_connect_address,
        str(profile.sendemodul_ca_bundle or ""),
        tuple(profile.sendemodul_spki_pins),
        profile.proxy,
        profile.gateway_url,
        str(profile.gateway_ca_bundle or ""),
        tuple(profile.preflight_nameservers),
        profile.preflight_system_resolver,
        profile.preflight_timeout,
    )


# --- events (the CLI prints them, the Board pane shows them) ----------------------------------


@dataclass(frozen=True)
class RoundStarted:
    profiles: int
    groups: int  # network checks run once per group


@dataclass(frozen=True)
class SharedDone:
    lead: str  # the profile whose run the group's network results come from
    members: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class ProfileDone:
    id: str
    status: str  # fail | warn | pass | none | unusable
    counts: dict[str, int]


PreflightEvent = RoundStarted | SharedDone | ProfileDone


@dataclass
class ProfilePreflight:
    id: str
    results: list[Any] = field(default_factory=list)  # CheckResult, in CHECK_IDS order
    shared_from: str = ""  # the profile whose network checks these are ('' for its own)
    problem: str = ""  # the profile cannot be used: why

    @property
    def status(self) -> str:
        if self.problem:
            return "unusable"
        statuses = {result.status for result in self.results}
        if FAIL in statuses:
            return "fail"
        if WARN in statuses or "manual" in statuses:
            return "warn"
        return "pass" if PASS in statuses else "none"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "problem": self.problem,
            "shared_from": self.shared_from,
            "counts": self.counts(),
            "checks": [result.to_dict() for result in self.results],
        }


def _status(results: list[Any]) -> str:
    return ProfilePreflight("", results).status


class FleetPreflight:
    """One preflight round over ``entries``; ``run()`` returns one ``ProfilePreflight`` per entry
    (in the entries' order) and emits events from the calling thread's workers."""

    def __init__(
        self,
        entries: list[ProfileEntry],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        emit: Callable[[PreflightEvent], None] | None = None,
        cancel: threading.Event | None = None,
        now: Callable[[], dt.datetime] | None = None,
        check_options: dict[str, Any] | None = None,
    ) -> None:
        self.entries = entries
        self.concurrency = max(1, min(int(concurrency), MAX_CONCURRENCY))
        self.emit = emit or (lambda event: None)
        self.cancel = cancel or threading.Event()
        self.now = now or (lambda: dt.datetime.now().astimezone())
        self.check_options = dict(check_options or {})  # run_checks' seams (the sandbox's resolver)
        self._emit_lock = threading.Lock()

    def _say(self, event: PreflightEvent) -> None:
        with self._emit_lock:
            self.emit(event)

    def _checks(self, profile: Profile, only: tuple[str, ...]) -> list[Any]:
        from iplos_tui.core.preflight.runner import run_checks

        if self.cancel.is_set():
            raise Cancelled()
        return run_checks(profile, only=only, cancel=self.cancel, **self.check_options)

    def run(self) -> list[ProfilePreflight]:
        usable = [entry for entry in self.entries if entry.usable and entry.profile is not None]
        usable_ids = {id(entry) for entry in usable}
        groups: dict[tuple[Any, ...], list[ProfileEntry]] = {}
        for entry in usable:
            assert entry.profile is not None
            groups.setdefault(network_key(entry.profile), []).append(entry)
        self._say(RoundStarted(len(self.entries), len(groups)))
        outcome = {entry.id: ProfilePreflight(entry.id, problem=entry.error.message() if entry.error else "?") for entry in self.entries if id(entry) not in usable_ids}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="fleet-preflight") as pool:
            shared: dict[tuple[Any, ...], Future[list[Any]]] = {}
            for key, members in groups.items():
                assert members[0].profile is not None
                shared[key] = pool.submit(self._checks, members[0].profile, NETWORK_CHECKS)
            local = {entry.id: pool.submit(self._checks, entry.profile, LOCAL_CHECKS) for entry in usable if entry.profile is not None}
            for key, members in groups.items():
                network = shared[key].result()
                self._say(SharedDone(members[0].id, tuple(m.id for m in members), _status(network)))
                for index, entry in enumerate(members):
                    assert entry.profile is not None
                    own = local[entry.id].result()
                    merged = {r.id: r for r in [*(dataclasses.replace(r) for r in network), *own]}
                    results = [merged[i] for i in CHECK_IDS if i in merged]
                    done = ProfilePreflight(entry.id, results, shared_from=members[0].id if index else "")
                    if not self.cancel.is_set():
                        remember_preflight(entry.profile.secure_dir, results, self.now())
                    outcome[entry.id] = done
                    self._say(ProfileDone(entry.id, done.status, done.counts()))
        for entry in self.entries:
            if entry.id in outcome and outcome[entry.id].problem:
                self._say(ProfileDone(entry.id, "unusable", {}))
        return [outcome[entry.id] for entry in self.entries if entry.id in outcome]
