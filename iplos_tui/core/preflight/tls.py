"""The tls row: the handshake with SNI and the name check, the whole verified chain (subject,
issuer, validity, key, fingerprint of each), the leaf's key usage, the days to the earliest expiry
in the chain, the pins, and the ``openssl s_client`` command that shows the same by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from iplos_tui.core import format as fmt
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.connection import Conn, fetch_certificate_unverified, open_connection
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.endpoint import Endpoint, EndpointError, parse_proxy, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import cert_lines, connection_failure, tls_failure, tls_lines
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, is_ip, result, show, utc

CERT_EXPIRY_WARN_DAYS = 30
KEY_USAGES = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)


def openssl_command(endpoint: Endpoint, target: str = "") -> str:
    """The hand command that shows the same handshake and chain."""
    where = target or endpoint.connect_address or endpoint.host
    where = f"[{where}]" if ":" in where else where
    parts = ["openssl s_client", f"-connect {where}:{endpoint.port}"]
    if not is_ip(endpoint.host):  # SNI carries names only
        parts.append(f"-servername {endpoint.host}")
    parts.append("-showcerts")
    if endpoint.ca_bundle:
        parts.append(f"-CAfile {show(endpoint.ca_bundle)}")
    if endpoint.proxy:
        try:
            host, port, _ = parse_proxy(endpoint.proxy)
            parts.append(f"-proxy {host}:{port}")
        except EndpointError:
            pass
    return " ".join(parts) + " </dev/null"


def _key_usage_lines(cert: Any) -> list[str]:
    from cryptography import x509

    lines = []
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        names = []
        for name in KEY_USAGES:
            if getattr(usage, name):
                names.append(name)
        if usage.key_agreement:
            names += [n for n in ("encipher_only", "decipher_only") if getattr(usage, n)]
        lines.append(t("preflight.ev.key_usage", usages=", ".join(names) or "-"))
    except x509.ExtensionNotFound:
        lines.append(t("preflight.ev.key_usage", usages="-"))
    try:
        extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        lines.append(t("preflight.ev.extended_key_usage", usages=", ".join(show(getattr(u, "_name", u.dotted_string), 40) for u in extended) or "-"))
    except x509.ExtensionNotFound:
        pass
    return lines


def chain_lines(chain: list[bytes], now: dt.datetime) -> tuple[list[str], float | None, str]:
    """One block per certificate of the verified chain, leaf first; and the days to the earliest
    expiry in it with that certificate's subject."""
    if not chain:
        return [], None, ""
    from cryptography import x509

    from iplos_tui.core import keys

    lines = [t("preflight.ev.chain_header", count=len(chain))]
    earliest: tuple[float, str] | None = None
    for depth, der in enumerate(chain):
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            lines.append(t("preflight.ev.cert_unreadable", error=show(exc)))
            continue
        info = keys.describe(cert)
        days = (info.not_after - now).total_seconds() / 86400
        if earliest is None or days < earliest[0]:
            earliest = (days, info.subject)
        key = f"{info.key_type} {info.key_size or ''} {info.key_detail}".split()
        lines += [
            f"{depth} s:{info.subject}",
            f"  i:{info.issuer}",
            "  " + t("preflight.ev.chain_validity", start=utc(info.not_before), end=utc(info.not_after), days=fmt.count(int(days // 1), "format.days")),
            "  " + t("preflight.ev.chain_key", key=" ".join(key), fingerprint=keys.format_fingerprint(info.sha256)),
        ]
        if depth == 0:
            lines += ["  " + line for line in _key_usage_lines(cert)]
    return lines, (earliest[0] if earliest else None), (earliest[1] if earliest else "")


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
    commands = [openssl_command(endpoint, conn.target if conn.target != endpoint.host else "")]
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
        return result("tls", FAIL, detail, evidence, hint, commands)
    return _verified(conn, endpoint, facts, evidence, commands, now)


def _verified(conn: Conn, endpoint: Endpoint, facts: dict[str, Any], evidence: list[str], commands: list[str], now: dt.datetime) -> CheckResult:
    chain, earliest_days, earliest_subject = chain_lines(conn.chain_der, now)
    evidence += chain
    warnings = []
    hint = ""
    if conn.pins_bad:
        warnings.append(t("preflight.tls_bad_pins", pins=", ".join(conn.pins_bad)))
        hint = t("preflight.hint.tls_bad_pins")
    if endpoint.pins:
        evidence.append(t("preflight.ev.pin_ok"))
    days = facts.get("days", 9999) if earliest_days is None else earliest_days
    if days < CERT_EXPIRY_WARN_DAYS:
        warnings.append(t("preflight.tls_expires_soon", days=fmt.count(int(days), "format.days")) + (f" ({earliest_subject})" if earliest_subject and len(conn.chain_der) > 1 else ""))
        hint = " ".join(filter(None, [hint, t("preflight.hint.tls_expires_soon")]))
    if warnings:
        return result("tls", WARN, "; ".join(warnings), evidence, hint, commands)
    detail = t("preflight.tls_ok", version=conn.tls_version, host=show(endpoint.host), days=fmt.count(int(days), "format.days"))
    if len(conn.chain_der) > 1:
        detail = t("preflight.tls_ok_chain", version=conn.tls_version, host=show(endpoint.host), count=len(conn.chain_der), days=fmt.count(int(days), "format.days"))
    return result("tls", PASS, detail, evidence, commands=commands)
