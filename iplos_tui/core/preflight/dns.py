"""The dns check: the Sendemodul's name as this machine resolves it, with the expected address."""

from __future__ import annotations

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.context import Context, system_resolver
from iplos_tui.core.preflight.endpoint import EndpointError, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import dns_lines
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, is_ip, ms, result, seconds_text, show


def check_dns(ctx: Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("dns", FAIL, str(exc), hint=t("preflight.hint.url"))
    if is_ip(endpoint.host):
        return result("dns", SKIP, t("preflight.dns_literal", host=endpoint.host))
    answer = ctx.resolve(endpoint.host)
    evidence = []
    if ctx.resolver is system_resolver:
        evidence += [t("preflight.ev.nameserver", server=s) for s in nameservers()]
    evidence += dns_lines(answer)
    evidence.append(t("preflight.ev.dns_time", ms=ms(answer.elapsed)))
    expected = endpoint.expected_address
    if expected:
        found = expected in answer.addresses
        evidence.append(t("preflight.ev.expected_found" if found else "preflight.ev.expected_missing", address=expected))
    bypass = endpoint.connect_address or endpoint.proxy
    failed = WARN if bypass else FAIL
    bypass_hint = t("preflight.hint.dns_bypassed") if bypass else ""
    host = show(endpoint.host)
    if answer.kind == "timeout":
        return result("dns", failed, t("preflight.dns_timeout", host=host, seconds=seconds_text(ctx.timeouts["dns"])), evidence, bypass_hint or t("preflight.hint.dns_timeout"))
    if answer.kind in ("none", "error"):
        detail = t("preflight.dns_none" if answer.kind == "none" else "preflight.dns_error", host=host, error=answer.error)
        return result("dns", failed, detail, evidence, bypass_hint or t("preflight.hint.dns_none", host=host))
    shown = ", ".join(answer.addresses)
    if expected and expected not in answer.addresses:
        return result("dns", WARN, t("preflight.dns_unexpected", host=host, addresses=shown, expected=expected), evidence, t("preflight.hint.dns_unexpected", host=host, expected=expected))
    return result("dns", PASS, t("preflight.dns_ok", host=host, addresses=shown), evidence)


def nameservers() -> list[str]:
    try:
        with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as handle:
            text = handle.read(64 * 1024)
    except OSError:
        return []
    servers = [line.split()[1] for line in text.splitlines() if line.startswith("nameserver") and len(line.split()) > 1]
    return [show(s, 60) for s in servers[:3]]


