"""The Sendemodul client alone: TLS trust, fixed address with SNI, SPKI pin, retries, proxies from
the environment ignored, and the journal and run lock (core/journal)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import threading
import uuid

import pytest
from sendemodul_fake import FakeSendemodul, make_tls

from iplos_tui.core.secrets import Secret
from iplos_tui.core.sendemodul import RetryPolicy, SendemodulClient, SendemodulError, Timeouts

from tests.support import PIN_CANARY as PIN
FAST = {"timeouts": Timeouts(connect=2, read=2, write=2, total_base=5), "retry": RetryPolicy(attempts=3, first_delay=0.01, max_elapsed=2)}


@pytest.fixture
def server(tmp_path):
    with FakeSendemodul(tmp_path / "srv") as srv:
        yield srv


def _login(client):
    return client.login("0403", "00", "974550571", Secret(PIN))


def _spki(issued) -> str:
    from cryptography.hazmat.primitives import serialization

    der = issued.cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def test_login_and_a_streamed_part(server, tmp_path):
    with SendemodulClient(server.url, ca_bundle=server.ca_bundle, **FAST) as client:
        assert _login(client)["name"] == "Hamar"
        part = tmp_path / "content-0001.p7m"
        part.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
        digest = hashlib.sha256(part.read_bytes()).hexdigest()
        manifest = json.dumps({"kommunenr": "0403", "bydel": "00", "year": 2017, "parts": [{"file": part.name, "ciphertext_size": part.stat().st_size, "ciphertext_sha256": digest}]}).encode()
        key = str(uuid.uuid4())
        assert client.open(key, manifest)["missing"] == [part.name]
        assert client.open(key, manifest)["state"] == "open"  # idempotent
        seen = []
        assert client.upload_part(key, part.name, part, part.stat().st_size, digest, progress=seen.append)["sha256"] == digest
        assert sum(seen) == part.stat().st_size and max(seen) == 1024 * 1024
        assert client.commit(key)["duplicate"] is False
        assert client.commit(key)["duplicate"] is True
        assert client.lookup(key)["state"] == "committed"
        assert client.lookup(str(uuid.uuid4())) is None
    assert server.connections == 1  # one reused connection


def test_unknown_ca_nothing_reaches_the_server(server, tmp_path):
    from iplos_tui.sandbox import certs

    _, other, _ = make_tls(tmp_path / "other", ca=certs.make_ca("other CA"))
    with SendemodulClient(server.url, ca_bundle=other, **FAST) as client:
        with pytest.raises(SendemodulError) as info:
            _login(client)
    assert info.value.kind == "tls" and info.value.sent is False
    assert server.requests == [] and server.raw_bytes == 0


@pytest.mark.parametrize("when", ["expired", "not_yet_valid"])
def test_certificate_validity_errors_carry_a_clock_hint(tmp_path, when):
    now = dt.datetime.now(dt.timezone.utc)
    window = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if when == "expired" else (now + dt.timedelta(days=1), now + dt.timedelta(days=30))
    context, bundle, _ = make_tls(tmp_path / "tls", not_before=window[0], not_after=window[1])
    with FakeSendemodul(tmp_path / "srv", context=context, ca_bundle=bundle) as server:
        with SendemodulClient(server.url, ca_bundle=bundle, **FAST) as client:
            with pytest.raises(SendemodulError) as info:
                _login(client)
        assert info.value.kind == "tls" and "klokke" in info.value.hint()
        assert server.requests == []


def test_fixed_address_with_sni_and_wrong_name(server):
    good = f"https://iplos.test:{server.port}/Sendemodul/"
    with SendemodulClient(good, ca_bundle=server.ca_bundle, connect_address="127.0.0.1", **FAST) as client:
        assert _login(client)["kommunenr"] == "0403"
    wrong = f"https://wrong.test:{server.port}/Sendemodul/"
    with SendemodulClient(wrong, ca_bundle=server.ca_bundle, connect_address="127.0.0.1", **FAST) as client:
        with pytest.raises(SendemodulError) as info:
            _login(client)
    assert info.value.kind == "tls" and info.value.sent is False
    assert server.logins == 1


def test_spki_pin_checked_before_any_request_byte(server):
    right = _spki(server.server_cert)
    with SendemodulClient(server.url, ca_bundle=server.ca_bundle, spki_pins=["00" * 32], **FAST) as client:
        with pytest.raises(SendemodulError) as info:
            _login(client)
    assert info.value.kind == "pin_mismatch" and right in info.value.message() and info.value.sent is False
    assert server.requests == [] and server.raw_bytes == 0
    import base64

    with SendemodulClient(server.url, ca_bundle=server.ca_bundle, spki_pins=["sha256//" + base64.b64encode(bytes.fromhex(right)).decode()], **FAST) as client:
        _login(client)
    assert server.logins == 1


def test_refused_retries_connect_only_then_fails_safe():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    sleeps = []
    client = SendemodulClient(f"https://127.0.0.1:{port}/Sendemodul/", retry=RetryPolicy(attempts=4, first_delay=0.01, max_elapsed=5), sleep=sleeps.append)
    with client, pytest.raises(SendemodulError) as info:
        _login(client)
    assert info.value.kind == "connect" and info.value.sent is False
    assert sleeps == [0.01, 0.02, 0.04] and info.value.details["attempts"] == 4


def test_environment_proxy_and_ca_are_ignored(server, monkeypatch, tmp_path):
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(4)
    trap.settimeout(0.2)
    proxy = f"http://127.0.0.1:{trap.getsockname()[1]}"
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_bundle))  # would make a no-bundle client trust it
    with SendemodulClient(server.url, ca_bundle=server.ca_bundle, **FAST) as client:
        _login(client)
    with pytest.raises(socket.timeout):
        trap.accept()
    trap.close()
    with SendemodulClient(server.url, **FAST) as client, pytest.raises(SendemodulError) as info:
        _login(client)  # the system store, not $SSL_CERT_FILE
    assert info.value.kind == "tls"


def test_secret_never_in_repr_or_errors(server):
    with SendemodulClient(server.url, ca_bundle=server.ca_bundle, **FAST) as client:
        with pytest.raises(SendemodulError) as info:
            client.login("0403", "00", "974550571", Secret("PIN-CANARY-0000"))
    assert "PIN-CANARY" not in repr(info.value) + str(info.value) + repr(info.value.__dict__)
    assert info.value.attempts_left == 2


# --- the journal -----------------------------------------------------------------------------


def test_journal_records_replay_and_torn_line(tmp_path):
    from iplos_tui.core.journal import AMBIGUOUS, Journal

    secure = tmp_path / "secure"
    journal = Journal(secure)
    journal.append("k1", "prepared", extract_path="/x/01018012345.xml", extract_sha256="ab" * 32, year=2017, reason="fnr 01018012345 in text")
    journal.append("k1", "encrypted", parts=[{"file": "identity.p7m", "size": 1, "sha256": "cd" * 32}])
    journal.append("k1", "sending")
    assert (os.stat(journal.path).st_mode & 0o777) == 0o600
    with open(journal.path, "ab") as handle:  # a crash in the middle of a record
        handle.write(b'{"seq": 4, "id": "k1", "state": "confir')
    fresh = Journal(secure)
    sub = fresh.get("k1")
    assert sub.state == "sending" and sub.parts[0]["file"] == "identity.p7m"
    assert "01018012345" not in journal.path.read_text()
    assert [s.id for s in fresh.recover()] == ["k1"]
    assert Journal(secure).get("k1").state == AMBIGUOUS
    assert all(line.startswith("{") for line in journal.path.read_text().splitlines() if line and '"confir' not in line)


def test_run_lock_is_exclusive(tmp_path):
    from iplos_tui.core.journal import RunLock, RunLockBusy

    with RunLock(tmp_path):
        with pytest.raises(RunLockBusy) as info:
            RunLock(tmp_path).acquire()
        assert info.value.pid == str(os.getpid())
        assert not RunLock(tmp_path).is_free()
    assert RunLock(tmp_path).is_free()


def test_concurrent_appends_keep_every_record(tmp_path):
    from iplos_tui.core.journal import Journal

    def worker(n):
        journal = Journal(tmp_path)
        for i in range(20):
            journal.append(f"k{n}", "prepared", persons=i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(Journal(tmp_path).records())) == 60
