"""The feedback gateway row: DNS, TCP, TLS and HTTPS to SSB's MOVEit Transfer server, and its
public ``GET /api/v1/info`` (PublicOrgModel, no login) to show that the server is a MOVEit
Transfer answering the REST API the console fetches feedback through."""

from __future__ import annotations

import json
from typing import Any

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import HttpAnswer, http_get
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import Endpoint, EndpointError, feedback_endpoint
from iplos_tui.core.preflight.evidence import cert_lines, connection_failure, dns_lines, http_evidence, http_failure, tcp_line, tls_failure, tls_lines
from iplos_tui.core.preflight.model import FAIL, PASS, WARN, CheckResult, result, show
from iplos_tui.core.preflight.tls import openssl_command

INFO_PATH = "api/v1/info"
MAX_INFO_BYTES = 64 * 1024
# PublicOrgModel's fields that a MOVEit Transfer always fills (moveit-transfer-openapi.json).
ORG_FIELDS = ("id", "name", "baseURL")


def info_path(endpoint: Endpoint) -> str:
    base = endpoint.path.split("?", 1)[0]
    return base.rstrip("/") + "/" + INFO_PATH


def _organisation(answer: HttpAnswer) -> dict[str, Any] | None:
    try:
        data = json.loads(answer.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(name), str) for name in ORG_FIELDS):
        return None
    return data


def _judge(answer: HttpAnswer, timeout: float) -> tuple[str, str, str, list[str]]:
    """(status, detail, hint, extra evidence) for the gateway's answer to /api/v1/info."""
    if not answer.ok:
        status, detail, hint = http_failure(answer, timeout)
        return status, detail, hint, []
    code, reason = answer.status, answer.reason
    if code == 200:
        org = _organisation(answer)
        if org is not None:
            lines = [t("preflight.ev.moveit_org", name=show(org["name"], 120), org_id=show(org["id"], 20), short=show(org.get("shortName") or "-", 40))]
            lines.append(t("preflight.ev.moveit_base", url=show(org["baseURL"], 200)))
            return PASS, t("preflight.gateway_moveit", name=show(org["name"], 80)), "", lines
        return WARN, t("preflight.gateway_not_moveit", status=code, reason=reason), t("preflight.hint.gateway_not_moveit"), []
    if 300 <= code < 400:
        location = answer.headers.get("location", "-")
        return WARN, t("preflight.http_redirect", status=code, location=location), t("preflight.hint.gateway_redirect"), []
    if code >= 500:
        return WARN, t("preflight.gateway_status", status=code, reason=reason), t("preflight.hint.http_5xx"), []
    return WARN, t("preflight.gateway_no_api", status=code, reason=reason), t("preflight.hint.gateway_no_api"), []


def check_feedback_gateway(ctx: Context) -> CheckResult:
    try:
        endpoint = feedback_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("feedback_gateway", FAIL, str(exc), hint=t("preflight.hint.url"))
    timeout = ctx.timeouts["feedback_gateway"]
    path = info_path(endpoint)
    answer = http_get(ctx, endpoint, ctx.deadline("feedback_gateway"), path=path, body_limit=MAX_INFO_BYTES)
    conn = answer.conn
    url = f"https://{endpoint.host_header}{path}"
    bundle = f" --cacert {show(endpoint.ca_bundle)}" if endpoint.ca_bundle else ""
    commands = [f"curl -sS{bundle} {url}", openssl_command(endpoint)]
    evidence = dns_lines(conn.dns)
    if conn.tcp is not None:
        evidence.append(tcp_line(conn.tcp))
    if conn.stage in ("address", "tcp", "proxy"):
        status, detail, hint = connection_failure(conn, "feedback_gateway", timeout)
        return result("feedback_gateway", status, detail, evidence, hint, commands)
    evidence += tls_lines(conn)
    certificate, facts = cert_lines(conn.peer_der, ctx.now())
    evidence += certificate
    if conn.stage != "ok":
        detail, hint = tls_failure(conn, ctx.now(), facts, timeout)
        return result("feedback_gateway", FAIL, detail, evidence, hint, commands)
    evidence += http_evidence(answer, url)
    status, detail, hint, extra = _judge(answer, timeout)
    return result("feedback_gateway", status, detail, evidence + extra, hint, commands)
