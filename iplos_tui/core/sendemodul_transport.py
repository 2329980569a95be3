"""The Sendemodul client's transport: what no httpx option does, done in an httpcore backend.

* connects to a fixed address when one is configured (the URL keeps the name, so SNI, the Host
  header and the certificate check still use it);
* checks the SPKI pin right after the TLS handshake, before any byte of the request is written;
* enforces a total deadline on every read and write of a request (a dripping server cannot keep
  a run alive), and counts the request bytes written, which tells whether anything was sent.
"""

from __future__ import annotations

import ssl
import time
from typing import Any


class SpkiPinMismatch(Exception):
    def __init__(self, seen: str) -> None:
        super().__init__(seen)
        self.seen = seen


class Guard:
    """Shared by the backend and its streams: the pins, the request's deadline, bytes written."""

    def __init__(self, pins: set[str]) -> None:
        self.pins = pins
        self.deadline: float | None = None
        self.deadline_hit = False
        self.written = 0

    def begin(self, total: float) -> None:
        self.deadline = time.monotonic() + total
        self.deadline_hit = False
        self.written = 0

    def clip(self, timeout: float | None, reading: bool) -> float | None:
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            import httpcore

            self.deadline_hit = True
            raise (httpcore.ReadTimeout if reading else httpcore.WriteTimeout)("total deadline")
        return left if timeout is None else min(timeout, left)

    def check_pin(self, stream: Any) -> None:
        if not self.pins:
            return
        from iplos_tui.core.tlsconfig import spki_sha256_of_der

        ssl_object = stream.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        seen = spki_sha256_of_der(der) if der else ""
        if seen not in self.pins:
            stream.close()
            raise SpkiPinMismatch(seen)


def backend_classes() -> Any:
    """Defined lazily: httpcore is imported only when a client is built."""
    import httpcore

    class GuardedStream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream, guard: Guard) -> None:
            self._inner = inner
            self._guard = guard

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, self._guard.clip(timeout, True))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            if buffer:
                self._guard.written += len(buffer)
            self._inner.write(buffer, self._guard.clip(timeout, False))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # type: ignore[no-untyped-def]
            stream = self._inner.start_tls(ssl_context, server_hostname, timeout)
            self._guard.check_pin(stream)  # before any request byte is written
            return GuardedStream(stream, self._guard)

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class GuardedBackend(httpcore.NetworkBackend):
        def __init__(self, guard: Guard, name: str, address: str) -> None:
            self._inner = httpcore.SyncBackend()
            self._guard = guard
            self._name = name
            self._address = address

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
            target = self._address if (self._address and host == self._name) else host
            return GuardedStream(self._inner.connect_tcp(target, port, timeout, local_address, socket_options), self._guard)

        def connect_unix_socket(self, path, timeout=None, socket_options=None):  # type: ignore[no-untyped-def]
            raise httpcore.ConnectError("unix sockets are not used")

        def sleep(self, seconds: float) -> None:
            time.sleep(seconds)

    return GuardedBackend


def ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
        seen += 1
    return None
