"""The dns check: the Sendemodul's name as this machine resolves it (getaddrinfo, or the hosts file
and the profile's nameservers when the system's resolver is off), each resolver asked by itself
for A and AAAA, and a hosts-file entry that overrides DNS (said, not an error by itself).

Verdict: no address for the machine -> fail (a warning when a fixed address or the proxy makes
the name unnecessary); the expected address missing, a resolver that does not answer or refuses,
or resolvers that disagree -> warn; else pass."""

from __future__ import annotations

import threading
import time

from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.context import Context, DnsAnswer
from iplos_tui.core.preflight.endpoint import EndpointError, sendemodul_endpoint
from iplos_tui.core.preflight.evidence import dns_lines
from iplos_tui.core.preflight.model import FAIL, PASS, SKIP, WARN, CheckResult, is_ip, ms, result, seconds_text, show
from iplos_tui.core.preflight import resolvers
from iplos_tui.core.preflight.resolvers import QTYPES, QUERY_TIMEOUT, HostsEntry, QueryAnswer, hosts_entries, query


def ask_each(ctx: Context, host: str) -> list[QueryAnswer]:
    """Every resolver, A and AAAA, all at once; each query bounded by its own timeout and the
    check's deadline. An unfinished query counts as no answer."""
    deadline = ctx.deadline("dns")
    jobs = [(server, qtype) for server in ctx.nameservers for qtype in QTYPES]
    answers: list[QueryAnswer | None] = [None] * len(jobs)

    if jobs:
        try:
            resolvers.load_dnspython()
        except ImportError as exc:  # a broken install: every row says so, no thread dies
            return [QueryAnswer(server, qtype, "error", error=show(exc, 120)) for server, qtype in jobs]

    def work(index: int) -> None:
        server, qtype = jobs[index]
        try:
            answers[index] = query(server, host, qtype, deadline)
        except Exception as exc:  # noqa: BLE001 - one resolver's trouble is its own row
            answers[index] = QueryAnswer(server, qtype, "error", error=show(exc, 120))

    threads = [threading.Thread(target=work, args=(i,), daemon=True, name=f"preflight-dns-{i}") for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:  # every query ends by the deadline by itself; the margin is scheduling
        thread.join(max(deadline - time.monotonic(), 0) + 0.005)
        ctx.check_cancel()
    return [a if a is not None else QueryAnswer(jobs[i][0], jobs[i][1], "timeout") for i, a in enumerate(answers)]


def answer_text(answer: QueryAnswer, timeout: float) -> str:
    """One row of the resolver table: ``SERVER TYPE: answer · TTL · authority · time``."""
    if answer.kind in ("ok", "nodata"):
        found = ", ".join(answer.addresses) if answer.kind == "ok" else t("preflight.ev.ns_nodata", qtype=answer.qtype)
        if answer.chain:
            found = "CNAME " + " → ".join(answer.chain) + " → " + found
        parts = [found]
        if answer.ttl is not None:
            parts.append(f"TTL {answer.ttl}")
        parts.append(t("preflight.ev.ns_authoritative" if answer.authoritative else "preflight.ev.ns_not_authoritative"))
    elif answer.kind == "timeout":
        parts = [t("preflight.ev.ns_timeout", seconds=seconds_text(timeout))]
    elif answer.kind == "nxdomain":
        parts = [t("preflight.ev.ns_nxdomain")]
    elif answer.kind == "error":
        parts = [t("preflight.ev.ns_error", error=answer.error)]
    else:
        parts = [answer.error or answer.kind.upper()]
    if answer.kind != "timeout":
        parts.append(f"{ms(answer.elapsed)} ms" + (" (TCP)" if answer.over_tcp else ""))
    return f"{answer.server.label} {answer.qtype}: " + " · ".join(parts)


def hand_commands(ctx: Context, host: str) -> list[str]:
    lines = [f"getent ahosts {host}"]
    for server in ctx.nameservers:
        port = "" if server.port == 53 else f" -p {server.port}"
        lines.append(f"dig @{server.address}{port} {host} A")
        lines.append(f"nslookup{'' if server.port == 53 else f' -port={server.port}'} {host} {server.address}")
    return lines


def _by_server(answers: list[QueryAnswer]) -> dict[str, list[QueryAnswer]]:
    grouped: dict[str, list[QueryAnswer]] = {}
    for answer in answers:
        grouped.setdefault(answer.server.label, []).append(answer)
    return grouped


def _judge_resolvers(answers: list[QueryAnswer], effective: set[str], overridden: bool) -> tuple[list[str], dict[str, set[str]]]:
    """(resolvers that did not answer, address set of each resolver that did)."""
    silent, said = [], {}
    for label, rows in _by_server(answers).items():
        if not any(r.answered for r in rows):
            silent.append(f"{label} ({t('preflight.ns_kind.' + rows[0].kind)})")
        else:
            said[label] = {a for r in rows for a in r.addresses}
    if not overridden and effective and said and all(s != effective for s in said.values()):
        said[t("preflight.ns_this_machine")] = effective
    return silent, said


def check_dns(ctx: Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return result("dns", FAIL, str(exc), hint=t("preflight.hint.url"))
    if is_ip(endpoint.host):
        return result("dns", SKIP, t("preflight.dns_literal", host=endpoint.host))
    host = endpoint.host
    shown_host = show(host)
    asked: list[QueryAnswer] = []
    asking = threading.Thread(target=lambda: asked.extend(ask_each(ctx, host)), daemon=True, name="preflight-dns-each")
    asking.start()
    answer = ctx.resolve(host)
    asking.join(max(ctx.deadline("dns") - time.monotonic(), 0) + 0.05)
    ctx.check_cancel()
    entries = hosts_entries(host, ctx.hosts_file)
    evidence = _lookup_lines(ctx, answer, entries)
    expected = endpoint.expected_address
    if expected:
        found = expected in answer.addresses
        evidence.append(t("preflight.ev.expected_found" if found else "preflight.ev.expected_missing", address=expected))
    evidence += _resolver_lines(ctx, asked)
    commands = hand_commands(ctx, host)
    bypass = endpoint.connect_address or endpoint.proxy
    failed = WARN if bypass else FAIL
    bypass_hint = t("preflight.hint.dns_bypassed") if bypass else ""
    if answer.kind == "timeout":
        detail = t("preflight.dns_timeout", host=shown_host, seconds=seconds_text(ctx.timeouts["dns"]))
        return result("dns", failed, detail, evidence, bypass_hint or t("preflight.hint.dns_timeout"), commands)
    if answer.kind in ("none", "error"):
        detail = t("preflight.dns_none" if answer.kind == "none" else "preflight.dns_error", host=shown_host, error=answer.error)
        return result("dns", failed, detail, evidence, bypass_hint or t("preflight.hint.dns_none", host=shown_host), commands)
    shown = ", ".join(answer.addresses)
    if expected and expected not in answer.addresses:
        detail = t("preflight.dns_unexpected", host=shown_host, addresses=shown, expected=expected)
        return result("dns", WARN, detail, evidence, t("preflight.hint.dns_unexpected", host=shown_host, expected=expected), commands)
    silent, said = _judge_resolvers(asked, set(answer.addresses), bool(entries))
    if ctx.ignored_nameservers:
        detail = t("preflight.dns_ignored", servers=", ".join(ctx.ignored_nameservers))
        return result("dns", WARN, detail, evidence, t("preflight.hint.dns_ignored"), commands)
    if silent:
        detail = t("preflight.dns_silent", host=shown_host, addresses=shown, servers=", ".join(silent))
        return result("dns", WARN, detail, evidence, t("preflight.hint.dns_silent"), commands)
    if len({frozenset(v) for v in said.values()}) > 1:
        views = "; ".join(f"{label}: {', '.join(sorted(v)) or '-'}" for label, v in said.items())
        detail = t("preflight.dns_disagree", host=shown_host, views=views)
        return result("dns", WARN, detail, evidence, t("preflight.hint.dns_disagree", host=shown_host), commands)
    key = "preflight.dns_ok_hosts" if entries else "preflight.dns_ok"
    return result("dns", PASS, t(key, host=shown_host, addresses=shown, path=_hosts_path(ctx)), evidence, commands=commands)


def _hosts_path(ctx: Context) -> str:
    return show(ctx.hosts_file or resolvers.HOSTS_FILE)


def _lookup_lines(ctx: Context, answer: DnsAnswer, entries: list[HostsEntry]) -> list[str]:
    """How this machine looks the name up, what it got, and the hosts file's say."""
    system = ctx.profile.preflight_system_resolver
    lines = [t("preflight.ev.lookup_system" if system else "preflight.ev.lookup_profile")]
    lines += dns_lines(answer)
    lines.append(t("preflight.ev.dns_time", ms=ms(answer.elapsed)))
    path = _hosts_path(ctx)
    for entry in entries:
        lines.append(t("preflight.ev.hosts_entry", path=path, line=entry.line, text=entry.text))
    return lines


def _resolver_lines(ctx: Context, asked: list[QueryAnswer]) -> list[str]:
    lines = []
    if ctx.ignored_nameservers:
        lines.append(t("preflight.ev.ns_ignored", servers=", ".join(ctx.ignored_nameservers)))
    if not ctx.nameservers:
        return lines + [t("preflight.ev.ns_none")]
    sources = ", ".join(f"{s.label} ({t('preflight.ns_source.' + s.source)})" for s in ctx.nameservers)
    lines.append(t("preflight.ev.ns_header", servers=sources))
    timeout = min(ctx.timeouts["dns"], QUERY_TIMEOUT)
    lines += [answer_text(a, timeout) for a in asked]
    return lines
