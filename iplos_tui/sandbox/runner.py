"""Run an ASGI app with uvicorn over TLS on loopback in a daemon thread (sandbox and tests).

The listening socket is made with ``IPPROTO_TCP``: asyncio sets TCP_NODELAY on accepted sockets
only when their ``proto`` says TCP (with proto 0 every answer waited 40 ms for a delayed ACK).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RunningServer:
    url: str
    port: int
    server: Any = field(repr=False)
    thread: threading.Thread = field(repr=False)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


LISTEN_BACKLOG = 128


def bind_listener(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on loopback: clients that come before a server accepts wait in its
    queue (the kernel completes their handshake), they are not refused."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError("the sandbox listens on loopback only")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets on Linux
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def serve_in_thread(
    app: Any,
    *,
    certfile: Path | str,
    keyfile: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    ready_timeout: float = 15.0,
) -> RunningServer:
    """uvicorn over TLS in a daemon thread, TCP_NODELAY on every connection; returns once it accepts.
    ``sock``: a listener from ``bind_listener`` (else one is bound on ``host``:``port``)."""
    import uvicorn

    if sock is None:
        sock = bind_listener(host, port)
    actual = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        backlog=LISTEN_BACKLOG,
        log_level="critical",  # injected faults would otherwise print tracebacks
        access_log=False,
        lifespan="off",
        http="h11",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"sandbox-{actual}")
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    shown = f"[{host}]" if ":" in host else host
    return RunningServer(url=f"https://{shown}:{actual}", port=actual, server=server, thread=thread)
