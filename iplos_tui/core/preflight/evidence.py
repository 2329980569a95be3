"""Connection stages as the evidence lines IT knows (nslookup, Test-NetConnection, ``openssl
s_client``) and a failed stage as (status, detail, hint)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import Conn, HttpAnswer, TcpOutcome
from iplos_tui.core.preflight.context import DnsAnswer
from iplos_tui.core.preflight.model import FAIL, ms, seconds_text, show, utc


def dns_lines(answer: DnsAnswer | None) -> list[str]:
    if answer is None or answer.kind == "literal":
        return []
    lines = [t("preflight.ev.name", host=show(answer.host))]
    lines += [t("preflight.ev.address", address=a) for a in answer.addresses]
    if answer.kind == "timeout":
        lines.append(t("preflight.ev.dns_timeout"))
    elif answer.kind in ("none", "error"):
        lines.append(t("preflight.ev.dns_error", error=answer.error or "-"))
    return lines


def tcp_line(outcome: TcpOutcome) -> str:
    where = f"[{outcome.address}]:{outcome.port}" if ":" in outcome.address else f"{outcome.address}:{outcome.port}"
    if outcome.kind == "open":
        return t("preflight.ev.tcp_open", where=where, ms=ms(outcome.elapsed), local=outcome.local or "-")
    if outcome.kind == "refused":
        return t("preflight.ev.tcp_refused", where=where, ms=ms(outcome.elapsed))
    if outcome.kind == "timeout":
        return t("preflight.ev.tcp_timeout", where=where, ms=ms(outcome.elapsed))
    if outcome.kind == "unreachable":
        return t("preflight.ev.tcp_unreachable", where=where, error=outcome.error)
    return t("preflight.ev.tcp_error", where=where, error=outcome.error)


def cert_lines(der: bytes, now: dt.datetime) -> tuple[list[str], dict[str, Any]]:
    """openssl-style lines about a peer certificate, and the facts the checks judge by."""
    if not der:
        return [], {}
    from cryptography import x509

    from iplos_tui.core.keys import describe
    from iplos_tui.core.tlsconfig import pin_base64

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return [t("preflight.ev.cert_unreadable", error=show(exc))], {}
    info = describe(cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"DNS:{show(n)}" for n in san.get_values_for_type(x509.DNSName)]
        names += [f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    days = (info.not_after - now).total_seconds() / 86400
    lines = [
        f"subject={info.subject}",
        f"issuer={info.issuer}",
        t("preflight.ev.san", names=", ".join(names) or "-"),
        f"notBefore={utc(info.not_before)}",
        f"notAfter={utc(info.not_after)}",
        t("preflight.ev.days_left", days=int(days // 1)),
        f"SPKI sha256={info.spki_sha256} ({pin_base64(info.spki_sha256)})",
    ]
    return lines, {"days": days, "not_before": info.not_before, "not_after": info.not_after, "spki": info.spki_sha256}


def connection_failure(conn: Conn, check_id: str, timeout: float) -> tuple[str, str, str]:
    """(status, detail, hint) for a connection that stopped before TLS was done."""
    endpoint = conn.endpoint
    if conn.stage == "address":
        answer = conn.dns
        if answer is not None and answer.kind == "timeout":
            return FAIL, t("preflight.dns_timeout", host=show(endpoint.host), seconds=seconds_text(timeout)), t("preflight.hint.dns_timeout")
        return FAIL, t("preflight.no_address", host=show(endpoint.host)), t("preflight.hint.dns_none", host=show(endpoint.host))
    if conn.stage == "proxy":
        return FAIL, t("preflight.proxy_failed", answer=conn.proxy_line or "-"), t("preflight.hint.proxy")
    assert conn.tcp is not None
    detail, hint = tcp_failure(conn.tcp, timeout)
    return FAIL, detail, hint


def tcp_failure(outcome: TcpOutcome, timeout: float) -> tuple[str, str]:
    """(detail, hint) for a TCP connection that did not open."""
    where = f"{outcome.address}:{outcome.port}"
    if outcome.kind == "refused":
        return t("preflight.tcp_refused", where=where), t("preflight.hint.tcp_refused", port=outcome.port)
    if outcome.kind == "timeout":
        return t("preflight.tcp_timeout", where=where, seconds=seconds_text(timeout)), t("preflight.hint.tcp_timeout", address=outcome.address, port=outcome.port)
    if outcome.kind == "unreachable":
        return t("preflight.tcp_unreachable", where=where, error=outcome.error), t("preflight.hint.tcp_unreachable")
    return t("preflight.tcp_error", where=where, error=outcome.error), t("preflight.hint.tcp_unreachable")


def tls_failure(conn: Conn, now: dt.datetime, facts: dict[str, Any], timeout: float) -> tuple[str, str]:
    """(detail, hint) for a TLS failure; validity errors carry the local clock."""
    endpoint = conn.endpoint
    kind = conn.tls_kind
    clock = utc(now)
    if kind == "expired":
        when = utc(facts["not_after"]) if facts else "?"
        return t("preflight.tls_expired", when=when), t("preflight.hint.tls_validity", now=clock)
    if kind == "not_yet_valid":
        when = utc(facts["not_before"]) if facts else "?"
        return t("preflight.tls_not_yet_valid", when=when), t("preflight.hint.tls_validity", now=clock)
    if kind == "hostname":
        return t("preflight.tls_hostname", host=show(endpoint.host)), t("preflight.hint.tls_hostname", host=show(endpoint.host))
    if kind == "unknown_ca":
        return t("preflight.tls_unknown_ca", error=conn.tls_error), t("preflight.hint.tls_unknown_ca")
    if kind == "verify":
        return t("preflight.tls_verify", error=conn.tls_error), t("preflight.hint.tls_unknown_ca")
    if kind == "timeout":
        return t("preflight.tls_timeout", seconds=seconds_text(timeout)), t("preflight.hint.tls_timeout")
    if kind == "trust":
        return t("preflight.tls_trust", error=conn.tls_error), t("preflight.hint.tls_trust")
    if kind == "pin":
        return t("preflight.tls_pin"), t("preflight.hint.tls_pin")
    return t("preflight.tls_handshake", error=conn.tls_error or "-"), t("preflight.hint.tls_handshake")


def tls_lines(conn: Conn) -> list[str]:
    from iplos_tui.core.tlsconfig import trust_source

    endpoint = conn.endpoint
    lines = [t("preflight.ev.sni", host=show(endpoint.sni)), t("preflight.ev.trust", source=show(trust_source(endpoint.ca_bundle)))]
    if conn.tls_version:
        lines.append(t("preflight.ev.protocol", version=conn.tls_version, cipher=conn.cipher, ms=ms(conn.tls_elapsed)))
    if conn.verify_code is not None:
        lines.append(f"Verify return code: {conn.verify_code} ({conn.tls_error})")
    elif conn.stage in ("ok", "pin"):
        lines.append("Verify return code: 0 (ok)")
    return lines


def http_evidence(answer: HttpAnswer, url: str = "") -> list[str]:
    lines = [f"GET {show(url or answer.conn.endpoint.url)}"]
    if answer.ok:
        lines.append(f"HTTP/{answer.version} {answer.status} {answer.reason}".rstrip())
        for name in ("date", "server", "location", "content-type"):
            if name in answer.headers:
                lines.append(f"{name.title()}: {answer.headers[name]}")
        lines.append(t("preflight.ev.ttfb", ms=ms(answer.ttfb)))
    return lines


def http_failure(answer: HttpAnswer, timeout: float) -> tuple[str, str, str]:
    if answer.error_kind == "timeout":
        return FAIL, t("preflight.http_timeout", seconds=seconds_text(timeout)), t("preflight.hint.http_timeout")
    if answer.error_kind == "closed":
        return FAIL, t("preflight.http_closed"), t("preflight.hint.http_timeout")
    if answer.error_kind == "not_http":
        return FAIL, t("preflight.http_not_http", start=answer.error), t("preflight.hint.http_not_http")
    return FAIL, t("preflight.http_error", error=answer.error), t("preflight.hint.http_timeout")
