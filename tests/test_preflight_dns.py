"""The dns check asks each resolver by itself, against real DNS packets from the sandbox's DNS
server on 127.0.0.1 (UDP and TCP): a pass, no answer, SERVFAIL, NXDOMAIN, a wrong address, two
resolvers that disagree, a CNAME chain, a truncated answer, and a hosts-file entry that overrides
DNS. The loopback guard refuses a query to any other resolver before a packet is sent."""

from __future__ import annotations

import socket
import time

import pytest

from iplos_tui.core import preflight
from iplos_tui.core.preflight import resolvers
from iplos_tui.sandbox.dns_server import DnsServer
from tests.preflight_servers import resolver_seam

NAME = "iplos.test"


def dns_profile(base, **changes):
    values = dict(sendemodul_url=f"https://{NAME}/Sendemodul/", sendemodul_address="127.0.0.1", preflight_timeout=2.0)
    values.update(changes)
    return base.replace(**values)


getaddrinfo_seam = resolver_seam  # what this machine's own lookup answers


@pytest.fixture
def no_hosts(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    return path


def run_dns(profile, servers, hosts_file, *, resolver=None, **kwargs):
    return preflight.run_checks(
        profile,
        only=["dns"],
        nameservers=[s.spec for s in servers],
        hosts_file=hosts_file,
        resolver=resolver or getaddrinfo_seam({NAME: ["127.0.0.1"]}),
        **kwargs,
    )[0]


# --- the guard ------------------------------------------------------------------------------------


def _assert_guard_in_place():
    """Checked before any query below, so that a missing guard fails the test without a packet."""
    for name in ("sendto", "sendmsg", "connect", "connect_ex"):
        assert getattr(socket.socket, name).__qualname__.startswith("loopback_only."), name


def test_guard_refuses_a_udp_query_to_a_non_loopback_resolver():
    import dns.message
    import dns.query

    _assert_guard_in_place()
    query = dns.message.make_query(NAME, "A")
    with pytest.raises(AssertionError, match="non-loopback address .*192.0.2.53"):
        dns.query.udp(query, "192.0.2.53", timeout=0.5)  # TEST-NET-1; stopped before sendto


def test_guard_refuses_a_tcp_query_to_a_non_loopback_resolver():
    import dns.message
    import dns.query

    _assert_guard_in_place()
    with pytest.raises(AssertionError, match="non-loopback address .*192.0.2.53"):
        dns.query.tcp(dns.message.make_query(NAME, "A"), "192.0.2.53", timeout=0.5)


def test_guard_lets_loopback_queries_through():
    import dns.message
    import dns.query

    with DnsServer({NAME: ["127.0.0.1"]}) as server:
        response = dns.query.udp(dns.message.make_query(NAME, "A"), "127.0.0.1", port=server.port, timeout=2)
    assert [r.to_text() for r in response.answer[0]] == ["127.0.0.1"]


def test_the_machines_resolv_conf_is_not_read_in_tests(valid_profile, no_hosts):
    """With no resolver list given, the check reads the empty resolv.conf the tests put in place."""
    assert resolvers.system_nameservers() == []
    result = preflight.run_checks(dns_profile(valid_profile), only=["dns"], hosts_file=no_hosts, resolver=getaddrinfo_seam({NAME: ["127.0.0.1"]}))[0]
    assert result.status == "pass"
    assert any("Ingen navnetjener" in line for line in result.evidence)


# --- the sandbox's DNS server by itself ---------------------------------------------------------------


def test_dns_server_answers_over_udp_and_tcp():
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode

    with DnsServer({NAME: ["127.0.0.1", "::1"]}, ttl=60) as server:
        udp = dns.query.udp(dns.message.make_query(NAME, "A"), "127.0.0.1", port=server.port, timeout=2)
        tcp = dns.query.tcp(dns.message.make_query(NAME, "AAAA"), "127.0.0.1", port=server.port, timeout=2)
        missing = dns.query.udp(dns.message.make_query("other.test", "A"), "127.0.0.1", port=server.port, timeout=2)
        assert server.queries == [("udp", "iplos.test.", "A"), ("tcp", "iplos.test.", "AAAA"), ("udp", "other.test.", "A")]
    assert udp.flags & dns.flags.AA and udp.answer[0].ttl == 60
    assert [r.to_text() for r in tcp.answer[0]] == ["::1"]
    assert missing.rcode() == dns.rcode.NXDOMAIN


def test_dns_server_listens_on_loopback_only():
    with pytest.raises(ValueError):
        DnsServer({}, host="0.0.0.0")


# --- the check: each resolver asked ------------------------------------------------------------------


def test_pass_shows_who_answered_what_ttl_authority_and_time(valid_profile, no_hosts):
    with DnsServer({NAME: ["127.0.0.1"]}, ttl=300) as server:
        result = run_dns(dns_profile(valid_profile), [server], no_hosts)
        asked = list(server.queries)
    assert result.status == "pass", result
    assert sorted(q[2] for q in asked) == ["A", "AAAA"]
    row = next(line for line in result.evidence if line.startswith(f"{server.spec} A:"))
    assert "127.0.0.1" in row and "TTL 300" in row and "autoritativt" in row and "ms" in row
    assert any(line.startswith(f"{server.spec} AAAA:") and "ingen AAAA" in line for line in result.evidence)
    assert f"dig @127.0.0.1 -p {server.port} {NAME} A" in result.commands
    assert result.to_dict()["commands"] == result.commands


def test_a_resolver_that_does_not_answer_is_named_and_the_run_keeps_its_bound(valid_profile, no_hosts):
    with DnsServer({NAME: ["127.0.0.1"]}) as good, DnsServer(mode="silent") as silent:
        started = time.monotonic()
        result = run_dns(dns_profile(valid_profile), [good, silent], no_hosts, timeouts={"dns": 0.6})
        elapsed = time.monotonic() - started
    assert result.status == "warn", result
    assert silent.spec in result.detail
    assert any(line.startswith(f"{silent.spec} A:") and "ingen svar" in line for line in result.evidence)
    assert elapsed < 0.6 + preflight.GRACE_SECONDS + 3.0  # the timeout honoured; room for a loaded machine


def test_servfail_and_nxdomain_from_one_resolver_warn(valid_profile, no_hosts):
    with DnsServer({NAME: ["127.0.0.1"]}) as good, DnsServer(mode="servfail") as broken, DnsServer({}) as empty:
        result = run_dns(dns_profile(valid_profile), [good, broken, empty], no_hosts)
    assert result.status == "warn", result
    assert broken.spec in result.detail and empty.spec in result.detail
    assert any(line.startswith(f"{broken.spec} A:") and "SERVFAIL" in line for line in result.evidence)
    assert any(line.startswith(f"{empty.spec} A:") and "NXDOMAIN" in line for line in result.evidence)


def test_two_resolvers_that_disagree(valid_profile, no_hosts):
    with DnsServer({NAME: ["127.0.0.1"]}) as one, DnsServer({NAME: ["127.0.0.2"]}) as other:
        result = run_dns(dns_profile(valid_profile), [one, other], no_hosts)
    assert result.status == "warn", result
    assert "uenige" in result.detail
    assert one.spec in result.detail and other.spec in result.detail and "127.0.0.2" in result.detail


def test_wrong_address_through_the_profiles_resolver(valid_profile, no_hosts):
    """The profile's resolver is the machine's (system_resolver off): a wrong answer is what the
    console would connect to (::1 here, where nothing listens; the expected is 127.0.0.1)."""
    with DnsServer({NAME: ["::1"]}) as wrong:
        profile = dns_profile(valid_profile, preflight_nameservers=[wrong.spec], preflight_system_resolver=False)
        results = {r.id: r for r in preflight.run_checks(profile, only=["dns", "tcp"], hosts_file=no_hosts, timeouts={"tcp": 0.5})}
    dns, tcp = results["dns"], results["tcp"]
    assert dns.status == "warn", dns
    assert "::1" in dns.detail and "127.0.0.1" in dns.detail
    assert tcp.status == "fail" and "[::1]:443" in "\n".join(tcp.evidence), tcp  # tcp tried what that resolver said


def test_nxdomain_everywhere_fails(valid_profile, no_hosts):
    with DnsServer({}) as empty:
        profile = dns_profile(valid_profile, preflight_nameservers=[empty.spec], preflight_system_resolver=False)
        result = preflight.run_checks(profile, only=["dns"], hosts_file=no_hosts)[0]
    assert result.status == "fail", result
    assert "finnes ikke" in result.detail
    assert any("NXDOMAIN" in line for line in result.evidence)


def test_cname_chain_and_truncated_answer_over_tcp(valid_profile, no_hosts):
    with DnsServer({"lb.test": ["127.0.0.1"]}, cnames={NAME: "lb.test"}, mode="truncate") as server:
        result = run_dns(dns_profile(valid_profile), [server], no_hosts)
        transports = {q[0] for q in server.queries}
    assert result.status == "pass", result
    assert transports == {"udp", "tcp"}
    row = next(line for line in result.evidence if line.startswith(f"{server.spec} A:"))
    assert "CNAME lb.test" in row and "127.0.0.1" in row and "TCP" in row


def test_hosts_file_entry_overrides_dns_and_is_not_an_error(valid_profile, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n# secure zone\n127.0.0.1   iplos.test  iplos\n")
    with DnsServer({NAME: ["127.0.0.3"]}) as server:
        profile = dns_profile(valid_profile, preflight_nameservers=[server.spec], preflight_system_resolver=False)
        result = preflight.run_checks(profile, only=["dns"], hosts_file=hosts)[0]
    assert result.status == "pass", result
    assert "hosts" in result.detail
    assert any("linje 3" in line and "127.0.0.1   iplos.test" not in line and "127.0.0.1 iplos.test iplos" in line for line in result.evidence)
    assert any("127.0.0.3" in line for line in result.evidence)  # what DNS would have said


def test_no_resolver_and_no_hosts_entry(valid_profile, no_hosts):
    profile = dns_profile(valid_profile, preflight_system_resolver=False)
    result = preflight.run_checks(profile, only=["dns"], hosts_file=no_hosts)[0]
    assert result.status == "fail"
    assert any("Ingen navnetjener" in line for line in result.evidence)


def test_unreadable_nameserver_setting_is_named(valid_profile, no_hosts):
    with DnsServer({NAME: ["127.0.0.1"]}) as server:
        profile = dns_profile(valid_profile, preflight_nameservers=["not-an-address", server.spec])
        result = preflight.run_checks(profile, only=["dns"], hosts_file=no_hosts, resolver=getaddrinfo_seam({NAME: ["127.0.0.1"]}))[0]
    assert result.status == "warn"
    assert "not-an-address" in result.detail


# --- the sandbox: `make run` shows a real DNS pass -------------------------------------------------------


def test_sandbox_dns_row_is_a_real_pass(tmp_path):
    pytest.importorskip("uvicorn", reason="the sandbox extra (uvicorn) is not installed")
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sandbox") as sandbox:
        profile = sandbox.profile
        results = {r.id: r for r in preflight.run_checks(profile, only=["dns", "tcp", "tls", "http"], temp_roots=())}
        asked = list(sandbox.dns.queries)
    assert results["dns"].status == "pass", results["dns"]
    assert {q[1] for q in asked} == {profile.sendemodul_url.split("/")[2].split(":")[0] + "."}
    assert all(r.status == "pass" for r in results.values()), {k: (r.status, r.detail) for k, r in results.items()}


def test_a_resolver_check_that_cannot_start_is_a_row_not_a_traceback(valid_profile, no_hosts, monkeypatch, capfd):
    """dnspython missing from a broken install: each resolver's row says why, nothing on stderr."""
    monkeypatch.setitem(__import__("sys").modules, "dns.query", None)  # `import dns.query` raises ImportError
    with DnsServer({NAME: ["127.0.0.1"]}) as server:
        result = run_dns(dns_profile(valid_profile), [server], no_hosts)
    rows = [line for line in result.evidence if line.startswith(f"{server.spec} A:")]
    assert rows and "dns.query" in rows[0], result.evidence
    assert "Traceback" not in capfd.readouterr().err
