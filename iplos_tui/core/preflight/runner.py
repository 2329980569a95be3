"""Run the checks at once, each in a daemon thread:

- every check's timeout counts from the start of the run, so the whole run ends within the largest
  timeout plus ``GRACE_SECONDS`` even when every address black-holes or the resolver hangs;
- a cancel event is honoured between steps and by the runner at once;
- ``progress`` is called in the caller's thread for every finished check, in finishing order.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from iplos_tui.core.config import Profile
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.context import Context, Progress, Resolver, system_resolver
from iplos_tui.core.preflight.dns import check_dns
from iplos_tui.core.preflight.gateway import check_feedback_gateway
from iplos_tui.core.preflight.local import check_manual, check_profile, check_secure_dir, check_ssb_certificate, check_tpf_certificate
from iplos_tui.core.preflight.model import CHECK_IDS, FAIL, SKIP, CheckResult, result, seconds_text, show
from iplos_tui.core.preflight.https import check_clock, check_http
from iplos_tui.core.preflight.tcp import check_proxy, check_tcp
from iplos_tui.core.preflight.tls import check_tls
from iplos_tui.core.preflight.resolvers import MAX_NAMESERVERS, Nameserver, parse_nameserver, system_nameservers

GRACE_SECONDS = 0.5  # the runner's hard stop after the largest timeout (a safety net)


CHECKS: dict[str, Callable[[Context], CheckResult]] = {
    "dns": check_dns,
    "proxy": check_proxy,
    "tcp": check_tcp,
    "tls": check_tls,
    "http": check_http,
    "clock": check_clock,
    "ssb_certificate": check_ssb_certificate,
    "tpf_certificate": check_tpf_certificate,
    "secure_dir": check_secure_dir,
    "profile": check_profile,
    "feedback_gateway": check_feedback_gateway,
    "spam_allowlist": lambda ctx: check_manual(ctx, "spam_allowlist"),
    "postmottak_routing": lambda ctx: check_manual(ctx, "postmottak_routing"),
}


def nameservers_to_ask(profile: Profile, given: Iterable[str] | None) -> tuple[list[Nameserver], list[str]]:
    """The resolvers the dns check asks: ``given`` (a seam: tests, the sandbox), else the system's
    (unless the profile turns the system's resolver off) and the profile's; and the entries that
    are not addresses."""
    if given is not None:
        specs, servers = [(spec, "given") for spec in given], []
    else:
        specs = [(spec, "profile") for spec in profile.preflight_nameservers]
        servers = system_nameservers() if profile.preflight_system_resolver else []
    ignored = []
    for spec, source in specs:
        server = parse_nameserver(str(spec), source)
        if server is None:
            ignored.append(show(spec, 80))
        elif all((s.address, s.port) != (server.address, server.port) for s in servers):
            servers.append(server)
    return servers[: MAX_NAMESERVERS], ignored


def default_temp_roots() -> tuple[Path, ...]:
    roots = {Path("/tmp"), Path("/var/tmp")}
    if os.environ.get("TMPDIR"):
        roots.add(Path(os.environ["TMPDIR"]))
    return tuple(sorted(roots))


def run_one(check_id: str, ctx: Context, results: queue.SimpleQueue[CheckResult]) -> None:
    started = time.monotonic()
    try:
        outcome = CHECKS[check_id](ctx)
    except Cancelled:
        outcome = result(check_id, SKIP, t("preflight.cancelled"))
    except Exception as exc:  # noqa: BLE001 - one broken check must not break the list
        outcome = result(check_id, FAIL, t("preflight.internal_error", error=f"{type(exc).__name__}: {show(exc)}"))
    outcome.elapsed_ms = (time.monotonic() - started) * 1000
    results.put(outcome)


def run_checks(
    profile: Profile,
    *,
    only: Iterable[str] | None = None,
    resolver: Resolver | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] | None = None,
    timeout: float | None = None,
    timeouts: dict[str, float] | None = None,
    temp_roots: Iterable[Path] | None = None,
    nameservers: Iterable[str] | None = None,
    hosts_file: Path | None = None,
) -> list[CheckResult]:
    """Run the checks (all, or ``only`` these ids) concurrently; results in ``CHECK_IDS`` order.

    Each check's timeout (``timeouts[id]``, else ``timeout``, else the profile's) counts from the
    start of the run; ``resolver`` (host -> addresses), ``nameservers`` (the resolvers the dns check
    asks) and ``hosts_file`` are seams for tests and the sandbox; the run returns by the largest of them plus ``GRACE_SECONDS`` at the latest,
    and at once when ``cancel`` is set (unfinished checks then say "cancelled").
    """
    wanted = list(CHECK_IDS) if only is None else [i for i in CHECK_IDS if i in set(only)]
    unknown = set(only or ()) - set(CHECK_IDS)
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(sorted(unknown))}")
    base = float(timeout if timeout is not None else profile.preflight_timeout)
    limits = {check_id: float((timeouts or {}).get(check_id, base)) for check_id in CHECK_IDS}
    cancel = cancel or threading.Event()
    servers, ignored = nameservers_to_ask(profile, nameservers)
    ctx = Context(
        profile,
        resolver or (system_resolver if profile.preflight_system_resolver else None),
        cancel,
        now or (lambda: dt.datetime.now(dt.timezone.utc)),
        limits,
        tuple(Path(p) for p in (default_temp_roots() if temp_roots is None else temp_roots)),
        servers,
        hosts_file,
        ignored,
    )
    finished: queue.SimpleQueue[CheckResult] = queue.SimpleQueue()
    for check_id in wanted:
        threading.Thread(target=run_one, args=(check_id, ctx, finished), name=f"preflight-{check_id}", daemon=True).start()
    hard_stop = ctx.started + max((limits[i] for i in wanted), default=0.0) + GRACE_SECONDS
    results: dict[str, CheckResult] = {}
    while len(results) < len(wanted) and not cancel.is_set():
        remaining = hard_stop - time.monotonic()
        if remaining <= 0:
            break
        try:
            outcome = finished.get(timeout=min(remaining, 0.05))
        except queue.Empty:
            continue
        results[outcome.id] = outcome
        if progress is not None:
            progress(outcome)
    for check_id in wanted:
        if check_id in results:
            continue
        if cancel.is_set():
            outcome = result(check_id, SKIP, t("preflight.cancelled"))
        else:
            outcome = result(check_id, FAIL, t("preflight.overran", seconds=seconds_text(limits[check_id])), hint=t("preflight.hint.overran"))
        outcome.elapsed_ms = (time.monotonic() - ctx.started) * 1000
        results[check_id] = outcome
        if progress is not None:
            progress(outcome)
    return [results[i] for i in wanted]
