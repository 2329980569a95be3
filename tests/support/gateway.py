"""The gateway fixtures every feedback/gateway test shares: one TLS identity per module, one
loopback HTTPS server whose app can be swapped per test, the sandbox gateway and the
fault-injecting one on it, and a raw TLS server that drips its answer byte by byte.

Use them by importing the fixtures into a test module::

    from tests.support.gateway import gateway, gateway_server, tls  # noqa: F401
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fault_gateway import FaultGateway, Holder, TlsFiles, make_tls_files, serve_in_thread

from iplos_tui.sandbox.gateway import Gateway

USER = "postmottak@hamar.kommune.no"
GW_PASSWORD = "GW-CANARY-5821x"  # a canary: never in a file, a message or on screen


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def gateway_server(tls) -> Iterator[tuple[Holder, object]]:
    """One uvicorn-over-TLS server for the module; tests point ``holder.target`` at their app."""
    holder = Holder()
    with serve_in_thread(holder, certfile=tls.cert, keyfile=tls.key) as running:
        yield holder, running


@pytest.fixture
def gateway(gateway_server, tmp_path) -> Gateway:
    """The sandbox gateway with one user (``USER`` / ``GW_PASSWORD``); ``gateway.url`` is set."""
    holder, running = gateway_server
    gw = Gateway(tmp_path / "gateway-state")
    gw.add_user(USER, GW_PASSWORD)
    holder.target = gw.app
    gw.url = running.url
    return gw


@pytest.fixture
def faults(gateway_server) -> FaultGateway:
    """A fresh fault-injecting gateway on the module's server (``faults.url`` is set)."""
    holder, running = gateway_server
    fault = FaultGateway()
    holder.target = fault.app
    fault.url = running.url
    return fault


class DripServer:
    """A raw TLS server on loopback that answers every request with ``head`` and then drips
    ``drip`` one byte every ``interval`` seconds until the client goes away (no HTTP library: it
    can drip inside the status line or the headers, which an ASGI server cannot)."""

    def __init__(self, tls: TlsFiles, head: bytes, drip: bytes, interval: float = 0.2) -> None:
        self.head = head
        self.drip = drip
        self.interval = interval
        self.connections = 0
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(str(tls.cert), str(tls.key))
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.url = f"https://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True, name="drip-server")
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        self.connections += 1
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(10)
            with self._context.wrap_socket(conn, server_side=True) as tls_conn:
                request = b""
                while b"\r\n\r\n" not in request and len(request) < 65536:
                    chunk = tls_conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                tls_conn.sendall(self.head)
                position = 0
                while not self._stop.wait(self.interval):
                    tls_conn.sendall(self.drip[position % len(self.drip) : position % len(self.drip) + 1])
                    self.bytes_sent += 1
                    position += 1
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(5)


def write_gateway_config(path: Path, profile, url: str, tls: TlsFiles, **changes: object) -> Path:
    """Save ``profile`` pointed at the gateway ``url`` (trusting the test CA) to ``path``, with any
    other profile ``changes`` (``gateway_request_timeout=2.0`` ...)."""
    from iplos_tui.core import config as cfg

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cfg.save_profile(profile.replace(gateway_url=url, gateway_user=USER, gateway_ca_bundle=tls.ca, **changes), path)
    return path


def wait_for(predicate: Callable[[], bool], limit: float = 30.0, step: float = 0.02) -> None:
    """Wait until ``predicate()`` holds (a condition, not a timed assertion); fail after ``limit``."""
    import time

    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come true")
        time.sleep(step)


__all__ = ["DripServer", "GW_PASSWORD", "USER", "faults", "gateway", "gateway_server", "tls", "wait_for", "write_gateway_config"]
