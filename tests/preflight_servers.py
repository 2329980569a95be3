"""Loopback peers for the preflight tests: a TLS+HTTP server with a test certificate, a closed
port, a listener whose accept queue is full (a black hole: Linux drops the SYN), a listener that
accepts TCP but never speaks TLS, and a small CONNECT proxy. 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import socket
import ssl
import threading
import time
from pathlib import Path

from iplos_tui.sandbox.certs import Issued


MOVEIT_INFO = {"id": "5281", "name": "Statistisk sentralbyrå (test)", "shortName": "SSB", "baseURL": "https://filsluse.test"}


class _Listener:
    def __init__(self, backlog: int = 16) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.close()
        for thread in self._threads:
            thread.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _start_serving(self) -> None:
        """Accept in a thread; each connection goes to ``self._handle`` in its own thread."""
        thread = threading.Thread(target=self._serve, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()


class TlsHttpServer(_Listener):
    """Answers every request with ``status`` and a Date header ``date_offset`` seconds off."""

    def __init__(
        self,
        issued: Issued,
        directory: Path,
        *,
        status: int = 200,
        reason: str = "OK",
        date_offset: float = 0.0,
        extra_headers: str = "",
        send_date: bool = True,
        moveit_info: bool = True,
        chain: bytes = b"",
    ) -> None:
        super().__init__()
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / f"srv-{self.port}.pem", directory / f"srv-{self.port}.key"
        issued.write(cert_path, key_path)
        if chain:  # intermediates the server sends after its own certificate
            cert_path.write_bytes(cert_path.read_bytes() + chain)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.status, self.reason = status, reason
        self.date_offset = date_offset
        self.extra_headers = extra_headers
        self.send_date = send_date
        self.moveit_info = moveit_info  # answer GET /api/v1/info as a MOVEit Transfer (PublicOrgModel)
        self.handshakes = 0
        self.requests: list[bytes] = []
        self.request_bytes = 0
        self._lock = threading.Lock()
        self._start_serving()

    def _handle(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.settimeout(5)
        try:
            with self.context.wrap_socket(client, server_side=True) as tls:
                with self._lock:
                    self.handshakes += 1
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    with self._lock:
                        self.request_bytes += len(chunk)
                if not data:
                    return
                with self._lock:
                    self.requests.append(data)
                date = email.utils.formatdate(time.time() + self.date_offset, usegmt=True)
                status, reason, body, kind = self.status, self.reason, b"ok", "text/plain"
                if self.moveit_info and data.split(b" ", 2)[1].split(b"?")[0].endswith(b"/api/v1/info"):
                    status, reason, kind = 200, "OK", "application/json; charset=utf-8"
                    body = json.dumps(MOVEIT_INFO).encode()
                head = f"HTTP/1.1 {status} {reason}\r\n"
                if self.send_date:
                    head += f"Date: {date}\r\n"
                head += f"Server: preflight-test\r\n{self.extra_headers}Content-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                tls.sendall(head.encode("latin-1") + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                client.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class BlackHole(_Listener):
    """A listener with backlog 0 that never accepts, its queue filled: further SYNs are dropped,
    so a connect times out as if the host were behind a dropping firewall."""

    def __init__(self) -> None:
        super().__init__(backlog=0)
        self.fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect(("127.0.0.1", self.port))
            self.fillers.append(filler)
        time.sleep(0.05)

    def close(self) -> None:
        for filler in self.fillers:
            filler.close()
        super().close()


class SilentServer(_Listener):
    """Completes TCP (the kernel does) but never accepts, so TLS never gets an answer."""


class ConnectProxy(_Listener):
    """A minimal HTTP CONNECT proxy that tunnels to 127.0.0.1 only; answers ``refuse_with`` if set."""

    def __init__(self, refuse_with: str = "") -> None:
        super().__init__()
        self.refuse_with = refuse_with
        self.connects: list[str] = []
        self._start_serving()

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(5)
        upstream = None
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(4096)
                if not chunk:
                    return
                data += chunk
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            self.connects.append(line)
            method, target, _ = line.split(" ", 2)
            host, _, port = target.rpartition(":")
            if self.refuse_with or method != "CONNECT" or host not in ("127.0.0.1", "localhost"):
                client.sendall(f"HTTP/1.1 {self.refuse_with or '403 Forbidden'}\r\nContent-Length: 0\r\n\r\n".encode())
                return
            upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(client, upstream)
        except (OSError, ValueError):
            pass
        finally:
            client.close()
            if upstream is not None:
                upstream.close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(5)


LOCAL_NAMES = {"iplos.test": ["127.0.0.1"], "filsluse.test": ["127.0.0.1"]}


def resolver_seam(table: dict[str, list[str]]):
    """The machine's lookup as a seam: answers from ``table``; a missing name is NXDOMAIN."""

    def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def make_test_ca(directory: Path, name: str) -> tuple[Issued, Path]:
    """A CA made now, and its PEM written into ``directory``."""
    from iplos_tui.sandbox.certs import make_ca

    issued = make_ca(name)
    issued.write(directory / "ca.pem")
    return issued, directory / "ca.pem"


def point_at(profile, ca_pem: Path, port: int, feedback_port: int | None = None, **changes):
    """``profile`` aimed at loopback peers named iplos.test (Sendemodul) and filsluse.test (gateway)."""
    values = dict(
        sendemodul_url=f"https://iplos.test:{port}/Sendemodul/",
        sendemodul_address="127.0.0.1",
        sendemodul_ca_bundle=ca_pem,
        gateway_url=f"https://filsluse.test:{feedback_port or port}/",
        gateway_ca_bundle=ca_pem,
        preflight_timeout=2.0,
    )
    values.update(changes)
    return profile.replace(**values)


def utc(days: float = 0) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
