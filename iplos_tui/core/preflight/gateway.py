"""The feedback gateway check: DNS, TCP, TLS and HTTPS to SSB's MOVEit Transfer server."""

from __future__ import annotations

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import http_get
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import EndpointError, feedback_endpoint
from iplos_tui.core.preflight.evidence import cert_lines, connection_failure, dns_lines, http_evidence, http_failure, tcp_line, tls_failure, tls_lines
from iplos_tui.core.preflight.model import FAIL, PASS, WARN, CheckResult, result


def check_feedback_gateway(ctx: Context) -> CheckResult:
    try:
        endpoint = feedback_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("feedback_gateway", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("feedback_gateway")
    timeout = ctx.timeouts["feedback_gateway"]
    answer = http_get(ctx, endpoint, deadline)
    conn = answer.conn
    evidence = dns_lines(conn.dns)
    if conn.tcp is not None:
        evidence.append(tcp_line(conn.tcp))
    if conn.stage in ("address", "tcp", "proxy"):
        status, detail, hint = connection_failure(conn, "feedback_gateway", timeout)
        return result("feedback_gateway", status, detail, evidence, hint)
    evidence += tls_lines(conn)
    certificate, facts = cert_lines(conn.peer_der, ctx.now())
    evidence += certificate
    if conn.stage != "ok":
        detail, hint = tls_failure(conn, ctx.now(), facts, timeout)
        return result("feedback_gateway", FAIL, detail, evidence, hint)
    evidence += http_evidence(answer)
    if not answer.ok:
        status, detail, hint = http_failure(answer, timeout)
        return result("feedback_gateway", status, detail, evidence, hint)
    detail = t("preflight.gateway_ok", status=answer.status, reason=answer.reason)
    if answer.status >= 500:
        return result("feedback_gateway", WARN, detail, evidence, t("preflight.hint.http_5xx"))
    return result("feedback_gateway", PASS, detail, evidence)


