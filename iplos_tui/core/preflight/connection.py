"""Connections as the checks make them: TCP to each address (or through the profile's proxy with
CONNECT), TLS with SNI and the name check for the URL's host even when connecting to the override
address, the optional SPKI pins compared before a single HTTP byte is sent, and one GET that reads
the status and headers only (redirects are never followed)."""

from __future__ import annotations

import datetime as dt
import errno
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from iplos_tui.core.errors import Cancelled
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.context import Context, DnsAnswer
from iplos_tui.core.preflight.endpoint import Endpoint, EndpointError, parse_proxy
from iplos_tui.core.preflight.model import error_text, is_ip, show

MAX_HEADER_BYTES = 64 * 1024


@dataclass
class TcpOutcome:
    address: str
    port: int
    kind: str  # open | refused | timeout | unreachable | error
    elapsed: float = 0.0
    local: str = ""
    error: str = ""


@dataclass
class Conn:
    """One connection attempt to an endpoint, with what every stage saw."""

    endpoint: Endpoint
    stage: str = "ok"  # ok | address | tcp | proxy | tls | pin
    dns: DnsAnswer | None = None
    target: str = ""  # the address connected to (or asked of the proxy)
    tcp: TcpOutcome | None = None
    proxy_line: str = ""
    sock: Any = None
    tls_kind: str = ""  # expired | not_yet_valid | hostname | unknown_ca | verify | handshake | timeout | reset | trust | pin
    tls_error: str = ""
    verify_code: int | None = None
    tls_version: str = ""
    cipher: str = ""
    tls_elapsed: float = 0.0
    peer_der: bytes = b""
    chain_der: list[bytes] = field(default_factory=list)  # the verified chain, leaf first
    spki: str = ""
    pins_bad: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


@dataclass
class HttpAnswer:
    conn: Conn
    ok: bool = False
    error_kind: str = ""  # timeout | closed | not_http | error
    error: str = ""
    version: str = ""
    status: int = 0
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    ttfb: float = 0.0
    received_at: dt.datetime | None = None
    body: bytes = b""


def tcp_connect(address: str, port: int, deadline: float) -> tuple[socket.socket | None, TcpOutcome]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None, TcpOutcome(address, port, "timeout")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(remaining)
    started = time.monotonic()
    try:
        sock.connect((address, port))
    except ConnectionRefusedError:
        sock.close()
        return None, TcpOutcome(address, port, "refused", time.monotonic() - started)
    except (TimeoutError, socket.timeout):
        sock.close()
        return None, TcpOutcome(address, port, "timeout", time.monotonic() - started)
    except OSError as exc:
        sock.close()
        kind = "unreachable" if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL) else "error"
        return None, TcpOutcome(address, port, kind, time.monotonic() - started, error=error_text(exc))
    elapsed = time.monotonic() - started
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local = sock.getsockname()
        local_text = f"{local[0]}:{local[1]}"
    except OSError:
        local_text = ""
    return sock, TcpOutcome(address, port, "open", elapsed, local_text)


def connect_targets(ctx: Context, endpoint: Endpoint) -> tuple[list[str], str, DnsAnswer | None]:
    """The addresses to connect to (expected address first) and where they came from."""
    if endpoint.connect_address:
        return [endpoint.connect_address], "override", None
    if is_ip(endpoint.host):
        return [endpoint.host], "literal", None
    answer = ctx.resolve(endpoint.host)
    addresses = list(answer.addresses)
    if endpoint.expected_address in addresses:
        addresses.remove(endpoint.expected_address)
        addresses.insert(0, endpoint.expected_address)
    return addresses, "dns", answer


def read_head(sock: socket.socket, deadline: float, limit: int) -> tuple[bytes, float | None]:
    """Bytes up to and including the blank line after the headers (or what came before EOF)."""
    data = b""
    first: float | None = None
    while b"\r\n\r\n" not in data and len(data) < limit:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(16384)
        if first is None:
            first = time.monotonic()
        if not chunk:
            break
        data += chunk
    return data, first


def open_tcp(ctx: Context, conn: Conn, deadline: float) -> socket.socket | None:
    endpoint = conn.endpoint
    if endpoint.proxy:
        return open_via_proxy(ctx, conn, deadline)
    addresses, _source, answer = connect_targets(ctx, endpoint)
    conn.dns = answer
    if not addresses:
        conn.stage = "address"
        return None
    for address in addresses:
        ctx.check_cancel()
        sock, outcome = tcp_connect(address, endpoint.port, deadline)
        conn.tcp, conn.target = outcome, address
        if sock is not None:
            return sock
        if outcome.kind == "timeout":
            break
    conn.stage = "tcp"
    return None


def open_via_proxy(ctx: Context, conn: Conn, deadline: float) -> socket.socket | None:
    endpoint = conn.endpoint
    try:
        proxy_host, proxy_port, auth = parse_proxy(endpoint.proxy)
    except EndpointError as exc:
        conn.stage, conn.proxy_line = "proxy", str(exc)
        return None
    proxy_addresses = [proxy_host] if is_ip(proxy_host) else ctx.resolve(proxy_host).addresses
    if endpoint.connect_address:
        conn.target = endpoint.connect_address
    else:
        conn.target = endpoint.host
        if not is_ip(endpoint.host):
            conn.dns = ctx.resolve(endpoint.host)  # informative only: the proxy resolves
    if not proxy_addresses:
        conn.stage, conn.proxy_line = "proxy", t("preflight.proxy_unresolved", proxy=show(proxy_host))
        return None
    sock, outcome = tcp_connect(proxy_addresses[0], proxy_port, deadline)
    conn.tcp = outcome
    if sock is None:
        conn.stage = "tcp"
        return None
    target = f"[{conn.target}]" if ":" in conn.target else (endpoint.ascii_host if conn.target == endpoint.host else conn.target)
    request = f"CONNECT {target}:{endpoint.port} HTTP/1.1\r\nHost: {target}:{endpoint.port}\r\n"
    if auth:
        request += f"Proxy-Authorization: Basic {auth}\r\n"
    request += "\r\n"
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request.encode("ascii"))
        head, _ = read_head(sock, deadline, 16 * 1024)
    except (TimeoutError, socket.timeout):
        sock.close()
        conn.stage, conn.proxy_line = "proxy", t("preflight.proxy_timeout")
        return None
    except OSError as exc:
        sock.close()
        conn.stage, conn.proxy_line = "proxy", error_text(exc)
        return None
    status_line = head.split(b"\r\n", 1)[0]
    conn.proxy_line = show(status_line.decode("latin-1"), 120)
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", status_line)
    if not match or match.group(1) != b"200" or b"\r\n\r\n" not in head:
        sock.close()
        conn.stage = "proxy"
        return None
    return sock


_UNKNOWN_CA_CODES = {2, 18, 19, 20, 21}


def open_connection(ctx: Context, endpoint: Endpoint, deadline: float, *, tls: bool = True) -> Conn:
    """TCP (direct or through the proxy), then TLS with SNI and the name check, then the pins."""
    conn = Conn(endpoint)
    sock = open_tcp(ctx, conn, deadline)
    if sock is None or not tls:
        conn.sock = sock
        return conn
    ctx.check_cancel()
    from iplos_tui.core.tlsconfig import make_ssl_context

    try:
        context = make_ssl_context(endpoint.ca_bundle)
    except (OSError, ssl.SSLError, ValueError) as exc:
        sock.close()
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "trust", error_text(exc)
        return conn
    started = time.monotonic()
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        tls_sock = context.wrap_socket(sock, server_hostname=endpoint.sni)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        code = exc.verify_code
        conn.verify_code = code
        conn.tls_error = show(exc.verify_message or exc.reason or exc)
        if code == 10:
            conn.tls_kind = "expired"
        elif code == 9:
            conn.tls_kind = "not_yet_valid"
        elif code in (62, 64):
            conn.tls_kind = "hostname"
        elif code in _UNKNOWN_CA_CODES:
            conn.tls_kind = "unknown_ca"
        else:
            conn.tls_kind = "verify"
        conn.stage = "tls"
        conn.tls_elapsed = time.monotonic() - started
        return conn
    except (TimeoutError, socket.timeout):
        sock.close()
        conn.stage, conn.tls_kind = "tls", "timeout"
        conn.tls_elapsed = time.monotonic() - started
        return conn
    except ssl.SSLError as exc:
        sock.close()
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "handshake", show(exc.reason or exc)
        conn.tls_elapsed = time.monotonic() - started
        return conn
    except OSError as exc:
        sock.close()
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "reset", error_text(exc)
        conn.tls_elapsed = time.monotonic() - started
        return conn
    conn.tls_elapsed = time.monotonic() - started
    conn.sock = tls_sock
    conn.tls_version = tls_sock.version() or ""
    conn.cipher = (tls_sock.cipher() or ("",))[0]
    conn.peer_der = tls_sock.getpeercert(binary_form=True) or b""
    conn.chain_der = verified_chain(tls_sock)
    check_pins(conn)
    return conn


def verified_chain(tls_sock: ssl.SSLSocket) -> list[bytes]:
    """The chain OpenSSL verified, leaf first, as DER. Public from Python 3.13; 3.10-3.12 have the
    same method on the inner SSL object (not yet documented). Empty when neither exists."""
    getter = getattr(tls_sock, "get_verified_chain", None)
    if getter is None:
        getter = getattr(getattr(tls_sock, "_sslobj", None), "get_verified_chain", None)
    if getter is None:
        return []
    try:
        chain = getter() or []
    except (ssl.SSLError, ValueError, AttributeError):
        return []
    encoding = getattr(getattr(ssl, "_ssl", None), "ENCODING_DER", 2)
    return [item if isinstance(item, bytes) else item.public_bytes(encoding) for item in chain]


def check_pins(conn: Conn) -> None:
    from iplos_tui.core.tlsconfig import normalise_pin, spki_sha256_of_der

    if not conn.peer_der:
        return
    conn.spki = spki_sha256_of_der(conn.peer_der)
    if not conn.endpoint.pins:
        return
    wanted = set()
    for pin in conn.endpoint.pins:
        normal = normalise_pin(pin)
        if normal is None:
            conn.pins_bad.append(show(pin, 100))
        else:
            wanted.add(normal)
    if conn.spki not in wanted:
        conn.close()  # before any HTTP byte: a wrong pin means nothing is sent
        conn.stage, conn.tls_kind = "pin", "pin"


def fetch_certificate_unverified(ctx: Context, endpoint: Endpoint, deadline: float) -> bytes:
    """After a verification failure: the certificate the server shows, for the evidence only."""
    from iplos_tui.core.tlsconfig import diagnostic_context

    probe = Conn(endpoint)
    try:
        sock = open_tcp(ctx, probe, deadline)
    except (Cancelled, EndpointError):
        return b""
    if sock is None:
        return b""
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        with diagnostic_context().wrap_socket(sock, server_hostname=endpoint.sni) as tls_sock:
            return tls_sock.getpeercert(binary_form=True) or b""
    except (OSError, ssl.SSLError):
        return b""
    finally:
        sock.close()


def http_get(ctx: Context, endpoint: Endpoint, deadline: float, *, path: str = "", body_limit: int = 0) -> HttpAnswer:
    """GET ``path`` (default: the URL's) over a verified connection: status and headers, and with
    ``body_limit`` the body up to that size; redirects not followed."""
    from iplos_tui import __version__

    conn = open_connection(ctx, endpoint, deadline)
    answer = HttpAnswer(conn)
    if conn.stage != "ok":
        return answer
    request = (
        f"GET {path or endpoint.path} HTTP/1.1\r\n"
        f"Host: {endpoint.host_header}\r\n"
        f"User-Agent: iplos-tui/{__version__} (preflight)\r\n"
        f"Accept: {'application/json' if body_limit else '*/*'}\r\n"
        "Connection: close\r\n\r\n"
    )
    sock = conn.sock
    try:
        ctx.check_cancel()
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request.encode("ascii"))
        sent = time.monotonic()
        head, first = read_head(sock, deadline, MAX_HEADER_BYTES)
        head, _, rest = head.partition(b"\r\n\r\n")
        if body_limit:
            answer.body = read_body(sock, head, rest, deadline, body_limit)
    except (TimeoutError, socket.timeout):
        answer.error_kind = "timeout"
        return answer
    except (OSError, ssl.SSLError) as exc:
        answer.error_kind, answer.error = "error", error_text(exc)
        return answer
    finally:
        conn.close()
    if first is not None:
        answer.ttfb = first - sent
        answer.received_at = ctx.now()
    if not head:
        answer.error_kind = "closed"
        return answer
    lines = head.split(b"\r\n")
    match = re.fullmatch(r"HTTP/(\d(?:\.\d)?) (\d{3})(?: (.*))?", lines[0].decode("latin-1"))
    if not match:
        answer.error_kind, answer.error = "not_http", show(head[:60].decode("latin-1"), 80)
        return answer
    answer.version, answer.status, answer.reason = match.group(1), int(match.group(2)), show(match.group(3) or "", 80)
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            answer.headers.setdefault(name.strip().lower(), show(value.strip(), 200))
    answer.ok = True
    return answer


def read_body(sock: socket.socket, head: bytes, data: bytes, deadline: float, limit: int) -> bytes:
    """The body after ``head`` (``data`` already read): Content-Length, chunked, or to EOF; at most
    ``limit`` bytes. What did not arrive by the deadline is simply missing."""
    text = head.decode("latin-1").lower()
    length_match = re.search(r"\r\ncontent-length:\s*(\d{1,12})", text)
    chunked = re.search(r"\r\ntransfer-encoding:[^\r]*chunked", text) is not None
    wanted = min(int(length_match.group(1)), limit) if length_match and not chunked else limit + 1
    try:
        while len(data) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock.settimeout(remaining)
            chunk = sock.recv(min(65536, wanted - len(data)))
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError):
        pass
    return _dechunk(data)[:limit] if chunked else data[:limit]


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError:
            break
        if not sep or size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out
