"""A small Sendemodul (docs/sendemodul-protocol.md) on 127.0.0.1 with fault injection.

Raw sockets and threads, real TLS (certificates from ``iplos_tui.sandbox.certs``), HTTP/1.1 with
keep-alive, TCP_NODELAY. It hashes bodies as they arrive and keeps no part on disk, and it counts
what matters to the fault tests: login requests, every completed store of a part, every commit,
and the HTTP requests that reached it at all.

A fault is ``Fault(method, path_regex, action, **params)``; the first matching fault with uses
left is applied to that request:

* ``close_mid_body``: read half of the body, then close the connection;
* ``reset_after_store``: handle the request fully (store / commit), then reset without answering;
* ``status_after_body``: read the body, keep nothing, answer ``status`` (``retry_after`` optional);
* ``sleep_after_body``: handle the request, then stay silent for ``seconds`` and close;
* ``drip``: handle the request, then send the answer one byte every ``interval`` seconds;
* ``drop``: close the connection without reading the body or answering;
* ``redirect``: answer 302 to ``location`` without reading further;
* ``huge``: answer 200 with ``size`` bytes (JSON content type), streamed until the client leaves;
* ``html``: answer 200 with an HTML page;
* ``expire``: answer 401 ``session_expired``.
* ``nested``: answer 200 with a JSON body nested ``depth`` arrays deep (``[[[…]]]``);
* ``forge_receipt``: handle the request, then answer with one field of its receipt forged: ``field``
  ``manifest_sha256`` (the default), ``key``, ``parts`` (one part's hash) or ``receipt_id`` (dropped).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import secrets
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import PIN_CANARY

PREFIX = "/Sendemodul/api/v1/"


@dataclass
class Fault:
    method: str
    path: str  # a regex matched against the path after /Sendemodul/api/v1/
    action: str
    times: int = 1
    params: dict = field(default_factory=dict)

    def __init__(self, method: str, path: str, action: str, times: int = 1, **params: object) -> None:
        self.method, self.path, self.action, self.times, self.params = method, path, action, times, dict(params)


@dataclass
class Account:
    kommunenr: str = "0403"
    bydel: str = "00"
    orgnr: str = "974550571"
    pin: str = PIN_CANARY
    name: str = "Hamar"
    failures: int = 0
    locked: bool = False


class _Closed(Exception):
    pass


def make_tls(directory: Path, hostnames=("localhost", "iplos.test"), not_before=None, not_after=None, ca=None):
    """(server context, CA bundle path, server Issued): a CA and a server certificate in ``directory``."""
    from iplos_tui.sandbox import certs

    directory.mkdir(parents=True, exist_ok=True)
    ca = ca or certs.make_ca("fake Sendemodul CA")
    server = certs.issue_tls_server(ca, list(hostnames), ["127.0.0.1"], not_before=not_before, not_after=not_after)
    bundle = directory / "ca.pem"
    bundle.write_bytes(ca.cert_pem())
    (directory / "server.pem").write_bytes(server.cert_pem() + ca.cert_pem())
    (directory / "server.key").write_bytes(server.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context, bundle, server


class FakeSendemodul:
    def __init__(self, directory: Path, *, account: Account | None = None, context: ssl.SSLContext | None = None, ca_bundle: Path | None = None, tls: bool = True) -> None:
        self.directory = Path(directory)
        self.account = account or Account()
        if context is None and tls:
            context, ca_bundle, issued = make_tls(self.directory)
            self.server_cert = issued
        self.context = context
        self.ca_bundle = ca_bundle
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.sessions: set[str] = set()
        self.submissions: dict[str, dict] = {}
        self.logins = 0
        self.requests: list[tuple[str, str]] = []
        self.connections = 0
        self.stores: dict[tuple[str, str], int] = {}
        self.commits: dict[str, int] = {}
        self.bodies_bytes = 0
        self.raw_bytes = 0  # every byte the server read on any connection (after TLS)
        self.log: list[str] = []
        self.receipt_no = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/Sendemodul/"

    def __enter__(self) -> FakeSendemodul:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the server thread
        with contextlib.suppress(OSError):
            self._sock.close()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.close()

    # --- counters for assertions -------------------------------------------------------------

    def committed(self) -> list[str]:
        return [key for key, sub in self.submissions.items() if sub.get("receipt")]

    def max_stores(self) -> int:
        return max(self.stores.values(), default=0)

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    # --- server loop -------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()

    def _serve(self, raw: socket.socket) -> None:
        conn: socket.socket = raw
        self._conns.add(raw)
        try:
            raw.settimeout(30)
            if self.context is not None:
                try:
                    conn = self.context.wrap_socket(raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                self._conns.add(conn)
            reader = _Reader(conn, self)
            while not self._stop.is_set():
                try:
                    if not self._one(conn, reader):
                        return
                except (_Closed, OSError, ssl.SSLError):
                    return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
            self._conns.discard(raw)
            self._conns.discard(conn)

    def _fault_for(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and re.fullmatch(fault.path, path):
                    fault.times -= 1
                    return fault
        return None

    def _one(self, conn: socket.socket, reader: _Reader) -> bool:
        head = reader.read_head()
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        path = target.split("?", 1)[0]
        sub = path[len(PREFIX):] if path.startswith(PREFIX) else None
        with self.lock:
            self.requests.append((method, path))
            if sub == "login" and method == "POST":
                self.logins += 1
        fault = self._fault_for(method, sub or "") if sub is not None else None
        action = fault.action if fault else ""
        if action == "drop":
            conn.close()
            raise _Closed()
        if action == "redirect":
            self._send(conn, 302, {"error": "moved"}, extra={"Location": fault.params.get("location", "https://127.0.0.1:1/")})
            return False
        if action == "close_mid_body":
            reader.read_body(max(1, length // 2), hasher=None)
            conn.close()
            raise _Closed()
        if action == "status_after_body":
            reader.read_body(length, hasher=None)
            extra = {"Retry-After": str(fault.params["retry_after"])} if "retry_after" in fault.params else {}
            status = int(fault.params.get("status", 500))
            error = fault.params.get("error", "server_error")
            self._send(conn, status, {"error": error, "message": fault.params.get("message", "intern feil")}, extra=extra)
            return True
        if action == "expire":
            reader.read_body(length, hasher=None)
            self._send(conn, 401, {"error": "session_expired", "message": "økten er utløpt"})
            return True
        if action == "html":
            reader.read_body(length, hasher=None)
            body = b"<html><body><h1>Proxy error</h1>\x1b]52;c;AAAA\x07 [red]x[/]</body></html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if action == "nested":
            reader.read_body(length, hasher=None)
            depth = int(fault.params.get("depth", 100_000))
            body = b"[" * depth + b"]" * depth
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if action == "huge":
            reader.read_body(length, hasher=None)
            size = int(fault.params.get("size", 100 * 1024 * 1024))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b" " * 65536
            sent = 0
            with contextlib.suppress(OSError):
                while sent < size:
                    conn.sendall(chunk)
                    sent += len(chunk)
            self.log.append(f"huge sent {sent}")
            return False

        status, answer, extra = self._handle(method, sub, headers, length, reader)
        if action == "forge_receipt":
            answer = json.loads(json.dumps(answer))  # a copy: the stored receipt stays true
            receipt = answer.get("receipt") if isinstance(answer.get("receipt"), dict) else answer
            forged = fault.params.get("field", "manifest_sha256")
            if receipt.get("receipt_id"):
                if forged == "receipt_id":
                    del receipt["receipt_id"]
                elif forged == "parts":
                    receipt["parts"][0]["sha256"] = "0" * 64
                else:
                    receipt[forged] = "0" * 64 if forged == "manifest_sha256" else "00000000-0000-4000-8000-000000000000"
        if action == "reset_after_store":
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                conn.close()
            raise _Closed()
        if action == "sleep_after_body":
            time.sleep(float(fault.params.get("seconds", 5)))
            raise _Closed()
        if action == "drip":
            data = self._encode(status, answer, extra)
            interval = float(fault.params.get("interval", 0.2))
            for index in range(len(data)):
                if self._stop.is_set():
                    break
                conn.sendall(data[index:index + 1])
                time.sleep(interval)
            return False
        conn.sendall(self._encode(status, answer, extra))
        return True

    # --- the protocol ------------------------------------------------------------------------

    def _handle(self, method: str, sub: str | None, headers: dict, length: int, reader: _Reader):
        if sub is None:
            reader.read_body(length, hasher=None)
            return 404, {"error": "not_found", "message": "no such path"}, {}
        if sub == "login" and method == "POST":
            body = reader.read_body(length, hasher=None, keep=True)
            return self._login(body)
        token = headers.get("authorization", "")[len("Bearer "):]
        if token not in self.sessions:
            reader.read_body(length, hasher=None)
            return 401, {"error": "session_expired", "message": "logg inn igjen"}, {}
        match = re.fullmatch(r"submissions/([0-9a-f-]{36})(?:/(commit|parts/([A-Za-z0-9.-]+)))?", sub)
        if not match:
            reader.read_body(length, hasher=None)
            return 404, {"error": "not_found", "message": "no such path"}, {}
        key, tail, file = match.group(1), match.group(2), match.group(3)
        if tail is None and method == "PUT":
            body = reader.read_body(length, hasher=None, keep=True)
            return self._open(key, body, headers.get("content-sha256", ""))
        if tail is None and method == "GET":
            return self._lookup(key)
        if tail == "commit" and method == "POST":
            reader.read_body(length, hasher=None)
            return self._commit(key)
        if file and method == "PUT":
            return self._part(key, file, headers.get("content-sha256", ""), length, reader)
        reader.read_body(length, hasher=None)
        return 400, {"error": "bad_request", "message": "unsupported"}, {}

    def _login(self, body: bytes):
        try:
            data = json.loads(body)
        except ValueError:
            return 400, {"error": "bad_request", "message": "not json"}, {}
        acc = self.account
        if acc.locked:
            return 423, {"error": "locked", "message": "sperret", "locked_until": "2018-01-08T10:00:00+01:00"}, {}
        if (data.get("kommunenr"), data.get("bydel"), data.get("orgnr"), data.get("pin")) == (acc.kommunenr, acc.bydel, acc.orgnr, acc.pin):
            acc.failures = 0
            token = secrets.token_urlsafe(24)
            self.sessions.add(token)
            return 200, {"session": token, "expires_in": 1800, "account": {"kommunenr": acc.kommunenr, "bydel": acc.bydel, "orgnr": acc.orgnr, "name": acc.name}}, {}
        acc.failures += 1
        if acc.failures >= 3:
            acc.locked = True
            return 423, {"error": "locked", "message": "for mange feil", "locked_until": "2018-01-08T10:00:00+01:00"}, {}
        return 401, {"error": "invalid_credentials", "message": "feil", "attempts_left": 3 - acc.failures}, {}

    def _view(self, key: str) -> dict:
        sub = self.submissions[key]
        parts = [{"file": f, "size": s, "sha256": h} for f, (s, h) in sub["stored"].items()]
        missing = [f for f in sub["expected"] if f not in sub["stored"]]
        return {"key": key, "state": "committed" if sub.get("receipt") else "open", "parts": parts, "missing": missing, "receipt": sub.get("receipt")}

    def _open(self, key: str, body: bytes, claimed: str):
        digest = hashlib.sha256(body).hexdigest()
        if claimed != digest:
            return 422, {"error": "hash_mismatch", "message": "manifest hash"}, {}
        try:
            manifest = json.loads(body)
            expected = {p["file"]: (int(p["ciphertext_size"]), p["ciphertext_sha256"]) for p in manifest["parts"]}
        except (ValueError, KeyError, TypeError):
            return 422, {"error": "bad_manifest", "message": "not a manifest"}, {}
        if (manifest.get("kommunenr"), manifest.get("bydel")) != (self.account.kommunenr, self.account.bydel):
            return 422, {"error": "bad_manifest", "message": "wrong account"}, {}
        with self.lock:
            known = self.submissions.get(key)
            if known is not None:
                if known["manifest_sha256"] != digest:
                    return 409, {"error": "conflict", "message": "another manifest"}, {}
                return 200, self._view(key), {}
            self.submissions[key] = {"manifest_sha256": digest, "expected": expected, "stored": {}, "year": manifest.get("year")}
            return 201, self._view(key), {}

    def _lookup(self, key: str):
        with self.lock:
            if key not in self.submissions:
                return 404, {"error": "unknown_submission", "message": "ukjent"}, {}
            return 200, self._view(key), {}

    def _part(self, key: str, file: str, claimed: str, length: int, reader: _Reader):
        sub = self.submissions.get(key)
        if sub is None:
            reader.read_body(length, hasher=None)
            return 404, {"error": "unknown_submission", "message": "ukjent"}, {}
        if file not in sub["expected"]:
            reader.read_body(length, hasher=None)
            return 404, {"error": "unknown_part", "message": "ukjent del"}, {}
        if sub.get("receipt"):
            reader.read_body(length, hasher=None)
            return 409, {"error": "already_committed", "message": "allerede levert"}, {}
        size, want = sub["expected"][file]
        hasher = hashlib.sha256()
        reader.read_body(length, hasher=hasher)
        got = hasher.hexdigest()
        if got != claimed or got != want or length != size:
            return 422, {"error": "hash_mismatch", "message": "feil hash"}, {}
        with self.lock:
            if file in sub["stored"]:
                return 200, {"file": file, "size": size, "sha256": got}, {}
            sub["stored"][file] = (size, got)
            self.stores[(key, file)] = self.stores.get((key, file), 0) + 1
        return 201, {"file": file, "size": size, "sha256": got}, {}

    def _commit(self, key: str):
        with self.lock:
            sub = self.submissions.get(key)
            if sub is None:
                return 404, {"error": "unknown_submission", "message": "ukjent"}, {}
            if sub.get("receipt"):
                return 200, {**sub["receipt"], "duplicate": True}, {}
            missing = [f for f in sub["expected"] if f not in sub["stored"]]
            if missing:
                return 409, {"error": "incomplete", "message": "deler mangler", "missing": missing}, {}
            self.receipt_no += 1
            self.commits[key] = self.commits.get(key, 0) + 1
            receipt = {
                "receipt_id": f"IPLOS-2018-{self.receipt_no:06d}",
                "key": key,
                "received_at": dt.datetime(2018, 1, 8, 9, 31, 2, tzinfo=dt.timezone(dt.timedelta(hours=1))).isoformat(),
                "kommunenr": self.account.kommunenr,
                "bydel": self.account.bydel,
                "year": sub.get("year"),
                "manifest_sha256": sub["manifest_sha256"],
                "parts": [{"file": f, "size": s, "sha256": h} for f, (s, h) in sub["stored"].items()],
                "receipt_mail_expected_at": "2018-01-09T08:00:00+01:00",
                "duplicate": False,
            }
            sub["receipt"] = receipt
            return 200, receipt, {}

    # --- wire --------------------------------------------------------------------------------

    @staticmethod
    def _encode(status: int, data: dict, extra: dict | None = None) -> bytes:
        body = json.dumps(data).encode("utf-8")
        reason = {200: "OK", 201: "Created", 302: "Found", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 422: "Unprocessable", 423: "Locked", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "X")
        lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json; charset=utf-8", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def _send(self, conn: socket.socket, status: int, data: dict, extra: dict | None = None) -> None:
        conn.sendall(self._encode(status, data, extra))


class _Reader:
    def __init__(self, conn: socket.socket, server: FakeSendemodul) -> None:
        self.conn = conn
        self.server = server
        self.buffer = b""

    def _recv(self) -> bytes:
        data = self.conn.recv(1024 * 1024)
        if not data:
            raise _Closed()
        self.server.raw_bytes += len(data)
        return data

    def read_head(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buffer:
            try:
                self.buffer += self._recv()
            except _Closed:
                return None
            if len(self.buffer) > 65536:
                raise _Closed()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head

    def read_body(self, length: int, hasher, keep: bool = False) -> bytes:
        kept = bytearray()
        remaining = length
        while remaining > 0:
            if not self.buffer:
                self.buffer = self._recv()
            piece, self.buffer = self.buffer[:remaining], self.buffer[remaining:]
            remaining -= len(piece)
            self.server.bodies_bytes += len(piece)
            if hasher is not None:
                hasher.update(piece)
            if keep:
                kept += piece
        return bytes(kept)
