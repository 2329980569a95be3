"""httpx with a total deadline per request and answers read raw under a cap (no decoding).

httpx has per-operation timeouts only: a server that sends one byte every few seconds — in the
status line, the headers or the body — keeps a request alive for ever. ``guarded_client()``
builds an ``httpx.Client`` on an httpcore network backend whose streams clip every read and write
to the deadline of the request in flight (``Deadline.start()``), so no request outlives it.

``read_capped()`` refuses any ``Content-Encoding`` but identity and reads the raw bytes, counting
what arrives, not what is announced: a few KB of gzip-in-gzip can never become a gigabyte.
The Sendemodul client (core/sendemodul.py) builds its transport with ``make_transport()`` too,
over its own backend (pin, fixed address, deadline: core/sendemodul_transport.py).
"""

from __future__ import annotations

import ssl
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

IDENTITY = ("", "identity")


class DeadlineExceeded(Exception):
    """The request in flight ran past its total deadline."""


class AnswerTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class EncodedAnswer(Exception):
    """The server encoded its answer although ``Accept-Encoding: identity`` was asked for."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


class Deadline:
    """The deadline of the request in flight (one per client; a client serves one thread)."""

    SLACK = 0.05  # a socket timeout this close to the deadline is the deadline

    def __init__(self) -> None:
        self._until: float | None = None

    def start(self, seconds: float) -> None:
        self._until = time.monotonic() + seconds

    def stop(self) -> None:
        self._until = None

    def left(self) -> float | None:
        return None if self._until is None else self._until - time.monotonic()

    def expired(self) -> bool:
        """Whether the request in flight has reached its deadline (ask before ``stop()``)."""
        left = self.left()
        return left is not None and left <= self.SLACK

    def clip(self, timeout: float | None, reading: bool) -> float | None:
        left = self.left()
        if left is None:
            return timeout
        if left <= 0:
            import httpcore

            raise (httpcore.ReadTimeout if reading else httpcore.WriteTimeout)("total deadline")
        return left if timeout is None else min(timeout, left)


def _backend(deadline: Deadline) -> Any:
    import httpcore

    class DeadlineStream(httpcore.NetworkStream):
        def __init__(self, inner: httpcore.NetworkStream) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, deadline.clip(timeout, True))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, deadline.clip(timeout, False))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # type: ignore[no-untyped-def]
            return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, deadline.clip(timeout, True)))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class DeadlineBackend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
            return DeadlineStream(self._inner.connect_tcp(host, port, deadline.clip(timeout, True), local_address, socket_options))

        def connect_unix_socket(self, path, timeout=None, socket_options=None):  # type: ignore[no-untyped-def]
            raise httpcore.ConnectError("unix sockets are not used")

        def sleep(self, seconds: float) -> None:
            time.sleep(seconds)

    return DeadlineBackend()


def guarded_client(
    *,
    base_url: str,
    ssl_context: ssl.SSLContext,
    deadline: Deadline,
    proxy: str = "",
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An httpx.Client: explicit TLS, ``trust_env=False``, no redirects, ``Accept-Encoding:
    identity``, and every read and write bounded by ``deadline``."""
    import httpx

    return httpx.Client(
        base_url=base_url,
        transport=make_transport(ssl_context, _backend(deadline), proxy),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
        headers={**(headers or {}), "Accept-Encoding": "identity"},
    )


def make_transport(context: ssl.SSLContext, backend: Any, proxy: str) -> httpx.HTTPTransport:
    """httpx's transport (its exception mapping, no retries, ``trust_env=False``) over our own
    httpcore network ``backend``, direct or through ``proxy``; both clients build theirs here."""
    import httpcore
    import httpx

    transport = httpx.HTTPTransport(verify=context, trust_env=False, retries=0)
    pool: httpcore.ConnectionPool | httpcore.HTTPProxy
    if proxy:
        url = httpx.URL(proxy)
        pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            ssl_context=context,
            max_connections=4,
            network_backend=backend,
        )
    else:
        pool = httpcore.ConnectionPool(ssl_context=context, max_connections=4, network_backend=backend)
    transport._pool = pool  # public httpcore API under httpx's private slot: the backend is ours
    return transport


def check_identity(response: httpx.Response) -> None:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in IDENTITY:
        raise EncodedAnswer(encoding)


def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes (counted as read); any encoding but identity refused."""
    check_identity(response)
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > limit:
            raise AnswerTooLarge(limit)
    return bytes(body)
