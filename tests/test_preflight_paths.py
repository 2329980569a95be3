"""Where a connection breaks, as IT asks it: the proxy as its own row, the source address and the
route of every TCP attempt with the commands to run next, the whole verified TLS chain with the
openssl command, and the gateway shown to be a MOVEit Transfer (not a 404 called OK)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from iplos_tui.core import preflight
from iplos_tui.core.preflight import route
from iplos_tui.sandbox.certs import Issued, issue_tls_server
from tests.preflight_servers import LOCAL_NAMES, BlackHole, ConnectProxy, TlsHttpServer, closed_port, point_at, resolver_seam, make_test_ca, utc

seam = resolver_seam(LOCAL_NAMES)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    ca, ca_pem = make_test_ca(tmp_path_factory.mktemp("pki"), "paths test CA")
    return {"ca": ca, "ca_pem": ca_pem}


def profile_for(base, pki, port, feedback_port=None, **changes):
    return point_at(base, pki["ca_pem"], port, feedback_port, **changes)


def run(profile, only, **kwargs):
    return {r.id: r for r in preflight.run_checks(profile, only=only, resolver=seam, **kwargs)}


# --- tcp: source, route, the commands -----------------------------------------------------------------


def test_tcp_shows_source_interface_and_route(valid_profile, pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test"]), tmp_path / "srv") as server:
        tcp = run(profile_for(valid_profile, pki, server.port), ["tcp"])["tcp"]
    assert tcp.status == "pass"
    assert "Rute til 127.0.0.1: lokal (lo), fra 127.0.0.1" in tcp.evidence
    assert any(line.startswith(f"TCP 127.0.0.1:{server.port}: åpen") and "fra 127.0.0.1:" in line for line in tcp.evidence)
    assert "ip route get 127.0.0.1" in tcp.commands


def test_tcp_timeout_names_the_commands_to_run_next_exactly(valid_profile, pki):
    with BlackHole() as hole:
        tcp = run(profile_for(valid_profile, pki, hole.port, preflight_timeout=1.0), ["tcp"])["tcp"]
    assert tcp.status == "fail"
    assert tcp.commands == [
        "ip route get 127.0.0.1",
        f"nc -zv -w 1 127.0.0.1 {hole.port}",
        "tracepath -n 127.0.0.1",
        f"mtr -T -P {hole.port} 127.0.0.1",
    ]
    assert "tracepath og mtr" in tcp.hint


def test_route_is_read_from_the_kernels_tables(tmp_path, monkeypatch):
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
        "hn0\t005EBA5B\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    )
    table6 = tmp_path / "ipv6_route"
    table6.write_text(
        "20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     hn0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    )
    monkeypatch.setattr(route, "PROC_ROUTE", table)
    monkeypatch.setattr(route, "PROC_ROUTE6", table6)
    assert route.route_to("91.186.94.110", source="91.186.94.2") == route.Route("91.186.94.110", "hn0", "", "91.186.94.2")
    assert route.route_to("8.8.8.8", source="192.0.2.2") == route.Route("8.8.8.8", "eth0", "192.0.2.1", "192.0.2.2")
    assert route.route_to("2001:db8::7", source="2001:db8::2").interface == "hn0"
    assert route.route_to("2a00::1", source="fd00::2") == route.Route("2a00::1", "eth0", "fd00::1", "fd00::2")
    assert route.route_to("127.0.0.1").loopback


# --- the proxy as its own row -----------------------------------------------------------------------------


def test_proxy_row_skips_without_a_proxy_and_passes_with_one(valid_profile, pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test"]), tmp_path / "srv") as server, ConnectProxy() as proxy:
        direct = profile_for(valid_profile, pki, server.port, sendemodul_connect_address="127.0.0.1")
        assert run(direct, ["proxy"])["proxy"].status == "skip"
        results = run(direct.replace(proxy=f"http://127.0.0.1:{proxy.port}"), ["proxy", "tcp"])
    assert results["proxy"].status == "pass", results["proxy"]
    assert "Rute til 127.0.0.1: lokal (lo), fra 127.0.0.1" in results["proxy"].evidence
    assert results["tcp"].status == "pass"
    assert any(line.startswith(f"CONNECT 127.0.0.1:{server.port}") and "200" in line for line in results["tcp"].evidence)


def test_a_proxy_that_does_not_answer_fails_its_row_and_tcp_says_not_tested(valid_profile, pki):
    port = closed_port()
    results = run(profile_for(valid_profile, pki, 443, proxy=f"http://127.0.0.1:{port}"), ["proxy", "tcp", "tls"])
    assert results["proxy"].status == "fail"
    assert "avvist" in results["proxy"].detail
    assert f"nc -zv -w 2 127.0.0.1 {port}" in results["proxy"].commands
    assert results["tcp"].status == "skip" and "Proxy" in results["tcp"].hint
    assert results["tls"].status == "skip"


# --- tls: the whole chain --------------------------------------------------------------------------------


def _intermediate(root: Issued, name: str, not_after: dt.datetime) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(-1))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    return Issued(cert, key)


def test_tls_shows_the_whole_verified_chain_and_the_openssl_command(valid_profile, pki, tmp_path):
    middle = _intermediate(pki["ca"], "paths intermediate CA", utc(400))
    leaf = issue_tls_server(middle, ["iplos.test"], not_after=utc(200))
    with TlsHttpServer(leaf, tmp_path / "srv", chain=middle.cert.public_bytes(Encoding.PEM)) as server:
        tls = run(profile_for(valid_profile, pki, server.port), ["tls"])["tls"]
    assert tls.status == "pass", tls
    assert "kjeden på 3" in tls.detail
    text = "\n".join(tls.evidence)
    assert "Verifisert kjede (3 sertifikater" in text
    assert "0 s:CN=iplos.test" in text and "1 s:CN=paths intermediate CA" in text and "2 s:CN=paths test CA" in text
    assert "nøkkel EC 256" in text and "SHA256 " in text
    assert "nøkkelbruk: digital_signature, key_encipherment" in text and "utvidet nøkkelbruk: serverAuth" in text
    assert tls.commands == [
        f"openssl s_client -connect 127.0.0.1:{server.port} -servername iplos.test -showcerts -CAfile {pki['ca_pem']} </dev/null"
    ]


def test_tls_warns_on_the_earliest_expiry_in_the_chain(valid_profile, pki, tmp_path):
    middle = _intermediate(pki["ca"], "paths short-lived CA", utc(10))
    leaf = issue_tls_server(middle, ["iplos.test"], not_after=utc(9))
    with TlsHttpServer(leaf, tmp_path / "srv", chain=middle.cert.public_bytes(Encoding.PEM)) as server:
        tls = run(profile_for(valid_profile, pki, server.port), ["tls"])["tls"]
    assert tls.status == "warn"
    assert "utløper om 8" in tls.detail and "CN=iplos.test" in tls.detail


# --- the gateway: MOVEit Transfer, or why not ---------------------------------------------------------


def test_gateway_is_shown_to_be_a_moveit_transfer(valid_profile, pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["filsluse.test"]), tmp_path / "srv") as server:
        gateway = run(profile_for(valid_profile, pki, 443, server.port), ["feedback_gateway"])["feedback_gateway"]
        asked = [r.split(b"\r\n", 1)[0] for r in server.requests]
    assert gateway.status == "pass", gateway
    assert "MOVEit Transfer" in gateway.detail and "Statistisk sentralbyrå (test)" in gateway.detail
    assert asked == [b"GET /api/v1/info HTTP/1.1"]
    assert f"curl -sS --cacert {pki['ca_pem']} https://filsluse.test:{server.port}/api/v1/info" in gateway.commands


@pytest.mark.parametrize(
    "status, reason, expect",
    [(404, "Not Found", "har ikke MOVEits REST-API"), (200, "OK", "ikke med MOVEit-organisasjonsinfo"), (503, "Service Unavailable", "serverfeil")],
)
def test_gateway_that_is_not_moveit_is_a_warning_that_says_why(valid_profile, pki, tmp_path, status, reason, expect):
    """Issue 14 item 22: `[OK] Filsluse: HTTP 404 Not Found` with no word of why."""
    issued = issue_tls_server(pki["ca"], ["filsluse.test"])
    with TlsHttpServer(issued, tmp_path / "srv", status=status, reason=reason, moveit_info=False) as server:
        gateway = run(profile_for(valid_profile, pki, 443, server.port), ["feedback_gateway"])["feedback_gateway"]
    assert gateway.status == "warn", gateway
    assert expect in gateway.detail and str(status) in gateway.detail
    assert gateway.hint




# --- the report for the IT ticket ------------------------------------------------------------------------


def test_report_carries_the_resolver_table_route_chain_and_hand_commands(valid_profile, pki, tmp_path):
    from iplos_tui.sandbox.dns_server import DnsServer

    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test", "filsluse.test"]), tmp_path / "srv") as server, DnsServer({"iplos.test": ["127.0.0.1"]}) as dns:
        profile = profile_for(valid_profile, pki, server.port)
        results = preflight.run_checks(profile, only=["dns", "tcp", "tls"], resolver=seam, nameservers=[dns.spec], hosts_file=hosts)
    text = preflight.render_report(results, profile, generated_at=dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone.utc), host="sikker-01")
    assert f"{dns.spec} A: 127.0.0.1 · TTL 300" in text  # the resolver table
    assert "Rute til 127.0.0.1: lokal (lo), fra 127.0.0.1" in text  # the route
    assert "Verifisert kjede (2 sertifikater" in text and "1 s:CN=paths test CA" in text  # the chain
    assert f"$ dig @127.0.0.1 -p {dns.port} iplos.test A" in text  # the hand commands
    assert "$ mtr -T -P" in text and "$ openssl s_client -connect 127.0.0.1:" in text
    assert text.count("For hånd") == 3
