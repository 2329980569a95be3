"""The connection checks of the Sendemodul: TCP to every address, TLS and its certificate, the
HTTPS answer and the clock against the server's Date."""

from __future__ import annotations

import threading
import time
from email.utils import parsedate_to_datetime

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import (
    Conn,
    HttpAnswer,
    TcpOutcome,
    connect_targets,
    fetch_certificate_unverified,
    http_get,
    open_connection,
    tcp_connect,
)
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import EndpointError, mask_proxy, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import (
    cert_lines,
    connection_failure,
    dns_lines,
    http_evidence,
    http_failure,
    tcp_line,
    tls_failure,
    tls_lines,
)
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, ms, result, show, utc

CLOCK_WARN_SECONDS = 180
CERT_EXPIRY_WARN_DAYS = 30
MAX_TCP_ADDRESSES = 4


def sendemodul_http(ctx: Context) -> HttpAnswer | EndpointError:
    """The Sendemodul's answer to one GET, shared by the http and clock checks."""

    def compute() -> HttpAnswer | EndpointError:
        try:
            endpoint = sendemodul_endpoint(ctx.profile)
        except EndpointError as exc:
            return exc
        return http_get(ctx, endpoint, ctx.deadline("http"))

    return ctx.memo("http:sendemodul", compute)


def check_tcp(ctx: Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("tcp", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("tcp")
    timeout = ctx.timeouts["tcp"]
    if endpoint.proxy:
        conn = open_connection(ctx, endpoint, deadline, tls=False)
        conn.close()
        evidence = [t("preflight.ev.proxy", proxy=show(mask_proxy(endpoint.proxy)))]
        if conn.tcp is not None:
            evidence.append(tcp_line(conn.tcp))
        if conn.proxy_line:
            evidence.append(t("preflight.ev.proxy_answer", target=f"{conn.target}:{endpoint.port}", answer=conn.proxy_line))
        if conn.stage == "ok":
            return result("tcp", PASS, t("preflight.tcp_proxy_ok", target=f"{show(conn.target)}:{endpoint.port}"), evidence)
        status, detail, hint = connection_failure(conn, "tcp", timeout)
        return result("tcp", status, detail, evidence, hint)

    addresses, source, answer = connect_targets(ctx, endpoint)
    evidence = [t(f"preflight.ev.source_{source}", host=show(endpoint.host))]
    if not addresses:
        detail = t("preflight.no_address", host=show(endpoint.host))
        return result("tcp", SKIP, detail, evidence + dns_lines(answer), t("preflight.hint.see_dns"))
    outcomes: list[TcpOutcome | None] = [None] * min(len(addresses), MAX_TCP_ADDRESSES)

    def attempt(index: int, address: str) -> None:
        sock, outcome = tcp_connect(address, endpoint.port, deadline)
        if sock is not None:
            sock.close()
        outcomes[index] = outcome

    threads = [
        threading.Thread(target=attempt, args=(i, a), daemon=True, name=f"preflight-tcp-{a}")
        for i, a in enumerate(addresses[: len(outcomes)])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 0.05)
        ctx.check_cancel()
    done = [o if o is not None else TcpOutcome(addresses[i], endpoint.port, "timeout", timeout) for i, o in enumerate(outcomes)]
    evidence += [tcp_line(o) for o in done]
    open_ = [o for o in done if o.kind == "open"]
    if open_ and len(open_) == len(done):
        shown = ", ".join(f"{o.address}:{o.port}" for o in open_)
        return result("tcp", PASS, t("preflight.tcp_ok", where=shown, ms=ms(open_[0].elapsed)), evidence)
    if open_:
        closed = ", ".join(f"{o.address}:{o.port}" for o in done if o.kind != "open")
        return result("tcp", WARN, t("preflight.tcp_partial", where=closed), evidence, t("preflight.hint.tcp_partial"))
    conn = Conn(endpoint, stage="tcp", tcp=done[0])
    status, detail, hint = connection_failure(conn, "tcp", timeout)
    return result("tcp", status, detail, evidence, hint)


def check_tls(ctx: Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("tls", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("tls")
    timeout = ctx.timeouts["tls"]
    conn = open_connection(ctx, endpoint, deadline)
    conn.close()
    now = ctx.now()
    if conn.stage in ("address", "tcp", "proxy"):
        _, detail, _ = connection_failure(conn, "tls", timeout)
        return result("tls", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tcp"))
    evidence = [t("preflight.ev.connected", target=show(conn.target), port=endpoint.port)] + tls_lines(conn)
    der = conn.peer_der
    if conn.stage == "tls" and conn.tls_kind not in ("timeout", "trust"):
        der = fetch_certificate_unverified(ctx, endpoint, deadline)
        if der:
            evidence.append(t("preflight.ev.unverified_cert"))
    certificate, facts = cert_lines(der, now)
    evidence += certificate
    if conn.stage == "pin":
        evidence += [t("preflight.ev.pin_configured", pin=show(p, 100)) for p in endpoint.pins]
        evidence.append(t("preflight.ev.pin_seen", spki=conn.spki))
    if conn.stage != "ok":
        detail, hint = tls_failure(conn, now, facts, timeout)
        return result("tls", FAIL, detail, evidence, hint)
    warnings = []
    hint = ""
    if conn.pins_bad:
        warnings.append(t("preflight.tls_bad_pins", pins=", ".join(conn.pins_bad)))
        hint = t("preflight.hint.tls_bad_pins")
    if endpoint.pins:
        evidence.append(t("preflight.ev.pin_ok"))
    days = facts.get("days", 9999)
    if days < CERT_EXPIRY_WARN_DAYS:
        warnings.append(t("preflight.tls_expires_soon", days=int(days)))
        hint = " ".join(filter(None, [hint, t("preflight.hint.tls_expires_soon")]))
    if warnings:
        return result("tls", WARN, "; ".join(warnings), evidence, hint)
    return result("tls", PASS, t("preflight.tls_ok", version=conn.tls_version, host=show(endpoint.host), days=int(days)), evidence)


def check_http(ctx: Context) -> CheckResult:
    answer = sendemodul_http(ctx)
    if isinstance(answer, EndpointError):
        return result("http", FAIL, str(answer), hint=t("preflight.hint.url"))
    conn = answer.conn
    timeout = ctx.timeouts["http"]
    if conn.stage in ("address", "tcp", "proxy"):
        _, detail, _ = connection_failure(conn, "http", timeout)
        return result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tcp"))
    if conn.stage in ("tls", "pin"):
        detail, _ = tls_failure(conn, ctx.now(), {}, timeout)
        return result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tls"))
    evidence = http_evidence(answer)
    if not answer.ok:
        status, detail, hint = http_failure(answer, timeout)
        return result("http", status, detail, evidence, hint)
    code = answer.status
    detail = t("preflight.http_status", status=code, reason=answer.reason, ms=ms(answer.ttfb))
    if 200 <= code < 300 or code == 401:
        return result("http", PASS, detail, evidence)
    if 300 <= code < 400:
        location = answer.headers.get("location", "-")
        return result("http", WARN, t("preflight.http_redirect", status=code, location=location), evidence, t("preflight.hint.http_redirect"))
    if code == 403:
        return result("http", WARN, detail, evidence, t("preflight.hint.http_403"))
    if 400 <= code < 500:
        return result("http", WARN, detail, evidence, t("preflight.hint.http_4xx"))
    return result("http", FAIL, detail, evidence, t("preflight.hint.http_5xx"))


def check_clock(ctx: Context) -> CheckResult:
    answer = sendemodul_http(ctx)
    if isinstance(answer, EndpointError) or not answer.ok or answer.received_at is None:
        return result("clock", SKIP, t("preflight.clock_no_answer"), hint=t("preflight.hint.see_http"))
    raw = answer.headers.get("date")
    if not raw:
        return result("clock", SKIP, t("preflight.clock_no_date"))
    try:
        server = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        server = None
    if server is None or server.tzinfo is None:
        return result("clock", SKIP, t("preflight.clock_bad_date", date=show(raw, 80)))
    local = answer.received_at
    offset = (local - server).total_seconds()
    evidence = [
        t("preflight.ev.server_date", date=show(raw, 80)),
        t("preflight.ev.local_clock", now=utc(local)),
        t("preflight.ev.offset", seconds=f"{offset:+.0f}"),
    ]
    if abs(offset) > CLOCK_WARN_SECONDS:
        direction = t("preflight.clock_ahead" if offset > 0 else "preflight.clock_behind")
        return result(
            "clock",
            WARN,
            t("preflight.clock_off", amount=duration(abs(offset)), direction=direction),
            evidence,
            t("preflight.hint.clock", minutes=CLOCK_WARN_SECONDS // 60),
        )
    return result("clock", PASS, t("preflight.clock_ok", seconds=f"{offset:+.0f}"), evidence)


def duration(seconds: float) -> str:
    if seconds < 120:
        return t("preflight.unit.seconds", n=int(seconds))
    if seconds < 7200:
        return t("preflight.unit.minutes", n=int(seconds // 60))
    if seconds < 172800:
        return t("preflight.unit.hours", n=int(seconds // 3600))
    return t("preflight.unit.days", n=int(seconds // 86400))


