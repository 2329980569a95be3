"""The sandbox Sendemodul against docs/sendemodul-protocol.md, over real TLS on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.sandbox_upload import (
    client_for,
    commit,
    headers,
    login,
    lookup,
    open_submission,
    put_part,
    send_envelope,
    session,
)

pytestmark = pytest.mark.timeout(120)

PART_CAP = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("sandbox"), part_cap=PART_CAP, process=False) as running:
        yield running


@pytest.fixture(scope="module")
def envelope(server, tmp_path_factory) -> Path:
    from iplos_tui.core.envelope import EnvelopeParams, encrypt_extract
    from iplos_tui.core.extract.generator import generate_file

    work = tmp_path_factory.mktemp("envelope")
    extract = work / "uttrekk.xml"
    generate_file(extract, persons=40, seed=3, orgnr=server.account.orgnr)
    out = work / "envelope"
    encrypt_extract(extract, out, server.ssb_certificate, server.tpf_certificate,
                    EnvelopeParams.from_profile(server.profile), part_size=4096)
    return out


@pytest.fixture
def client(server):
    with client_for(server) as c:
        yield c
    server.faults.clear()
    server.sendemodul.unlock()


def _error(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


def _manifest(envelope: Path) -> bytes:
    return (envelope / "manifest.json").read_bytes()


def _parts(envelope: Path) -> list[dict]:
    return json.loads(_manifest(envelope))["parts"]


# --- login -------------------------------------------------------------------------------------


def test_login_answers_session_and_account(server, client):
    answer = login(client, server)
    assert answer.status_code == 200
    body = answer.json()
    assert body["expires_in"] == 1800 and len(body["session"]) >= 32
    assert body["account"] == server.account.public()
    assert server.pin.reveal() not in answer.text


def test_three_wrong_logins_lock_the_account_and_say_until_when(server, client):
    body = _error(login(client, server, pin="wrong-pin-1"), 401, "invalid_credentials")
    assert body["attempts_left"] == 2
    body = _error(login(client, server, orgnr="974550571"), 401, "invalid_credentials")  # wrong orgnr counts too
    assert body["attempts_left"] == 1
    body = _error(login(client, server, pin="wrong-pin-3"), 423, "locked")
    locked_until = body["locked_until"]
    assert locked_until.endswith(("+01:00", "+02:00"))
    # Locked: even the right PIN is refused, and the answer does not change.
    assert _error(login(client, server), 423, "locked")["locked_until"] == locked_until
    server.clock.advance(31 * 60)
    assert login(client, server).status_code == 200


def test_a_correct_login_resets_the_count(server, client):
    _error(login(client, server, pin="nope-1"), 401, "invalid_credentials")
    _error(login(client, server, pin="nope-2"), 401, "invalid_credentials")
    assert login(client, server).status_code == 200
    assert _error(login(client, server, pin="nope-3"), 401, "invalid_credentials")["attempts_left"] == 2


def test_unknown_account_gets_the_same_answer_shape(server, client):
    body = _error(login(client, server, kommunenr="0301", bydel="01"), 401, "invalid_credentials")
    assert body["attempts_left"] == 2
    assert "0301" not in body["message"]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"kommunenr": 403, "bydel": "00", "orgnr": "1", "pin": "x"}', b'{"kommunenr": "0403"}', b"\xff\xfe"],
)
def test_malformed_login_is_400_json(server, client, content):
    _error(client.post("login", content=content, headers={"Content-Type": "application/json"}), 400, "bad_request")
    assert login(client, server).status_code == 200  # not counted as a failed login


def test_oversized_login_is_413(server, client):
    body = _error(client.post("login", content=b"{" + b" " * 10_000 + b"}"), 413, "too_large")
    assert body["limit"] == 4096


# --- a submission ------------------------------------------------------------------------------


def test_open_parts_commit_lookup_and_receipt(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    manifest = _manifest(envelope)
    parts = _parts(envelope)
    assert _error(lookup(client, auth, key), 404, "unknown_submission")

    answer = open_submission(client, auth, key, manifest)
    assert answer.status_code == 201
    assert answer.json() == {"key": key, "state": "open", "parts": [], "missing": [p["file"] for p in parts], "receipt": None}
    assert open_submission(client, auth, key, manifest).status_code == 200  # safe to repeat

    first = parts[0]
    data = (envelope / first["file"]).read_bytes()
    answer = put_part(client, auth, key, first["file"], data)
    assert answer.status_code == 201
    assert answer.json() == {"file": first["file"], "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert put_part(client, auth, key, first["file"], data).status_code == 200  # already stored
    view = lookup(client, auth, key).json()
    assert view["state"] == "open" and [p["file"] for p in view["parts"]] == [first["file"]]
    assert view["missing"] == [p["file"] for p in parts[1:]]

    body = _error(commit(client, auth, key), 409, "incomplete")
    assert body["missing"] == view["missing"]

    for part in parts[1:]:
        assert put_part(client, auth, key, part["file"], (envelope / part["file"]).read_bytes()).status_code == 201
    answer = commit(client, auth, key)
    assert answer.status_code == 200
    receipt = answer.json()
    assert receipt["receipt_id"].startswith("IPLOS-2018-")
    assert receipt["key"] == key and receipt["duplicate"] is False
    assert receipt["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert [(p["file"], p["size"], p["sha256"]) for p in receipt["parts"]] == [
        (p["file"], p["ciphertext_size"], p["ciphertext_sha256"]) for p in parts
    ]
    assert (receipt["kommunenr"], receipt["bydel"], receipt["year"]) == ("0403", "00", 2017)
    assert receipt["receipt_mail_expected_at"].endswith("T08:00:00+01:00")
    # The stored bytes are the bytes sent.
    for part in parts:
        stored = server.sendemodul.store.part_path(key, part["file"]).read_bytes()
        assert stored == (envelope / part["file"]).read_bytes()

    again = commit(client, auth, key).json()
    assert again == dict(receipt, duplicate=True)
    view = lookup(client, auth, key).json()
    assert view["state"] == "committed" and view["missing"] == [] and view["receipt"] == receipt
    assert server.stored_count(key) == 1
    assert server.stats.commits[key] == 1
    # After the commit the parts are fixed: the same bytes are fine, others are refused.
    assert put_part(client, auth, key, first["file"], data).status_code == 200
    assert open_submission(client, auth, key, manifest).status_code == 200


def test_same_key_with_another_manifest_is_a_conflict(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    assert open_submission(client, auth, key, _manifest(envelope)).status_code == 201
    other = json.loads(_manifest(envelope))
    other["contact"]["email"] = "someone-else@sandbox.example"
    _error(open_submission(client, auth, key, json.dumps(other).encode()), 409, "conflict")


def test_manifest_hash_and_part_hash_mismatches(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    manifest = _manifest(envelope)
    h = headers(auth, key)
    h["Content-SHA256"] = hashlib.sha256(manifest + b" ").hexdigest()
    _error(client.put(f"submissions/{key}", content=manifest, headers=h), 422, "hash_mismatch")
    assert _error(lookup(client, auth, key), 404, "unknown_submission")

    assert open_submission(client, auth, key, manifest).status_code == 201
    part = _parts(envelope)[-1]
    data = (envelope / part["file"]).read_bytes()
    # A Content-SHA256 that is not the manifest's.
    tampered = bytes([data[0] ^ 1]) + data[1:]
    _error(put_part(client, auth, key, part["file"], tampered), 422, "hash_mismatch")
    # The manifest's hash in the header, but other bytes of the same length: streamed, refused, dropped.
    _error(put_part(client, auth, key, part["file"], tampered, sha256=part["ciphertext_sha256"]), 422, "hash_mismatch")
    # A different length than the manifest says.
    _error(put_part(client, auth, key, part["file"], data + b"x", sha256=part["ciphertext_sha256"]), 422, "hash_mismatch")
    assert part["file"] in lookup(client, auth, key).json()["missing"]
    parts_dir = server.sendemodul.store.directory(key) / "parts"
    assert list(parts_dir.iterdir()) == []  # no temp file left behind
    assert put_part(client, auth, key, part["file"], data).status_code == 201


def test_unknown_part_and_unknown_submission(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    _error(put_part(client, auth, key, "identity.p7m", b"x"), 404, "unknown_submission")
    assert open_submission(client, auth, key, _manifest(envelope)).status_code == 201
    _error(put_part(client, auth, key, "content-9999.p7m", b"x"), 404, "unknown_part")
    answer = put_part(client, auth, key, "..%2F..%2Fpin", b"x")
    assert answer.status_code == 404 and answer.json()["error"] in ("unknown_part", "not_found")
    _error(commit(client, auth, str(uuid.uuid4())), 404, "unknown_submission")


def test_manifest_of_another_municipality_is_refused(server, client, envelope):
    auth = session(client, server)
    other = json.loads(_manifest(envelope))
    other["kommunenr"] = "0301"
    _error(open_submission(client, auth, str(uuid.uuid4()), json.dumps(other).encode()), 422, "bad_manifest")
    broken = json.loads(_manifest(envelope))
    broken["parts"][0]["file"] = "../../pin"
    _error(open_submission(client, auth, str(uuid.uuid4()), json.dumps(broken).encode()), 422, "bad_manifest")
    _error(open_submission(client, auth, str(uuid.uuid4()), b"{not json"), 422, "bad_manifest")


def test_size_caps(server, client, envelope):
    auth = session(client, server)
    # A manifest over 1 MiB.
    big = b"{" + b" " * (1024 * 1024) + b"}"
    body = _error(open_submission(client, auth, str(uuid.uuid4()), big), 413, "too_large")
    assert body["limit"] == 1024 * 1024
    # A part over the server's cap, declared so in a manifest that is otherwise fine.
    blob = bytes(range(256)) * (PART_CAP // 256 + 8)
    manifest = json.loads(_manifest(envelope))
    manifest["parts"][-1].update(ciphertext_size=len(blob), ciphertext_sha256=hashlib.sha256(blob).hexdigest())
    key = str(uuid.uuid4())
    raw = json.dumps(manifest).encode()
    assert open_submission(client, auth, key, raw).status_code == 201
    body = _error(put_part(client, auth, key, manifest["parts"][-1]["file"], blob), 413, "too_large")
    assert body["limit"] == PART_CAP
    # Chunked (no Content-Length): cut off while streaming.
    def chunks():
        for start in range(0, len(blob), 32 * 1024):
            yield blob[start : start + 32 * 1024]

    h = headers(auth, key)
    h["Content-SHA256"] = manifest["parts"][-1]["ciphertext_sha256"]
    try:
        answer = client.put(f"submissions/{key}/parts/{manifest['parts'][-1]['file']}", content=chunks(), headers=h)
    except httpx.TransportError:
        answer = None  # the server may close while the client still writes
    if answer is not None:
        _error(answer, 413, "too_large")
    assert manifest["parts"][-1]["file"] in lookup(client, auth, key).json()["missing"]
    assert not list((server.sendemodul.store.directory(key) / "parts").iterdir())


@pytest.mark.parametrize(
    ("method", "path", "extra", "status", "code"),
    [
        ("GET", "submissions/not-a-uuid", {}, 400, "bad_request"),
        ("PUT", "submissions/{key}", {"drop": "Idempotency-Key"}, 400, "bad_request"),
        ("PUT", "submissions/{key}", {"drop": "Content-SHA256"}, 400, "bad_request"),
        ("PUT", "submissions/{key}", {"Content-SHA256": "xyz"}, 400, "bad_request"),
        ("PUT", "submissions/{key}", {"Idempotency-Key": "11111111-1111-4111-8111-111111111111"}, 400, "bad_request"),
        ("GET", "nothing/here", {}, 404, "not_found"),
        ("DELETE", "submissions/{key}", {}, 405, "method_not_allowed"),
        ("GET", "submissions/{key}", {"drop": "Authorization"}, 401, "session_expired"),
        ("GET", "submissions/{key}", {"Authorization": "Bearer forged"}, 401, "session_expired"),
        ("PUT", "submissions/{key}", {"Content-Length": "abc"}, 400, "bad_request"),
    ],
)
def test_malformed_requests_get_4xx_json(server, client, envelope, method, path, extra, status, code):
    auth = session(client, server)
    key = str(uuid.uuid4())
    manifest = _manifest(envelope)
    h = headers(auth, key, manifest)
    for name, value in extra.items():
        if name == "drop":
            h.pop(value)
        else:
            h[name] = value
    if "Content-Length" in extra:
        # httpx would fix the header; send it raw instead.
        answer = _raw_request(server, f"{method} /Sendemodul/api/v1/{path.format(key=key)} HTTP/1.1", h, manifest)
        assert answer.startswith(b"HTTP/1.1 400")
        return
    answer = client.request(method, path.format(key=key), headers=h, content=manifest if method == "PUT" else None)
    _error(answer, status, code)
    assert login(client, server).status_code == 200  # still up


def _raw_request(server, request_line: str, header: dict[str, str], body: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        lines = [request_line, "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in header.items()), "Connection: close", "", ""]
        tls.sendall("\r\n".join(lines).encode() + body)
        out = b""
        while chunk := tls.recv(65536):
            out += chunk
        return out


def test_garbage_on_the_wire_leaves_the_server_up(server, client):
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"PUT /Sendemodul/api/v1/login HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(junk)
            tls.settimeout(5)
            try:
                reply = tls.recv(4096)
            except (TimeoutError, ssl.SSLError, ConnectionError):
                reply = b""
            assert not reply or reply.startswith(b"HTTP/1.1 4")
    # Plain HTTP to the TLS port, and a TLS client that gives up mid-handshake.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert login(client, server).status_code == 200


def test_session_expiry_answers_401_session_expired(server, client):
    auth = session(client, server)
    server.sendemodul.expire_sessions()
    _error(lookup(client, auth, str(uuid.uuid4())), 401, "session_expired")


# --- faults, restart, latency --------------------------------------------------------------------


def test_injected_503_then_success(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    server.faults.inject("open", "before", "status", status=503, retry_after=2)
    answer = open_submission(client, auth, key, _manifest(envelope))
    _error(answer, 503, "unavailable")
    assert answer.headers["retry-after"] == "2"
    assert _error(lookup(client, auth, key), 404, "unknown_submission")  # nothing was processed
    assert open_submission(client, auth, key, _manifest(envelope)).status_code == 201


def test_dropped_commit_answer_is_resolved_by_lookup_and_stored_once(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    manifest = _manifest(envelope)
    assert open_submission(client, auth, key, manifest).status_code == 201
    for part in _parts(envelope):
        assert put_part(client, auth, key, part["file"], (envelope / part["file"]).read_bytes()).status_code == 201
    server.faults.inject("commit", "after", "drop")
    with pytest.raises(httpx.TransportError):
        commit(client, auth, key)
    view = lookup(client, auth, key).json()  # the client asks instead of resending
    assert view["state"] == "committed"
    assert commit(client, auth, key).json()["duplicate"] is True
    assert server.stored_count(key) == 1


def test_connection_dropped_mid_part_stores_nothing(server, client, envelope):
    auth = session(client, server)
    key = str(uuid.uuid4())
    assert open_submission(client, auth, key, _manifest(envelope)).status_code == 201
    part = max(_parts(envelope), key=lambda p: p["ciphertext_size"])
    server.faults.inject("part", "mid", "drop")
    with pytest.raises(httpx.TransportError):
        put_part(client, auth, key, part["file"], (envelope / part["file"]).read_bytes())
    assert part["file"] in lookup(client, auth, key).json()["missing"]
    assert not list((server.sendemodul.store.directory(key) / "parts").iterdir())


def test_a_restarted_server_knows_every_submission(server, client, envelope, tmp_path):
    from iplos_tui.sandbox.server import SandboxServer

    auth = session(client, server)
    key = str(uuid.uuid4())
    receipt = send_envelope(client, auth, key, envelope)
    directory = server.dir.root
    with SandboxServer(directory, process=False) as second, client_for(second) as other:
        auth2 = session(other, second)
        assert lookup(other, auth2, key).json()["receipt"] == receipt
        assert commit(other, auth2, key).json() == dict(receipt, duplicate=True)
        assert second.stored_count(key) == 1


def test_keep_alive_serves_every_request_on_one_connection(server, client):
    """The server keeps the connection open: 30 look-ups, one TCP connection (one local port)."""
    auth = session(client, server)
    key = str(uuid.uuid4())
    sockets = set()
    for _ in range(30):
        answer = lookup(client, auth, key)
        assert answer.status_code == 404
        assert answer.headers.get("connection", "").lower() != "close"
        stream = answer.extensions["network_stream"]
        sockets.add((stream.get_extra_info("client_addr"), stream.get_extra_info("server_addr")))
    assert len(sockets) == 1, sockets
    assert next(iter(sockets))[1][1] == httpx.URL(server.sendemodul_url).port


def test_injected_delay_makes_a_read_timeout_then_the_server_answers(server, client):
    auth = session(client, server)
    key = str(uuid.uuid4())
    server.faults.inject("lookup", "before", "delay", delay=1.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"submissions/{key}", headers=headers(auth, key), timeout=0.5)
    time.sleep(1.2)  # let the delayed handler finish
    assert lookup(client, auth, key).status_code == 404
    assert server.stats.requests["lookup"] >= 2


def test_a_dropped_login_answer_leaves_no_session_problem(server, client):
    server.faults.inject("login", "before", "drop")
    with pytest.raises(httpx.TransportError):
        login(client, server)
    assert login(client, server).status_code == 200
