"""One run of the checklist: the profile, the seams (resolver, clock, temp roots), the deadlines
and the steps several checks share (the name lookup, the Sendemodul's HTTPS answer), each done
once per run."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.config import Profile
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.preflight.model import CheckResult, error_text, is_ip
from iplos_tui.core.preflight.resolvers import Nameserver, stub_resolver

Resolver = Callable[[str], Iterable[str]]
Progress = Callable[[CheckResult], object]  # what it returns is ignored


def system_resolver(host: str) -> list[str]:  # the default seam when the profile allows it
    """The operating system's resolver (``/etc/hosts``, then DNS), every address once."""
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass
class DnsAnswer:
    host: str
    kind: str  # ok | none | timeout | error | literal
    addresses: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    error: str = ""


class Context:
    def __init__(
        self,
        profile: Profile,
        resolver: Resolver | None,
        cancel: threading.Event,
        now: Callable[[], dt.datetime],
        timeouts: dict[str, float],
        temp_roots: tuple[Path, ...],
        nameservers: list[Nameserver] | None = None,
        hosts_file: Path | None = None,
        ignored_nameservers: list[str] | None = None,
    ) -> None:
        self.profile = profile
        self.nameservers = list(nameservers or [])
        self.ignored_nameservers = list(ignored_nameservers or [])  # profile entries that are not addresses
        self.hosts_file = hosts_file
        # Without the system's resolver (the sandbox), the lookup is the hosts file, then the
        # profile's nameservers: as glibc's "hosts: files dns" would do with them.
        self.resolver = resolver or stub_resolver(self.nameservers, hosts_file, lambda: self.deadline("dns"))
        self.cancel = cancel
        self.now = now
        self.timeouts = timeouts
        self.temp_roots = temp_roots
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[threading.Event, list[Any]]] = {}

    def deadline(self, check_id: str) -> float:
        return self.started + self.timeouts[check_id]

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run; later callers wait for the first one's answer."""
        with self._lock:
            entry = self._memo.get(key)
            owner = entry is None
            if entry is None:
                entry = (threading.Event(), [])
                self._memo[key] = entry
        done, box = entry
        if owner:
            try:
                box.append(("ok", compute()))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                box.append(("error", exc))
            finally:
                done.set()
        else:
            while not done.wait(0.05):
                self.check_cancel()
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    def resolve(self, host: str) -> DnsAnswer:
        """The name through the resolver seam, once per run, cut at the dns check's deadline."""
        answer: DnsAnswer = self.memo(f"dns:{host}", lambda: self._resolve(host))
        return answer

    def _resolve(self, host: str) -> DnsAnswer:
        if is_ip(host):
            return DnsAnswer(host, "literal", [host])
        deadline = self.deadline("dns")
        box: list[Any] = []
        done = threading.Event()
        started = [time.monotonic()]

        def work() -> None:
            try:
                prepare = getattr(self.resolver, "prepare", None)
                if prepare is not None:
                    prepare()
                    started[0] = time.monotonic()
                box.append(("ok", list(self.resolver(host))))
            except BaseException as exc:  # noqa: BLE001 - reported as the answer
                box.append(("error", exc))
            finally:
                done.set()

        threading.Thread(target=work, name=f"preflight-dns-{host}", daemon=True).start()
        while not done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return DnsAnswer(host, "timeout", elapsed=time.monotonic() - started[0])
            done.wait(min(remaining, 0.05))
            self.check_cancel()
        elapsed = time.monotonic() - started[0]
        kind, value = box[0]
        if kind == "error":
            if isinstance(value, socket.gaierror) and value.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return DnsAnswer(host, "none", elapsed=elapsed, error=error_text(value))
            return DnsAnswer(host, "error", elapsed=elapsed, error=error_text(value))
        addresses = []
        for item in value:
            text = str(item)
            if is_ip(text) and text not in addresses:
                addresses.append(text)
        return DnsAnswer(host, "ok" if addresses else "none", addresses, elapsed)
