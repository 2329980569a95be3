"""The proxy row (the profile's proxy answers on TCP) and the tcp row (port 443 of every address of
the Sendemodul, or the tunnel the proxy opens with CONNECT), each with the source address, the
interface and the route used, and the commands IT runs next by hand."""

from __future__ import annotations

import threading
import time

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import Conn, TcpOutcome, connect_targets, open_connection, tcp_connect
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import EndpointError, mask_proxy, parse_proxy, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import connection_failure, dns_lines, tcp_failure, tcp_line
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, is_ip, ms, result, seconds_text, show
from iplos_tui.core.preflight.route import route_to

MAX_TCP_ADDRESSES = 4


def route_line(address: str, port: int, local: str = "") -> str:
    """``Rute til A: via G på eth0, fra S`` — what ``ip route get A`` would print."""
    route = route_to(address, port, source=local.rsplit(":", 1)[0].strip("[]") if local else "")
    if route.loopback:
        return t("preflight.ev.route_loopback", address=address, source=route.source or "-")
    if not route.interface:
        return t("preflight.ev.route_unknown", address=address, source=route.source or "-")
    key = "preflight.ev.route_via" if route.gateway else "preflight.ev.route_link"
    return t(key, address=address, gateway=route.gateway, interface=show(route.interface, 40), source=route.source or "-")


def tcp_commands(address: str, port: int, timeout: float) -> list[str]:
    """Exactly what IT types next: the route, the port, then where on the path it stops."""
    return [
        f"ip route get {address}",
        f"nc -zv -w {max(int(timeout + 0.999), 1)} {address} {port}",
        f"tracepath -n {address}",
        f"mtr -T -P {port} {address}",
    ]


def _proxy_address(ctx: Context, host: str) -> tuple[str, list[str]]:
    if is_ip(host):
        return host, []
    answer = ctx.resolve(host)
    return (answer.addresses[0] if answer.addresses else ""), dns_lines(answer)


def check_proxy(ctx: Context) -> CheckResult:
    proxy = ctx.profile.proxy.strip()
    if not proxy:
        return result("proxy", SKIP, t("preflight.proxy_none"))
    shown = show(mask_proxy(proxy))
    try:
        host, port, _auth = parse_proxy(proxy)
    except EndpointError as exc:
        return result("proxy", FAIL, str(exc), [t("preflight.ev.proxy", proxy=shown)], t("preflight.hint.proxy"))
    timeout = ctx.timeouts["proxy"]
    address, evidence = _proxy_address(ctx, host)
    evidence = [t("preflight.ev.proxy", proxy=shown), *evidence]
    if not address:
        return result("proxy", FAIL, t("preflight.proxy_unresolved", proxy=show(host)), evidence, t("preflight.hint.proxy"))
    sock, outcome = tcp_connect(address, port, ctx.deadline("proxy"))
    if sock is not None:
        sock.close()
    evidence += [tcp_line(outcome), route_line(address, port, outcome.local)]
    commands = tcp_commands(address, port, timeout)
    if outcome.kind == "open":
        return result("proxy", PASS, t("preflight.proxy_ok", where=f"{show(host)}:{port}", ms=ms(outcome.elapsed)), evidence, commands=commands)
    detail, _hint = tcp_failure(outcome, timeout)
    return result("proxy", FAIL, detail, evidence, t("preflight.hint.proxy_unreachable", proxy=f"{show(host)}:{port}"), commands)


def _check_tcp_via_proxy(ctx: Context) -> CheckResult:
    endpoint = sendemodul_endpoint(ctx.profile)
    conn = open_connection(ctx, endpoint, ctx.deadline("tcp"), tls=False)
    conn.close()
    target = f"{show(conn.target)}:{endpoint.port}"
    evidence = [t("preflight.ev.proxy", proxy=show(mask_proxy(endpoint.proxy)))]
    if conn.tcp is not None:
        evidence.append(tcp_line(conn.tcp))
    if conn.proxy_line:
        evidence.append(t("preflight.ev.proxy_answer", target=target, answer=conn.proxy_line))
    host, port = "", 0
    try:
        host, port, _ = parse_proxy(endpoint.proxy)
    except EndpointError:
        pass
    commands = [f"curl -sv -o /dev/null -x http://{host}:{port} {endpoint.url}"] if host else []
    if conn.stage == "ok":
        return result("tcp", PASS, t("preflight.tcp_proxy_ok", target=target), evidence, commands=commands)
    if conn.stage == "tcp":  # the proxy itself does not answer: its own row says why
        _, detail, _ = connection_failure(conn, "tcp", ctx.timeouts["tcp"])
        return result("tcp", SKIP, t("preflight.not_tested", reason=detail), evidence, t("preflight.hint.see_proxy"), commands)
    status, detail, hint = connection_failure(conn, "tcp", ctx.timeouts["tcp"])
    return result("tcp", status, detail, evidence, hint, commands)


def _attempt_all(ctx: Context, addresses: list[str], port: int, deadline: float, timeout: float) -> list[TcpOutcome]:
    """Port ``port`` of every address at once (the first few), each within the deadline."""
    outcomes: list[TcpOutcome | None] = [None] * min(len(addresses), MAX_TCP_ADDRESSES)

    def attempt(index: int, address: str) -> None:
        sock, outcome = tcp_connect(address, port, deadline)
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
    return [o if o is not None else TcpOutcome(addresses[i], port, "timeout", timeout) for i, o in enumerate(outcomes)]


def check_tcp(ctx: Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("tcp", FAIL, str(exc), hint=t("preflight.hint.url"))
    if endpoint.proxy:
        return _check_tcp_via_proxy(ctx)
    timeout = ctx.timeouts["tcp"]
    addresses, source, answer = connect_targets(ctx, endpoint)
    evidence = [t(f"preflight.ev.source_{source}", host=show(endpoint.host))]
    if not addresses:
        detail = t("preflight.no_address", host=show(endpoint.host))
        return result("tcp", SKIP, detail, evidence + dns_lines(answer), t("preflight.hint.see_dns"))
    done = _attempt_all(ctx, addresses, endpoint.port, ctx.deadline("tcp"), timeout)
    for outcome in done:
        evidence += [tcp_line(outcome), route_line(outcome.address, outcome.port, outcome.local)]
    open_ = [o for o in done if o.kind == "open"]
    first_bad = next((o for o in done if o.kind != "open"), done[0])
    commands = tcp_commands(first_bad.address, endpoint.port, timeout)
    if open_ and len(open_) == len(done):
        shown = ", ".join(f"{o.address}:{o.port}" for o in open_)
        return result("tcp", PASS, t("preflight.tcp_ok", where=shown, ms=ms(open_[0].elapsed)), evidence, commands=commands)
    if open_:
        closed = ", ".join(f"{o.address}:{o.port}" for o in done if o.kind != "open")
        return result("tcp", WARN, t("preflight.tcp_partial", where=closed), evidence, t("preflight.hint.tcp_partial"), commands)
    status, detail, hint = connection_failure(Conn(endpoint, stage="tcp", tcp=done[0]), "tcp", timeout)
    if done[0].kind == "timeout":
        hint += " " + t("preflight.hint.tcp_next", seconds=seconds_text(timeout))
    return result("tcp", status, detail, evidence, hint, commands)
