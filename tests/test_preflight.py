"""Preflight checks against real loopback peers: a TLS server with a test CA (good, wrong name,
expired, not yet valid, unknown CA), a closed port, a full-backlog listener (black hole), a silent
TLS peer, a skewed Date, a CONNECT proxy; DNS through the resolver seam. Plus the report and
`iplos preflight`."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from iplos_tui.core import preflight
from iplos_tui.core.config import Profile, save_profile
from iplos_tui.core.tlsconfig import normalise_pin, pin_base64
from iplos_tui.sandbox.certs import issue_recipient, issue_tls_server, make_ca
from tests.support import is_loopback as _is_loopback
from tests.preflight_servers import BlackHole, ConnectProxy, SilentServer, TlsHttpServer, closed_port, point_at, utc

NETWORK = ["dns", "tcp", "tls", "http", "clock"]


# --- a second guard: records any non-loopback attempt even where a check swallowed the error ---


@pytest.fixture(autouse=True)
def escapes(monkeypatch):
    seen: list[str] = []
    inner_getaddrinfo = socket.getaddrinfo
    inner_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            seen.append(f"resolve {host}")
        return inner_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            seen.append(f"connect {address}")
        return inner_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield seen
    assert not seen, f"a test reached for a non-loopback address: {seen}"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca("preflight test CA")
    ca.write(directory / "ca.pem")
    other = make_ca("some other CA")
    return {"ca": ca, "ca_pem": directory / "ca.pem", "other": other, "dir": directory}


def resolver(table: dict[str, object], delay: float = 0.0):
    """The resolver seam: answers from ``table``; a missing name is NXDOMAIN."""
    calls: list[str] = []

    def resolve(host: str):
        calls.append(host)
        if delay:
            time.sleep(delay)
        value = table.get(host)
        if value is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if isinstance(value, BaseException):
            raise value
        return value

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


# The honoured timeouts are asserted with this much room for a loaded machine (never a speed figure).
LOAD_MARGIN = 3.0
LOCAL = {"iplos.test": ["127.0.0.1"], "filsluse.test": ["127.0.0.1"]}


def net_profile(base: Profile, pki, port: int, feedback_port: int | None = None, **changes) -> Profile:
    return point_at(base, pki["ca_pem"], port, feedback_port, **changes)


def by_id(results) -> dict[str, preflight.CheckResult]:
    return {r.id: r for r in results}


@pytest.fixture
def good_server(pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test", "filsluse.test"]), tmp_path / "srv") as server:
        yield server


# --- the healthy path ----------------------------------------------------------------------------


def test_healthy_endpoint_every_network_check_passes(valid_profile, pki, good_server):
    profile = net_profile(valid_profile, pki, good_server.port)
    results = by_id(preflight.run_checks(profile, only=[*NETWORK, "feedback_gateway"], resolver=resolver(LOCAL)))
    assert {k: r.status for k, r in results.items()} == dict.fromkeys([*NETWORK, "feedback_gateway"], "pass")
    assert "127.0.0.1" in results["dns"].detail
    assert any("TLSv1." in line for line in results["tls"].evidence)
    assert any(line.startswith("subject=") and "iplos.test" in line for line in results["tls"].evidence)
    assert "Verify return code: 0 (ok)" in results["tls"].evidence
    assert "HTTP 200" in results["http"].detail
    # SNI and the Host header carry the name although the connection went to 127.0.0.1.
    assert any(f"Host: iplos.test:{good_server.port}".encode() in r for r in good_server.requests)
    assert any(b"GET /Sendemodul/ HTTP/1.1" in r for r in good_server.requests)


def test_results_come_in_order_and_progress_reports_each_once(valid_profile, pki, good_server):
    profile = net_profile(valid_profile, pki, good_server.port)
    seen: list[str] = []
    callers: set[int] = set()

    def progress(result):
        seen.append(result.id)
        callers.add(threading.get_ident())

    results = preflight.run_checks(profile, resolver=resolver(LOCAL), progress=progress, temp_roots=())
    assert [r.id for r in results] == list(preflight.CHECK_IDS)
    assert sorted(seen) == sorted(preflight.CHECK_IDS)
    assert callers == {threading.get_ident()}  # the callback runs in the caller's thread
    for result in results:
        assert result.status in preflight.STATUSES
        assert set(result.to_dict()) == {"id", "title", "status", "detail", "hint", "evidence", "commands", "elapsed_ms"}


def test_connect_address_override_still_checks_the_name(valid_profile, pki, good_server):
    profile = net_profile(valid_profile, pki, good_server.port, sendemodul_connect_address="127.0.0.1", sendemodul_address="91.186.94.110")
    results = by_id(preflight.run_checks(profile, only=NETWORK, resolver=resolver({})))
    assert results["dns"].status == "warn"  # the name does not resolve, but it is not needed
    assert results["tcp"].status == "pass"
    assert results["tls"].status == "pass"
    assert results["http"].status == "pass"


def test_override_with_a_certificate_for_another_name_fails_tls(valid_profile, pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["other.test"], ["127.0.0.1"]), tmp_path / "srv") as server:
        profile = net_profile(valid_profile, pki, server.port, sendemodul_connect_address="127.0.0.1")
        results = by_id(preflight.run_checks(profile, only=["tls", "http"], resolver=resolver({})))
        assert results["tls"].status == "fail"
        assert "iplos.test" in results["tls"].detail
        assert results["http"].status == "skip"
        assert server.requests == []  # nothing was sent over the unverified peer


# --- TLS failures (F02, F03, F12) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, expect",
    [
        ("wrong_name", "gjelder ikke navnet iplos.test"),
        ("expired", "utløpt"),
        ("not_yet_valid", "ikke gyldig ennå"),
        ("unknown_ca", "ukjent utsteder"),
    ],
)
def test_tls_failures_are_told_apart(valid_profile, pki, tmp_path, case, expect):
    ca = pki["ca"]
    if case == "wrong_name":
        issued = issue_tls_server(ca, ["wrong.test"])
    elif case == "expired":
        issued = issue_tls_server(ca, ["iplos.test"], not_before=utc(-30), not_after=utc(-1))
    elif case == "not_yet_valid":
        issued = issue_tls_server(ca, ["iplos.test"], not_before=utc(2), not_after=utc(30))
    else:
        issued = issue_tls_server(pki["other"], ["iplos.test"])
    with TlsHttpServer(issued, tmp_path / "srv") as server:
        profile = net_profile(valid_profile, pki, server.port)
        results = by_id(preflight.run_checks(profile, only=["tcp", "tls", "http", "clock"], resolver=resolver(LOCAL)))
        tls = results["tls"]
        assert results["tcp"].status == "pass"
        assert tls.status == "fail", tls
        assert expect in tls.detail
        assert any(line.startswith("Verify return code:") and "0 (ok)" not in line for line in tls.evidence)
        # The certificate the server shows is described for IT even though it was refused.
        assert any(line.startswith("subject=") for line in tls.evidence)
        if case in ("expired", "not_yet_valid"):
            assert "klokken" in tls.hint  # a clock hint
        assert results["http"].status == "skip"
        assert results["clock"].status == "skip"
        assert server.requests == []


def test_environment_ca_is_never_trusted(valid_profile, pki, good_server, monkeypatch):
    """F15: SSL_CERT_FILE pointing at the server's CA must not make the system store trust it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca_pem"]))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki["dir"]))
    profile = net_profile(valid_profile, pki, good_server.port, sendemodul_ca_bundle=None)
    results = by_id(preflight.run_checks(profile, only=["tls"], resolver=resolver(LOCAL)))
    assert results["tls"].status == "fail"
    assert "ukjent utsteder" in results["tls"].detail


def test_unreadable_ca_bundle_is_a_clear_failure(valid_profile, pki, good_server, tmp_path):
    bad = tmp_path / "bundle.pem"
    bad.write_text("not a certificate\n")
    profile = net_profile(valid_profile, pki, good_server.port, sendemodul_ca_bundle=bad)
    result = preflight.run_checks(profile, only=["tls"], resolver=resolver(LOCAL))[0]
    assert result.status == "fail"
    assert "CA-filen" in result.detail


def test_spki_pin_match_and_mismatch(valid_profile, pki, good_server):
    from iplos_tui.core.tlsconfig import spki_sha256_of_der

    context = ssl.create_default_context(cafile=str(pki["ca_pem"]))
    with socket.create_connection(("127.0.0.1", good_server.port), timeout=2) as raw:
        with context.wrap_socket(raw, server_hostname="iplos.test") as tls:
            spki = spki_sha256_of_der(tls.getpeercert(True))
    good_server.requests.clear()

    right = net_profile(valid_profile, pki, good_server.port, sendemodul_spki_pins=["0" * 64, pin_base64(spki)])
    results = by_id(preflight.run_checks(right, only=["tls", "http"], resolver=resolver(LOCAL)))
    assert results["tls"].status == "pass"
    assert any("stemmer" in line for line in results["tls"].evidence)
    assert results["http"].status == "pass"

    good_server.requests.clear()
    before = good_server.request_bytes
    wrong = net_profile(valid_profile, pki, good_server.port, sendemodul_spki_pins=["ab" * 32])
    results = by_id(preflight.run_checks(wrong, only=["tls", "http"], resolver=resolver(LOCAL)))
    assert results["tls"].status == "fail"
    assert spki in "\n".join(results["tls"].evidence)  # says which key was seen
    assert "pinne" in results["tls"].hint
    assert results["http"].status == "skip"
    time.sleep(0.05)
    assert good_server.request_bytes == before  # F03: not one HTTP byte reached the server


def test_pin_spellings():
    import base64

    digest = bytes(range(32))
    assert normalise_pin("AB:" * 31 + "AB") == "ab" * 32
    assert normalise_pin("sha256//" + base64.b64encode(digest).decode()) == digest.hex()
    assert normalise_pin("sha256:" + digest.hex().upper()) == digest.hex()
    assert normalise_pin(base64.b64encode(digest[:16]).decode()) is None  # not 32 bytes
    assert normalise_pin("nonsense") is None


# --- TCP failures -------------------------------------------------------------------------------


def test_closed_port_is_refused_not_waited_out(valid_profile, pki):
    timeout = 30.0
    port = closed_port()
    profile = net_profile(valid_profile, pki, port, preflight_timeout=timeout)
    started = time.monotonic()
    results = by_id(preflight.run_checks(profile, only=NETWORK, resolver=resolver(LOCAL)))
    assert time.monotonic() - started < timeout / 2  # ended on the refusal, not on the timeout
    assert results["dns"].status == "pass"
    assert results["tcp"].status == "fail"
    assert "avvist" in results["tcp"].detail and "ingen svar" not in results["tcp"].detail
    assert "brannmuren" in results["tcp"].hint
    assert [results[i].status for i in ("tls", "http", "clock")] == ["skip", "skip", "skip"]


def test_black_hole_times_out_within_its_timeout(valid_profile, pki):
    with BlackHole() as hole:
        profile = net_profile(valid_profile, pki, hole.port, preflight_timeout=1.0)
        started = time.monotonic()
        results = by_id(preflight.run_checks(profile, only=NETWORK, resolver=resolver(LOCAL)))
        elapsed = time.monotonic() - started
    assert results["tcp"].status == "fail"
    assert "ingen svar innen 1 s" in results["tcp"].detail
    assert "91.186.94.110" not in results["tcp"].hint and "127.0.0.1" in results["tcp"].hint
    assert results["tls"].status == "skip" and results["http"].status == "skip"
    assert 0.9 <= elapsed < 1.0 + preflight.GRACE_SECONDS + LOAD_MARGIN


def test_silent_peer_fails_the_tls_handshake_by_timeout(valid_profile, pki):
    with SilentServer() as silent:
        profile = net_profile(valid_profile, pki, silent.port, preflight_timeout=0.8)
        results = by_id(preflight.run_checks(profile, only=["tcp", "tls"], resolver=resolver(LOCAL)))
    assert results["tcp"].status == "pass"
    assert results["tls"].status == "fail"
    assert "håndtrykket" in results["tls"].detail


def test_every_address_black_holes_and_the_run_keeps_its_bound(valid_profile, pki, tmp_path):
    """The measured bound: every network check times out; the run ends by timeout + grace."""
    from iplos_tui.sandbox.dns_server import DnsServer

    timeout = 1.0
    run_checks = preflight.run_checks  # the checks' code is loaded before the clock starts: the runs are timed
    with BlackHole() as sendemodul, BlackHole() as gateway, BlackHole() as proxy, DnsServer(mode="silent") as silent:
        profile = net_profile(valid_profile, pki, sendemodul.port, gateway.port, preflight_timeout=timeout)
        started = time.monotonic()
        results = by_id(run_checks(profile, resolver=resolver(LOCAL), temp_roots=(), nameservers=[silent.spec]))
        elapsed = time.monotonic() - started
        proxied = net_profile(valid_profile, pki, sendemodul.port, gateway.port, preflight_timeout=timeout, proxy=f"http://127.0.0.1:{proxy.port}")
        started = time.monotonic()
        via_proxy = by_id(run_checks(proxied, only=["proxy", "tcp", "tls"], resolver=resolver(LOCAL), temp_roots=()))
        proxy_elapsed = time.monotonic() - started
    print(f"all-timeouts run through a proxy: {proxy_elapsed * 1000:.0f} ms for a {timeout:g} s timeout")
    assert via_proxy["proxy"].status == "fail" and via_proxy["tcp"].status == "skip"
    assert timeout * 0.9 <= proxy_elapsed <= timeout + preflight.GRACE_SECONDS + LOAD_MARGIN
    assert results["dns"].status == "warn"  # the machine's lookup answered; the resolver did not
    print(f"all-timeouts run: {elapsed * 1000:.0f} ms for a {timeout:g} s timeout")
    assert results["tcp"].status == "fail"
    assert results["feedback_gateway"].status == "fail"
    assert all(r.elapsed_ms <= (timeout + preflight.GRACE_SECONDS + LOAD_MARGIN) * 1000 for r in results.values())
    assert timeout * 0.9 <= elapsed <= timeout + preflight.GRACE_SECONDS + LOAD_MARGIN


def test_hanging_resolver_is_cut_at_the_timeout(valid_profile, pki, good_server):
    profile = net_profile(valid_profile, pki, good_server.port, preflight_timeout=0.6)
    started = time.monotonic()
    results = by_id(preflight.run_checks(profile, only=[*NETWORK, "feedback_gateway"], resolver=resolver(LOCAL, delay=30)))
    elapsed = time.monotonic() - started
    assert elapsed < 0.6 + preflight.GRACE_SECONDS + LOAD_MARGIN  # cut, not waiting for the 30 s answer
    assert results["dns"].status == "fail"
    assert "Ingen svar på navneoppslag" in results["dns"].detail
    assert results["tcp"].status == "skip"
    assert results["feedback_gateway"].status == "fail"


def test_cancel_returns_at_once(valid_profile, pki):
    cancel = threading.Event()
    with BlackHole() as hole:
        profile = net_profile(valid_profile, pki, hole.port, preflight_timeout=30.0)
        threading.Timer(0.2, cancel.set).start()
        started = time.monotonic()
        results = by_id(preflight.run_checks(profile, only=NETWORK, resolver=resolver(LOCAL), cancel=cancel))
        elapsed = time.monotonic() - started
    assert elapsed < 0.2 + LOAD_MARGIN  # cancelled at 0.2 s of a 30 s timeout
    assert results["tcp"].status == "skip"
    assert results["tcp"].detail == "Avbrutt."
    assert results["dns"].status == "pass"  # finished before the cancel


# --- DNS through the resolver seam ----------------------------------------------------------------


def test_dns_none_expected_unexpected(valid_profile, pki):
    profile = net_profile(valid_profile, pki, 443)
    none = preflight.run_checks(profile, only=["dns", "tcp"], resolver=resolver({}))
    assert [r.status for r in none] == ["fail", "skip"]
    assert "finnes ikke" in none[0].detail

    expected = preflight.run_checks(profile, only=["dns"], resolver=resolver({"iplos.test": ["127.0.0.1"]}))[0]
    assert expected.status == "pass"
    assert "Forventet 127.0.0.1: funnet" in expected.evidence

    unexpected = preflight.run_checks(profile, only=["dns"], resolver=resolver({"iplos.test": ["127.0.0.2", "127.0.0.3"]}))[0]
    assert unexpected.status == "warn"
    assert "127.0.0.2, 127.0.0.3" in unexpected.detail and "127.0.0.1" in unexpected.detail
    assert "Adresse: 127.0.0.3" in unexpected.evidence


def test_dns_server_failure_and_garbage_answers(valid_profile, pki):
    profile = net_profile(valid_profile, pki, 443)
    failing = resolver({"iplos.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")})
    result = preflight.run_checks(profile, only=["dns"], resolver=failing)[0]
    assert result.status == "fail"
    assert "Temporary failure" in result.detail
    garbage = preflight.run_checks(profile, only=["dns"], resolver=resolver({"iplos.test": ["\x1b[31mnot-an-ip"]}))[0]
    assert garbage.status == "fail"
    assert "\x1b" not in json.dumps(garbage.to_dict())


def test_name_is_resolved_once_per_run(valid_profile, pki, good_server):
    seam = resolver(LOCAL)
    profile = net_profile(valid_profile, pki, good_server.port)
    preflight.run_checks(profile, only=NETWORK, resolver=seam)
    assert seam.calls.count("iplos.test") == 1


def test_default_resolver_is_refused_by_the_guard_in_tests(valid_profile, escapes):
    """With the default profile (iplos.nhn.no) and the system resolver, the loopback guard stops
    the lookup: the check fails and not a packet leaves the machine."""
    result = preflight.run_checks(valid_profile.replace(preflight_timeout=1.0), only=["dns"])[0]
    assert result.status == "fail"
    assert escapes == ["resolve iplos.nhn.no"]
    escapes.clear()


# --- HTTP and the clock -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, reason, extra, expected",
    [
        (302, "Found", "Location: https://elsewhere.test/login\r\n", "warn"),
        (401, "Unauthorized", "", "pass"),
        (403, "Forbidden", "", "warn"),
        (503, "Service Unavailable", "", "fail"),
    ],
)
def test_http_status_is_judged_and_redirects_not_followed(valid_profile, pki, tmp_path, status, reason, extra, expected):
    issued = issue_tls_server(pki["ca"], ["iplos.test"])
    with TlsHttpServer(issued, tmp_path / "srv", status=status, reason=reason, extra_headers=extra) as server:
        profile = net_profile(valid_profile, pki, server.port)
        result = preflight.run_checks(profile, only=["http"], resolver=resolver(LOCAL))[0]
        assert result.status == expected, result
        assert len(server.requests) == 1
    if status == 302:
        assert "elsewhere.test/login" in result.detail
        assert "Location: https://elsewhere.test/login" in result.evidence


@pytest.mark.parametrize("offset, expected", [(0, "pass"), (30, "pass"), (3600, "warn"), (-900, "warn")])
def test_clock_against_server_date(valid_profile, pki, tmp_path, offset, expected):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test"]), tmp_path / "srv", date_offset=offset) as server:
        profile = net_profile(valid_profile, pki, server.port)
        result = preflight.run_checks(profile, only=["clock"], resolver=resolver(LOCAL))[0]
    assert result.status == expected, result
    if offset == 3600:
        assert "etter serveren" in result.detail and "NTP" in result.hint
    if offset == -900:
        assert "foran serveren" in result.detail


def test_clock_without_date_header_is_skipped(valid_profile, pki, tmp_path):
    with TlsHttpServer(issue_tls_server(pki["ca"], ["iplos.test"]), tmp_path / "srv", send_date=False) as server:
        profile = net_profile(valid_profile, pki, server.port)
        result = preflight.run_checks(profile, only=["clock"], resolver=resolver(LOCAL))[0]
    assert result.status == "skip"


# --- the proxy (from the profile only) ----------------------------------------------------------------


def test_proxy_tunnel_is_used_and_the_environment_proxy_is_not(valid_profile, pki, good_server, monkeypatch):
    with ConnectProxy() as env_proxy, ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{env_proxy.port}")
        direct = net_profile(valid_profile, pki, good_server.port, sendemodul_connect_address="127.0.0.1")
        assert all(r.status == "pass" for r in preflight.run_checks(direct, only=["tcp", "tls", "http"], resolver=resolver({})))
        assert env_proxy.connects == []  # F15: the environment's proxy sees nothing

        proxied = direct.replace(proxy=f"http://127.0.0.1:{proxy.port}")
        results = by_id(preflight.run_checks(proxied, only=["dns", "tcp", "tls", "http"], resolver=resolver({})))
        assert results["tcp"].status == "pass", results["tcp"]
        assert results["tls"].status == "pass"
        assert results["http"].status == "pass"
        assert results["dns"].status == "warn"  # the name is not needed with a proxy
        assert f"CONNECT 127.0.0.1:{good_server.port} HTTP/1.1" in proxy.connects


def test_proxy_refusal_is_reported(valid_profile, pki, good_server):
    with ConnectProxy(refuse_with="407 Proxy Authentication Required") as proxy:
        profile = net_profile(valid_profile, pki, good_server.port, proxy=f"http://user:secret@127.0.0.1:{proxy.port}")
        results = by_id(preflight.run_checks(profile, only=["tcp", "tls"], resolver=resolver(LOCAL)))
    assert results["tcp"].status == "fail"
    assert "407" in results["tcp"].detail
    assert "secret" not in json.dumps([r.to_dict() for r in results.values()])
    assert results["tls"].status == "skip"


# --- recipient certificates -----------------------------------------------------------------------------


def _recipient(pki, tmp_path, name: str, **kwargs) -> Path:
    issued = issue_recipient(pki["ca"], name, **kwargs)
    path = tmp_path / f"{name}.pem"
    issued.write(path)
    return path


def test_recipient_certificates(valid_profile, pki, tmp_path):
    good = _recipient(pki, tmp_path, "SSB test", not_before=dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc), not_after=utc(365))
    expired = _recipient(pki, tmp_path, "TPF old", not_before=dt.datetime(2016, 1, 1, tzinfo=dt.timezone.utc), not_after=dt.datetime(2018, 1, 5, tzinfo=dt.timezone.utc))
    profile = valid_profile.replace(ssb_certificate=good, tpf_certificate=expired)
    results = by_id(preflight.run_checks(profile, only=["ssb_certificate", "tpf_certificate"]))
    assert results["ssb_certificate"].status == "pass", results["ssb_certificate"]
    assert "RSA 2048" in results["ssb_certificate"].detail
    assert any(line.startswith("SHA256 Fingerprint=") for line in results["ssb_certificate"].evidence)
    assert results["tpf_certificate"].status == "fail"
    assert "klokken" in results["tpf_certificate"].hint


def test_recipient_certificate_fingerprint_missing_file_and_ec_key(valid_profile, pki, tmp_path):
    good = _recipient(pki, tmp_path, "SSB fp", not_before=dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc), not_after=utc(365))
    ec = _recipient(pki, tmp_path, "TPF ec", key_type="ec", not_before=dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc), not_after=utc(365))
    results = by_id(preflight.run_checks(valid_profile.replace(ssb_certificate=good, ssb_fingerprint="00" * 32, tpf_certificate=ec), only=["ssb_certificate", "tpf_certificate"]))
    assert results["ssb_certificate"].status == "fail"
    assert results["tpf_certificate"].status == "fail"
    missing = preflight.run_checks(valid_profile.replace(ssb_certificate=tmp_path / "nope.pem"), only=["ssb_certificate", "tpf_certificate"])
    assert [r.status for r in missing] == ["fail", "fail"]
    assert "finnes ikke" in missing[0].detail
    assert "paths.tpf_certificate" in missing[1].hint


def test_certificate_fetched_before_first_december_warns(valid_profile, pki, tmp_path):
    path = _recipient(pki, tmp_path, "SSB early", not_before=dt.datetime(2017, 6, 1, tzinfo=dt.timezone.utc), not_after=utc(365))
    stamp = dt.datetime(2017, 11, 20, 12, tzinfo=dt.timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))
    result = preflight.run_checks(valid_profile.replace(ssb_certificate=path), only=["ssb_certificate"])[0]
    assert result.status == "warn"
    assert "før 1. desember 2017" in result.detail


# --- the secure directory, the profile, the manual items --------------------------------------------------


def test_secure_directory(valid_profile, tmp_path, secure_dir):
    ok = preflight.run_checks(valid_profile, only=["secure_dir"], temp_roots=())[0]
    assert ok.status == "pass", ok
    assert any("0700" in line for line in ok.evidence)

    in_temp = preflight.run_checks(valid_profile, only=["secure_dir"], temp_roots=[tmp_path])[0]
    assert in_temp.status == "warn"

    (secure_dir / "reports").mkdir(mode=0o755)
    os.chmod(secure_dir / "reports", 0o755)
    loose = preflight.run_checks(valid_profile, only=["secure_dir"], temp_roots=())[0]
    assert loose.status == "warn" and "reports" in loose.detail

    os.chmod(secure_dir, 0o755)
    opened = preflight.run_checks(valid_profile, only=["secure_dir"], temp_roots=())[0]
    assert opened.status == "fail" and "0755" in opened.detail and "chmod" in opened.hint

    link = tmp_path / "link"
    link.symlink_to(secure_dir)
    assert preflight.run_checks(valid_profile.replace(secure_dir=link), only=["secure_dir"])[0].status == "fail"
    missing = preflight.run_checks(valid_profile.replace(secure_dir=tmp_path / "nope"), only=["secure_dir"])[0]
    assert missing.status == "fail" and "mkdir -m 700" in missing.hint


def test_profile_and_manual_items(valid_profile):
    results = by_id(preflight.run_checks(valid_profile.replace(orgnr="974550572"), only=["profile", "spam_allowlist", "postmottak_routing"]))
    assert results["profile"].status == "fail"
    assert any("Organisasjonsnummer" in line for line in results["profile"].evidence)
    assert results["spam_allowlist"].status == "manual"
    assert "MoveitFilsluse@ssb.no" in results["spam_allowlist"].detail
    ticked = by_id(preflight.run_checks(valid_profile.replace(spam_allowlist_confirmed=True, postmottak_routing_confirmed=True), only=["spam_allowlist", "postmottak_routing"]))
    assert [r.status for r in ticked.values()] == ["pass", "pass"]
    assert preflight.all_ok(ticked.values())


def test_unknown_check_id_is_refused(valid_profile):
    with pytest.raises(ValueError):
        preflight.run_checks(valid_profile, only=["nope"])


def test_bad_urls_fail_without_network(valid_profile):
    profile = valid_profile.replace(sendemodul_url="http://iplos.test/", gateway_url="https:///nohost")
    results = by_id(preflight.run_checks(profile, only=["dns", "tcp", "tls", "http", "feedback_gateway"], resolver=resolver({})))
    assert all(r.status == "fail" for r in results.values())
    assert "https://" in results["dns"].detail


# --- the report ----------------------------------------------------------------------------------


def test_report_is_written_atomically_into_the_secure_directory(valid_profile, pki, secure_dir):
    results = preflight.run_checks(valid_profile.replace(sendemodul_url="https://iplos.test:1/"), only=["dns", "secure_dir", "spam_allowlist"], resolver=resolver({"iplos.test": ["127.0.0.9"]}), temp_roots=())
    when = dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone.utc)
    path = preflight.write_report(results, valid_profile, generated_at=when, host="sikker-01", config_path=Path("/etc/iplos/config.toml"))
    assert path.parent == secure_dir / "reports"
    assert path.name == "preflight-0403-20180108-093000.txt"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    text = path.read_text(encoding="utf-8")
    assert "sikker-01" in text and "2018-01-08 09:30:00" in text
    assert "[!!]   dns" in text and "[OK]   secure_dir" in text and "[??]   spam_allowlist" in text
    assert "Adresse: 127.0.0.9" in text
    assert "Tiltak:" in text
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".iplos-tmp-")]
    second = preflight.write_report(results, valid_profile, generated_at=when, host="sikker-01")
    assert second != path and second.exists()


def test_report_refuses_a_missing_secure_directory(valid_profile, tmp_path):
    with pytest.raises(preflight.ReportError, match="finnes ikke"):
        preflight.write_report([], valid_profile.replace(secure_dir=tmp_path / "nope"))


def test_report_neutralises_server_text(valid_profile):
    result = preflight.CheckResult("http", "HTTPS", "warn", "HTTP 302 \x1b]52;c;AAAA\x07 [red]x[/]", ["Server: \x1b[2J\x9b"], "")
    text = preflight.render_report([result], valid_profile, generated_at=dt.datetime(2018, 1, 8, tzinfo=dt.timezone.utc), host="h")
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text


# --- `iplos preflight` ------------------------------------------------------------------------------


@pytest.fixture
def config_for(tmp_path):
    def write(profile: Profile) -> Path:
        path = tmp_path / "conf" / "config.toml"
        save_profile(profile, path)
        return path

    return write


def test_cli_json_and_exit_codes(valid_profile, pki, good_server, config_for, capsys):
    from iplos_tui.cli import main

    profile = net_profile(valid_profile, pki, good_server.port, sendemodul_connect_address="127.0.0.1")
    config = config_for(profile)
    code = main(["--config", str(config), "preflight", "--json", "--only", "tls", "http", "clock", "secure_dir"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["ok"] is True
    assert [c["id"] for c in out["checks"]] == ["tls", "http", "clock", "secure_dir"]
    for check in out["checks"]:
        assert set(check) == {"id", "title", "status", "detail", "hint", "evidence", "commands", "elapsed_ms"}

    config = config_for(profile.replace(sendemodul_url=f"https://iplos.test:{closed_port()}/"))
    code = main(["--config", str(config), "preflight", "--json", "--only", "tcp"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["ok"] is False and out["checks"][0]["status"] == "fail"


def test_cli_text_report_and_saved_copy(valid_profile, config_for, capsys, secure_dir):
    from iplos_tui.cli import main

    config = config_for(valid_profile)
    code = main(["--config", str(config), "preflight", "--only", "profile", "spam_allowlist", "--report"])
    captured = capsys.readouterr()
    assert code == 0
    assert "[??]   spam_allowlist" in captured.out
    saved = list((secure_dir / "reports").iterdir())
    assert len(saved) == 1 and str(saved[0]) in captured.err
    assert saved[0].read_text(encoding="utf-8").split("\n", 3)[3] == captured.out.split("\n", 3)[3]


def test_cli_usage_and_config_errors(tmp_path, capsys):
    from iplos_tui.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["preflight", "--only", "bogus"])
    assert exit_info.value.code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile\n")
    os.chmod(bad, 0o600)
    assert main(["--config", str(bad), "preflight"]) == 2
    assert "bad.toml" in capsys.readouterr().err


# --- the sandbox world: the whole checklist against the loopback Sendemodul and gateway -------------


def test_preflight_against_the_sandbox(tmp_path):
    pytest.importorskip("uvicorn", reason="the sandbox extra (uvicorn) is not installed")
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sandbox") as sandbox:
        profile = sandbox.profile.replace(spam_allowlist_confirmed=True, postmottak_routing_confirmed=True)
        results = by_id(preflight.run_checks(profile, temp_roots=()))
    statuses = {k: r.status for k, r in results.items()}
    assert statuses["dns"] == "pass"  # a real DNS answer from the sandbox's DNS server
    assert statuses.pop("proxy") == "skip"  # none in the sandbox profile
    assert set(statuses.values()) == {"pass"}, {k: (r.status, r.detail) for k, r in results.items() if r.status != "pass"}


def test_tls_warnings_bad_pin_spelling_and_soon_expiring_certificate(valid_profile, pki, tmp_path):
    issued = issue_tls_server(pki["ca"], ["iplos.test"], not_after=utc(10))
    with TlsHttpServer(issued, tmp_path / "srv") as server:
        from iplos_tui.core.tlsconfig import spki_sha256_of_der

        spki = spki_sha256_of_der(issued.cert_der())
        profile = net_profile(valid_profile, pki, server.port, sendemodul_spki_pins=[spki, "not-a-pin"])
        result = preflight.run_checks(profile, only=["tls"], resolver=resolver(LOCAL))[0]
    assert result.status == "warn"
    assert "not-a-pin" in result.detail and "utløper om" in result.detail
    assert "sha256//" in result.hint and "NHN" in result.hint


def test_invalid_proxy_setting_is_a_clear_failure(valid_profile, pki):
    profile = net_profile(valid_profile, pki, 443, proxy="socks5://127.0.0.1:1080")
    results = by_id(preflight.run_checks(profile, only=["tcp", "tls"], resolver=resolver(LOCAL)))
    assert results["tcp"].status == "fail"
    assert "http://vert:port" in results["tcp"].detail
    assert results["tls"].status == "skip"


@pytest.mark.parametrize("years", [2, -2])
def test_clock_moved_two_years_gives_a_clock_hint_for_the_keys(valid_profile, pki, tmp_path, years):
    """F12: with the clock ±2 years off, a recipient certificate valid today is refused (+2: expired)
    or held back (-2: not valid yet), and the hint names the clock."""
    year = dt.datetime.now().year  # the window (2–15 January next year) lies inside the validity
    path = _recipient(pki, tmp_path, "SSB f12", not_before=utc(-1), not_after=utc(400))
    shifted = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365 * years)  # noqa: E731
    profile = valid_profile.replace(ssb_certificate=path, year=year)
    assert preflight.run_checks(profile, only=["ssb_certificate"])[0].status in ("pass", "warn")
    result = preflight.run_checks(profile, only=["ssb_certificate"], now=shifted)[0]
    assert result.status == ("fail" if years > 0 else "warn"), result
    assert "klokken" in result.hint


def test_cli_takes_the_check_ids_from_the_core():
    """One list of check ids: the CLI's --only choices are the core's own tuple, not a copy."""
    from iplos_tui.commands import preflight as command

    assert command.CHECK_IDS is preflight.CHECK_IDS


def test_preflight_errors_are_iplos_errors(valid_profile, config_for, capsys, tmp_path):
    """One error model: a report that cannot be written is an IplosError; the CLI says why, exit 1."""
    from iplos_tui.cli import main
    from iplos_tui.core.errors import IplosError
    from iplos_tui.core.preflight.endpoint import EndpointError

    assert issubclass(preflight.ReportError, IplosError) and issubclass(EndpointError, IplosError)
    config = config_for(valid_profile.replace(secure_dir=tmp_path / "missing"))
    code = main(["--config", str(config), "preflight", "--only", "profile", "--report"])
    err = capsys.readouterr().err
    assert code == 1
    assert "missing" in err and "Traceback" not in err


def test_report_counts_speak_of_one_in_the_singular(valid_profile):
    """Issue 14 item 13: "1 advarsel", "1 manuelt punkt" — not "1 advarsler", "1 manuelle"."""
    results = [
        preflight.CheckResult("tcp", "TCP", "warn", "x", [], ""),
        preflight.CheckResult("clock", "Klokke", "manual", "x", [], ""),
        preflight.CheckResult("tls", "TLS", "fail", "x", [], ""),
        preflight.CheckResult("http", "HTTPS", "fail", "x", [], ""),
    ]
    text = preflight.render_report(results, valid_profile, generated_at=dt.datetime(2018, 1, 8, tzinfo=dt.timezone.utc), host="h")
    assert "1 advarsel, 2 feil, 0 ikke testet, 1 manuelt punkt" in text
    results.append(preflight.CheckResult("dns", "DNS", "warn", "x", [], ""))
    text = preflight.render_report(results, valid_profile, generated_at=dt.datetime(2018, 1, 8, tzinfo=dt.timezone.utc), host="h")
    assert "2 advarsler" in text


def test_report_numbers_use_the_languages_decimal_mark(valid_profile):
    """Issue 14 item 13: one formatter — "1,5 ms" and "0,5 s" in nb, "1.5 ms" and "0.5 s" in en."""
    from iplos_tui.core import i18n

    result = preflight.CheckResult("tcp", "TCP", "pass", "x", [], "", elapsed_ms=1.5)
    when = dt.datetime(2018, 1, 8, tzinfo=dt.timezone.utc)
    text = preflight.render_report([result], valid_profile.replace(preflight_timeout=0.5), generated_at=when, host="h")
    assert "0,5 s" in text and preflight.seconds_text(2.25) == "2,25" and preflight.seconds_text(5.0) == "5"
    i18n.set_language("en")
    try:
        text = preflight.render_report([result], valid_profile.replace(preflight_timeout=0.5), generated_at=when, host="h")
        assert "0.5 s" in text and preflight.seconds_text(2.25) == "2.25"
    finally:
        i18n.set_language("nb")
