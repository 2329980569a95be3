"""Preflight: the IT checklist of the guide as live diagnostics.

Every check returns a ``CheckResult`` (status pass / warn / fail / skip / manual, a one-line detail,
evidence lines of the kind nslookup, Test-NetConnection and ``openssl s_client`` print, a hint,
elapsed ms). ``run_checks`` runs them all at once in daemon threads:

- every check's timeout counts from the start of the run, so the whole run ends within the largest
  timeout plus ``GRACE_SECONDS`` even when every address black-holes or the resolver hangs;
- the name is resolved once per run (shared by dns, tcp, tls, http) through an injectable resolver,
  wrapped in a thread because ``getaddrinfo`` has no timeout of its own;
- tls and http open connections of their own, so each check can also be re-run alone; a check whose
  precondition failed (no address, no TCP, no TLS) says so and is skipped;
- a cancel event is honoured between steps and by the runner at once;
- ``progress`` is called in the caller's thread for every finished check, in finishing order.

TLS uses an explicit context (``tlsconfig``): the configured CA bundle or the system store, never the
environment's, SNI and the name check for the URL's host even when connecting to the override
address, and the optional SPKI pins compared before a single HTTP byte is sent.
"""

from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import os
import queue
import re
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from iplos_tui.core.config import Profile, validate_profile
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

PASS, WARN, FAIL, SKIP, MANUAL = "pass", "warn", "fail", "skip", "manual"
STATUSES = (PASS, WARN, FAIL, SKIP, MANUAL)

CHECK_IDS = (
    "dns",
    "tcp",
    "tls",
    "http",
    "clock",
    "ssb_certificate",
    "tpf_certificate",
    "secure_dir",
    "profile",
    "feedback_gateway",
    "spam_allowlist",
    "postmottak_routing",
)
NETWORK_CHECKS = frozenset({"dns", "tcp", "tls", "http", "clock", "feedback_gateway"})
MANUAL_CHECKS = {"spam_allowlist": "spam_allowlist_confirmed", "postmottak_routing": "postmottak_routing_confirmed"}

GRACE_SECONDS = 0.5  # the runner's hard stop after the largest timeout (a safety net)
CLOCK_WARN_SECONDS = 180
CERT_EXPIRY_WARN_DAYS = 30
MAX_HEADER_BYTES = 64 * 1024
MAX_TCP_ADDRESSES = 4
FREE_SPACE_WARN = 1 << 30
FREE_SPACE_FAIL = 100 << 20
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "ceph", "glusterfs", "afs", "lustre", "gpfs", "davfs"}
)
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})

Resolver = Callable[[str], Iterable[str]]
Progress = Callable[["CheckResult"], None]


@dataclass
class CheckResult:
    id: str
    title: str
    status: str
    detail: str
    evidence: list[str] = field(default_factory=list)
    hint: str = ""
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
            "evidence": list(self.evidence),
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def title_of(check_id: str) -> str:
    return t(f"preflight.title.{check_id}")


def _result(check_id: str, status: str, detail: str, evidence: list[str] | None = None, hint: str = "") -> CheckResult:
    return CheckResult(check_id, title_of(check_id), status, detail, list(evidence or []), hint)


def pending_result(check_id: str) -> CheckResult:
    """A row that has not been run (the pane's initial state)."""
    return _result(check_id, SKIP, t("preflight.not_run"))


def system_resolver(host: str) -> list[str]:
    """The operating system's resolver (``/etc/hosts``, then DNS), every address once."""
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _Cancelled(Exception):
    pass


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return False
    return True


def _show(value: object, limit: int = 200) -> str:
    return safe_text(str(value), one_line=True, limit=limit)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return _show(exc.strerror)
    return _show(str(exc) or type(exc).__name__)


# --- endpoints --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str  # "sendemodul" | "feedback"
    url: str
    host: str
    port: int
    path: str
    connect_address: str = ""
    expected_address: str = ""
    ca_bundle: Path | None = None
    pins: tuple[str, ...] = ()
    proxy: str = ""

    @property
    def ascii_host(self) -> str:
        return self.host if self.host.isascii() else self.host.encode("idna").decode("ascii")

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.ascii_host
        return host if self.port == 443 else f"{host}:{self.port}"

    @property
    def sni(self) -> str:
        return self.host


class EndpointError(ValueError):
    pass


def parse_endpoint(name: str, url: str, **options: Any) -> Endpoint:
    """An https URL as an Endpoint; EndpointError (translated) when it cannot be one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError as exc:
        raise EndpointError(t("preflight.url_invalid", url=_show(url), error=_show(exc))) from None
    if parts.scheme != "https":
        raise EndpointError(t("preflight.url_not_https", url=_show(url)))
    if not parts.hostname:
        raise EndpointError(t("preflight.url_no_host", url=_show(url)))
    host = parts.hostname.rstrip(".")
    try:
        host.encode("idna")
    except UnicodeError:
        raise EndpointError(t("preflight.url_no_host", url=_show(url))) from None
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=~-._")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=~-._?")
    return Endpoint(name, url.strip(), host, port, path, **options)


def sendemodul_endpoint(profile: Profile) -> Endpoint:
    return parse_endpoint(
        "sendemodul",
        profile.sendemodul_url,
        connect_address=profile.sendemodul_connect_address.strip(),
        expected_address=profile.sendemodul_address.strip(),
        ca_bundle=profile.sendemodul_ca_bundle,
        pins=tuple(profile.sendemodul_spki_pins),
        proxy=profile.proxy.strip(),
    )


def feedback_endpoint(profile: Profile) -> Endpoint:
    return parse_endpoint("feedback", profile.feedback_url, ca_bundle=profile.feedback_ca_bundle)


# --- the run context --------------------------------------------------------------------------


@dataclass
class DnsAnswer:
    host: str
    kind: str  # ok | none | timeout | error | literal
    addresses: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    error: str = ""


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
    address_source: str = ""  # override | literal | dns
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


class _Context:
    def __init__(
        self,
        profile: Profile,
        resolver: Resolver,
        cancel: threading.Event,
        now: Callable[[], dt.datetime],
        timeouts: dict[str, float],
        temp_roots: tuple[Path, ...],
    ) -> None:
        self.profile = profile
        self.resolver = resolver
        self.cancel = cancel
        self.now = now
        self.timeouts = timeouts
        self.temp_roots = temp_roots
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[threading.Event, list[Any]]] = {}

    def deadline(self, check_id: str) -> float:
        return self.started + self.timeouts[check_id]

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise _Cancelled

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run; later callers wait for the first one's answer."""
        with self._lock:
            entry = self._memo.get(key)
            owner = entry is None
            if owner:
                entry = (threading.Event(), [])
                self._memo[key] = entry
        done, box = entry
        if owner:
            try:
                box.append(("ok", compute()))
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                box.append(("error", exc))
            finally:
                done.set()
        else:
            while not done.wait(0.05):
                self.check_cancel()
        kind, value = box[0]
        if kind == "error":
            raise value
        return value

    # Shared, memoised steps.

    def resolve(self, host: str) -> DnsAnswer:
        return self.memo(f"dns:{host}", lambda: self._resolve(host))

    def _resolve(self, host: str) -> DnsAnswer:
        if _is_ip(host):
            return DnsAnswer(host, "literal", [host])
        deadline = self.deadline("dns")
        box: list[Any] = []
        done = threading.Event()

        def work() -> None:
            try:
                box.append(("ok", list(self.resolver(host))))
            except BaseException as exc:  # noqa: BLE001 - reported as the answer
                box.append(("error", exc))
            finally:
                done.set()

        started = time.monotonic()
        threading.Thread(target=work, name=f"preflight-dns-{host}", daemon=True).start()
        while not done.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return DnsAnswer(host, "timeout", elapsed=time.monotonic() - started)
            done.wait(min(remaining, 0.05))
            self.check_cancel()
        elapsed = time.monotonic() - started
        kind, value = box[0]
        if kind == "error":
            if isinstance(value, socket.gaierror) and value.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return DnsAnswer(host, "none", elapsed=elapsed, error=_error_text(value))
            return DnsAnswer(host, "error", elapsed=elapsed, error=_error_text(value))
        addresses = []
        for item in value:
            text = str(item)
            if _is_ip(text) and text not in addresses:
                addresses.append(text)
        return DnsAnswer(host, "ok" if addresses else "none", addresses, elapsed)

    def sendemodul_http(self) -> HttpAnswer | EndpointError:
        def compute() -> HttpAnswer | EndpointError:
            try:
                endpoint = sendemodul_endpoint(self.profile)
            except EndpointError as exc:
                return exc
            return _http_get(self, endpoint, self.deadline("http"))

        return self.memo("http:sendemodul", compute)


# --- connections ------------------------------------------------------------------------------


def _tcp_connect(address: str, port: int, deadline: float) -> tuple[socket.socket | None, TcpOutcome]:
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
        return None, TcpOutcome(address, port, kind, time.monotonic() - started, error=_error_text(exc))
    elapsed = time.monotonic() - started
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local = sock.getsockname()
        local_text = f"{local[0]}:{local[1]}"
    except OSError:
        local_text = ""
    return sock, TcpOutcome(address, port, "open", elapsed, local_text)


def connect_targets(ctx: _Context, endpoint: Endpoint) -> tuple[list[str], str, DnsAnswer | None]:
    """The addresses to connect to (expected address first) and where they came from."""
    if endpoint.connect_address:
        return [endpoint.connect_address], "override", None
    if _is_ip(endpoint.host):
        return [endpoint.host], "literal", None
    answer = ctx.resolve(endpoint.host)
    addresses = list(answer.addresses)
    if endpoint.expected_address in addresses:
        addresses.remove(endpoint.expected_address)
        addresses.insert(0, endpoint.expected_address)
    return addresses, "dns", answer


def _parse_proxy(proxy: str) -> tuple[str, int, str | None]:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise EndpointError(t("preflight.proxy_invalid", proxy=_show(_mask_proxy(proxy))))
    auth = None
    if parts.username is not None:
        import base64

        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = base64.b64encode(raw).decode("ascii")
    return parts.hostname, parts.port or 80, auth


def _mask_proxy(proxy: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", proxy)


def _read_head(sock: socket.socket, deadline: float, limit: int) -> tuple[bytes, float | None]:
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


def _open_tcp(ctx: _Context, conn: Conn, deadline: float) -> socket.socket | None:
    endpoint = conn.endpoint
    if endpoint.proxy:
        return _open_via_proxy(ctx, conn, deadline)
    addresses, source, answer = connect_targets(ctx, endpoint)
    conn.dns, conn.address_source = answer, source
    if not addresses:
        conn.stage = "address"
        return None
    for address in addresses:
        ctx.check_cancel()
        sock, outcome = _tcp_connect(address, endpoint.port, deadline)
        conn.tcp, conn.target = outcome, address
        if sock is not None:
            return sock
        if outcome.kind == "timeout":
            break
    conn.stage = "tcp"
    return None


def _open_via_proxy(ctx: _Context, conn: Conn, deadline: float) -> socket.socket | None:
    endpoint = conn.endpoint
    try:
        proxy_host, proxy_port, auth = _parse_proxy(endpoint.proxy)
    except EndpointError as exc:
        conn.stage, conn.proxy_line = "proxy", str(exc)
        return None
    proxy_addresses = [proxy_host] if _is_ip(proxy_host) else ctx.resolve(proxy_host).addresses
    conn.address_source = "proxy"
    if endpoint.connect_address:
        conn.target = endpoint.connect_address
    else:
        conn.target = endpoint.host
        if not _is_ip(endpoint.host):
            conn.dns = ctx.resolve(endpoint.host)  # informative only: the proxy resolves
    if not proxy_addresses:
        conn.stage, conn.proxy_line = "proxy", t("preflight.proxy_unresolved", proxy=_show(proxy_host))
        return None
    sock, outcome = _tcp_connect(proxy_addresses[0], proxy_port, deadline)
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
        head, _ = _read_head(sock, deadline, 16 * 1024)
    except (TimeoutError, socket.timeout):
        sock.close()
        conn.stage, conn.proxy_line = "proxy", t("preflight.proxy_timeout")
        return None
    except OSError as exc:
        sock.close()
        conn.stage, conn.proxy_line = "proxy", _error_text(exc)
        return None
    status_line = head.split(b"\r\n", 1)[0]
    conn.proxy_line = _show(status_line.decode("latin-1"), 120)
    match = re.match(rb"HTTP/\d(?:\.\d)? (\d{3})", status_line)
    if not match or match.group(1) != b"200" or b"\r\n\r\n" not in head:
        sock.close()
        conn.stage = "proxy"
        return None
    return sock


_UNKNOWN_CA_CODES = {2, 18, 19, 20, 21}


def open_connection(ctx: _Context, endpoint: Endpoint, deadline: float, *, tls: bool = True) -> Conn:
    """TCP (direct or through the proxy), then TLS with SNI and the name check, then the pins."""
    conn = Conn(endpoint)
    sock = _open_tcp(ctx, conn, deadline)
    if sock is None or not tls:
        conn.sock = sock
        return conn
    ctx.check_cancel()
    from iplos_tui.core.tlsconfig import make_ssl_context

    try:
        context = make_ssl_context(endpoint.ca_bundle)
    except (OSError, ssl.SSLError, ValueError) as exc:
        sock.close()
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "trust", _error_text(exc)
        return conn
    started = time.monotonic()
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        tls_sock = context.wrap_socket(sock, server_hostname=endpoint.sni)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        code = exc.verify_code
        conn.verify_code = code
        conn.tls_error = _show(exc.verify_message or exc.reason or exc)
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
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "handshake", _show(exc.reason or exc)
        conn.tls_elapsed = time.monotonic() - started
        return conn
    except OSError as exc:
        sock.close()
        conn.stage, conn.tls_kind, conn.tls_error = "tls", "reset", _error_text(exc)
        conn.tls_elapsed = time.monotonic() - started
        return conn
    conn.tls_elapsed = time.monotonic() - started
    conn.sock = tls_sock
    conn.tls_version = tls_sock.version() or ""
    conn.cipher = (tls_sock.cipher() or ("",))[0]
    conn.peer_der = tls_sock.getpeercert(binary_form=True) or b""
    _check_pins(conn)
    return conn


def _check_pins(conn: Conn) -> None:
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
            conn.pins_bad.append(_show(pin, 100))
        else:
            wanted.add(normal)
    if conn.spki not in wanted:
        conn.close()  # before any HTTP byte: a wrong pin means nothing is sent
        conn.stage, conn.tls_kind = "pin", "pin"


def _fetch_certificate_unverified(ctx: _Context, endpoint: Endpoint, deadline: float) -> bytes:
    """After a verification failure: the certificate the server shows, for the evidence only."""
    from iplos_tui.core.tlsconfig import diagnostic_context

    probe = Conn(endpoint)
    try:
        sock = _open_tcp(ctx, probe, deadline)
    except (_Cancelled, EndpointError):
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


def _http_get(ctx: _Context, endpoint: Endpoint, deadline: float) -> HttpAnswer:
    """GET the URL over a verified connection: status and headers only, redirects not followed."""
    from iplos_tui import __version__

    conn = open_connection(ctx, endpoint, deadline)
    answer = HttpAnswer(conn)
    if conn.stage != "ok":
        return answer
    request = (
        f"GET {endpoint.path} HTTP/1.1\r\n"
        f"Host: {endpoint.host_header}\r\n"
        f"User-Agent: iplos-tui/{__version__} (preflight)\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n\r\n"
    )
    sock = conn.sock
    try:
        ctx.check_cancel()
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request.encode("ascii"))
        sent = time.monotonic()
        head, first = _read_head(sock, deadline, MAX_HEADER_BYTES)
    except (TimeoutError, socket.timeout):
        answer.error_kind = "timeout"
        return answer
    except (OSError, ssl.SSLError) as exc:
        answer.error_kind, answer.error = "error", _error_text(exc)
        return answer
    finally:
        conn.close()
    if first is not None:
        answer.ttfb = first - sent
        answer.received_at = ctx.now()
    if not head:
        answer.error_kind = "closed"
        return answer
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    match = re.match(r"HTTP/(\d(?:\.\d)?) (\d{3})(?: (.*))?$", lines[0].decode("latin-1"))
    if not match:
        answer.error_kind, answer.error = "not_http", _show(head[:60].decode("latin-1"), 80)
        return answer
    answer.version, answer.status, answer.reason = match.group(1), int(match.group(2)), _show(match.group(3) or "", 80)
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            answer.headers.setdefault(name.strip().lower(), _show(value.strip(), 200))
    answer.ok = True
    return answer


# --- rendering connection stages as evidence --------------------------------------------------


def _dns_lines(answer: DnsAnswer | None) -> list[str]:
    if answer is None or answer.kind == "literal":
        return []
    lines = [t("preflight.ev.name", host=_show(answer.host))]
    lines += [t("preflight.ev.address", address=a) for a in answer.addresses]
    if answer.kind == "timeout":
        lines.append(t("preflight.ev.dns_timeout"))
    elif answer.kind in ("none", "error"):
        lines.append(t("preflight.ev.dns_error", error=answer.error or "-"))
    return lines


def _tcp_line(outcome: TcpOutcome) -> str:
    where = f"[{outcome.address}]:{outcome.port}" if ":" in outcome.address else f"{outcome.address}:{outcome.port}"
    if outcome.kind == "open":
        return t("preflight.ev.tcp_open", where=where, ms=_ms(outcome.elapsed), local=outcome.local or "-")
    if outcome.kind == "refused":
        return t("preflight.ev.tcp_refused", where=where, ms=_ms(outcome.elapsed))
    if outcome.kind == "timeout":
        return t("preflight.ev.tcp_timeout", where=where, ms=_ms(outcome.elapsed))
    if outcome.kind == "unreachable":
        return t("preflight.ev.tcp_unreachable", where=where, error=outcome.error)
    return t("preflight.ev.tcp_error", where=where, error=outcome.error)


def _cert_lines(der: bytes, now: dt.datetime) -> tuple[list[str], dict[str, Any]]:
    """openssl-style lines about a peer certificate, and the facts the checks judge by."""
    if not der:
        return [], {}
    from cryptography import x509

    from iplos_tui.core.keys import describe
    from iplos_tui.core.tlsconfig import pin_base64

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return [t("preflight.ev.cert_unreadable", error=_show(exc))], {}
    info = describe(cert)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"DNS:{_show(n)}" for n in san.get_values_for_type(x509.DNSName)]
        names += [f"IP:{ip}" for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    days = (info.not_after - now).total_seconds() / 86400
    lines = [
        f"subject={info.subject}",
        f"issuer={info.issuer}",
        t("preflight.ev.san", names=", ".join(names) or "-"),
        f"notBefore={_utc(info.not_before)}",
        f"notAfter={_utc(info.not_after)}",
        t("preflight.ev.days_left", days=int(days // 1)),
        f"SPKI sha256={info.spki_sha256} ({pin_base64(info.spki_sha256)})",
    ]
    return lines, {"days": days, "not_before": info.not_before, "not_after": info.not_after, "spki": info.spki_sha256}


def _connection_failure(conn: Conn, check_id: str, timeout: float) -> tuple[str, str, str]:
    """(status, detail, hint) for a connection that stopped before TLS was done."""
    endpoint = conn.endpoint
    if conn.stage == "address":
        answer = conn.dns
        if answer is not None and answer.kind == "timeout":
            return FAIL, t("preflight.dns_timeout", host=_show(endpoint.host), seconds=_seconds(timeout)), t("preflight.hint.dns_timeout")
        return FAIL, t("preflight.no_address", host=_show(endpoint.host)), t("preflight.hint.dns_none", host=_show(endpoint.host))
    if conn.stage == "proxy":
        return FAIL, t("preflight.proxy_failed", answer=conn.proxy_line or "-"), t("preflight.hint.proxy")
    outcome = conn.tcp
    assert outcome is not None
    if outcome.kind == "refused":
        return FAIL, t("preflight.tcp_refused", where=f"{outcome.address}:{outcome.port}"), t("preflight.hint.tcp_refused", port=outcome.port)
    if outcome.kind == "timeout":
        return FAIL, t("preflight.tcp_timeout", where=f"{outcome.address}:{outcome.port}", seconds=_seconds(timeout)), t(
            "preflight.hint.tcp_timeout", address=outcome.address, port=outcome.port
        )
    if outcome.kind == "unreachable":
        return FAIL, t("preflight.tcp_unreachable", where=f"{outcome.address}:{outcome.port}", error=outcome.error), t("preflight.hint.tcp_unreachable")
    return FAIL, t("preflight.tcp_error", where=f"{outcome.address}:{outcome.port}", error=outcome.error), t("preflight.hint.tcp_unreachable")


def _tls_failure(conn: Conn, now: dt.datetime, facts: dict[str, Any], timeout: float) -> tuple[str, str]:
    """(detail, hint) for a TLS failure; validity errors carry the local clock."""
    endpoint = conn.endpoint
    kind = conn.tls_kind
    clock = _utc(now)
    if kind == "expired":
        when = _utc(facts["not_after"]) if facts else "?"
        return t("preflight.tls_expired", when=when), t("preflight.hint.tls_validity", now=clock)
    if kind == "not_yet_valid":
        when = _utc(facts["not_before"]) if facts else "?"
        return t("preflight.tls_not_yet_valid", when=when), t("preflight.hint.tls_validity", now=clock)
    if kind == "hostname":
        return t("preflight.tls_hostname", host=_show(endpoint.host)), t("preflight.hint.tls_hostname", host=_show(endpoint.host))
    if kind == "unknown_ca":
        return t("preflight.tls_unknown_ca", error=conn.tls_error), t("preflight.hint.tls_unknown_ca")
    if kind == "verify":
        return t("preflight.tls_verify", error=conn.tls_error), t("preflight.hint.tls_unknown_ca")
    if kind == "timeout":
        return t("preflight.tls_timeout", seconds=_seconds(timeout)), t("preflight.hint.tls_timeout")
    if kind == "trust":
        return t("preflight.tls_trust", error=conn.tls_error), t("preflight.hint.tls_trust")
    if kind == "pin":
        return t("preflight.tls_pin"), t("preflight.hint.tls_pin")
    return t("preflight.tls_handshake", error=conn.tls_error or "-"), t("preflight.hint.tls_handshake")


def _tls_lines(conn: Conn) -> list[str]:
    from iplos_tui.core.tlsconfig import trust_source

    endpoint = conn.endpoint
    lines = [t("preflight.ev.sni", host=_show(endpoint.sni)), t("preflight.ev.trust", source=_show(trust_source(endpoint.ca_bundle)))]
    if conn.tls_version:
        lines.append(t("preflight.ev.protocol", version=conn.tls_version, cipher=conn.cipher, ms=_ms(conn.tls_elapsed)))
    if conn.verify_code is not None:
        lines.append(f"Verify return code: {conn.verify_code} ({conn.tls_error})")
    elif conn.stage in ("ok", "pin"):
        lines.append("Verify return code: 0 (ok)")
    return lines


# --- the checks -------------------------------------------------------------------------------


def check_dns(ctx: _Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return _result("dns", FAIL, str(exc), hint=t("preflight.hint.url"))
    if _is_ip(endpoint.host):
        return _result("dns", SKIP, t("preflight.dns_literal", host=endpoint.host))
    answer = ctx.resolve(endpoint.host)
    evidence = []
    if ctx.resolver is system_resolver:
        evidence += [t("preflight.ev.nameserver", server=s) for s in _nameservers()]
    evidence += _dns_lines(answer)
    evidence.append(t("preflight.ev.dns_time", ms=_ms(answer.elapsed)))
    expected = endpoint.expected_address
    if expected:
        found = expected in answer.addresses
        evidence.append(t("preflight.ev.expected_found" if found else "preflight.ev.expected_missing", address=expected))
    bypass = endpoint.connect_address or endpoint.proxy
    failed = WARN if bypass else FAIL
    bypass_hint = t("preflight.hint.dns_bypassed") if bypass else ""
    host = _show(endpoint.host)
    if answer.kind == "timeout":
        return _result("dns", failed, t("preflight.dns_timeout", host=host, seconds=_seconds(ctx.timeouts["dns"])), evidence, bypass_hint or t("preflight.hint.dns_timeout"))
    if answer.kind in ("none", "error"):
        detail = t("preflight.dns_none" if answer.kind == "none" else "preflight.dns_error", host=host, error=answer.error)
        return _result("dns", failed, detail, evidence, bypass_hint or t("preflight.hint.dns_none", host=host))
    shown = ", ".join(answer.addresses)
    if expected and expected not in answer.addresses:
        return _result("dns", WARN, t("preflight.dns_unexpected", host=host, addresses=shown, expected=expected), evidence, t("preflight.hint.dns_unexpected", host=host, expected=expected))
    return _result("dns", PASS, t("preflight.dns_ok", host=host, addresses=shown), evidence)


def _nameservers() -> list[str]:
    try:
        with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as handle:
            text = handle.read(64 * 1024)
    except OSError:
        return []
    servers = [line.split()[1] for line in text.splitlines() if line.startswith("nameserver") and len(line.split()) > 1]
    return [_show(s, 60) for s in servers[:3]]


def check_tcp(ctx: _Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return _result("tcp", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("tcp")
    timeout = ctx.timeouts["tcp"]
    if endpoint.proxy:
        conn = open_connection(ctx, endpoint, deadline, tls=False)
        conn.close()
        evidence = [t("preflight.ev.proxy", proxy=_show(_mask_proxy(endpoint.proxy)))]
        if conn.tcp is not None:
            evidence.append(_tcp_line(conn.tcp))
        if conn.proxy_line:
            evidence.append(t("preflight.ev.proxy_answer", target=f"{conn.target}:{endpoint.port}", answer=conn.proxy_line))
        if conn.stage == "ok":
            return _result("tcp", PASS, t("preflight.tcp_proxy_ok", target=f"{_show(conn.target)}:{endpoint.port}"), evidence)
        status, detail, hint = _connection_failure(conn, "tcp", timeout)
        return _result("tcp", status, detail, evidence, hint)

    addresses, source, answer = connect_targets(ctx, endpoint)
    evidence = [t(f"preflight.ev.source_{source}", host=_show(endpoint.host))]
    if not addresses:
        detail = t("preflight.no_address", host=_show(endpoint.host))
        return _result("tcp", SKIP, detail, evidence + _dns_lines(answer), t("preflight.hint.see_dns"))
    outcomes: list[TcpOutcome | None] = [None] * min(len(addresses), MAX_TCP_ADDRESSES)

    def attempt(index: int, address: str) -> None:
        sock, outcome = _tcp_connect(address, endpoint.port, deadline)
        if sock is not None:
            sock.close()
        outcomes[index] = outcome

    threads = [
        threading.Thread(target=attempt, args=(i, a), daemon=True, name=f"preflight-tcp-{a}")
        for i, a in enumerate(addresses[: len(outcomes)])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 0.05)
        ctx.check_cancel()
    done = [o if o is not None else TcpOutcome(addresses[i], endpoint.port, "timeout", timeout) for i, o in enumerate(outcomes)]
    evidence += [_tcp_line(o) for o in done]
    open_ = [o for o in done if o.kind == "open"]
    if open_ and len(open_) == len(done):
        shown = ", ".join(f"{o.address}:{o.port}" for o in open_)
        return _result("tcp", PASS, t("preflight.tcp_ok", where=shown, ms=_ms(open_[0].elapsed)), evidence)
    if open_:
        closed = ", ".join(f"{o.address}:{o.port}" for o in done if o.kind != "open")
        return _result("tcp", WARN, t("preflight.tcp_partial", where=closed), evidence, t("preflight.hint.tcp_partial"))
    conn = Conn(endpoint, stage="tcp", tcp=done[0])
    status, detail, hint = _connection_failure(conn, "tcp", timeout)
    return _result("tcp", status, detail, evidence, hint)


def check_tls(ctx: _Context) -> CheckResult:
    try:
        endpoint = sendemodul_endpoint(ctx.profile)
    except EndpointError as exc:
        return _result("tls", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("tls")
    timeout = ctx.timeouts["tls"]
    conn = open_connection(ctx, endpoint, deadline)
    conn.close()
    now = ctx.now()
    if conn.stage in ("address", "tcp", "proxy"):
        _, detail, _ = _connection_failure(conn, "tls", timeout)
        return _result("tls", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tcp"))
    evidence = [t("preflight.ev.connected", target=_show(conn.target), port=endpoint.port)] + _tls_lines(conn)
    der = conn.peer_der
    if conn.stage == "tls" and conn.tls_kind not in ("timeout", "trust"):
        der = _fetch_certificate_unverified(ctx, endpoint, deadline)
        if der:
            evidence.append(t("preflight.ev.unverified_cert"))
    cert_lines, facts = _cert_lines(der, now)
    evidence += cert_lines
    if conn.stage == "pin":
        evidence += [t("preflight.ev.pin_configured", pin=_show(p, 100)) for p in endpoint.pins]
        evidence.append(t("preflight.ev.pin_seen", spki=conn.spki))
    if conn.stage != "ok":
        detail, hint = _tls_failure(conn, now, facts, timeout)
        return _result("tls", FAIL, detail, evidence, hint)
    warnings = []
    hint = ""
    if conn.pins_bad:
        warnings.append(t("preflight.tls_bad_pins", pins=", ".join(conn.pins_bad)))
        hint = t("preflight.hint.tls_bad_pins")
    if endpoint.pins:
        evidence.append(t("preflight.ev.pin_ok"))
    days = facts.get("days", 9999)
    if days < CERT_EXPIRY_WARN_DAYS:
        warnings.append(t("preflight.tls_expires_soon", days=int(days)))
        hint = " ".join(filter(None, [hint, t("preflight.hint.tls_expires_soon")]))
    if warnings:
        return _result("tls", WARN, "; ".join(warnings), evidence, hint)
    return _result("tls", PASS, t("preflight.tls_ok", version=conn.tls_version, host=_show(endpoint.host), days=int(days)), evidence)


def _http_evidence(answer: HttpAnswer) -> list[str]:
    lines = [f"GET {_show(answer.conn.endpoint.url)}"]
    if answer.ok:
        lines.append(f"HTTP/{answer.version} {answer.status} {answer.reason}".rstrip())
        for name in ("date", "server", "location", "content-type"):
            if name in answer.headers:
                lines.append(f"{name.title()}: {answer.headers[name]}")
        lines.append(t("preflight.ev.ttfb", ms=_ms(answer.ttfb)))
    return lines


def _http_failure(answer: HttpAnswer, timeout: float) -> tuple[str, str, str]:
    if answer.error_kind == "timeout":
        return FAIL, t("preflight.http_timeout", seconds=_seconds(timeout)), t("preflight.hint.http_timeout")
    if answer.error_kind == "closed":
        return FAIL, t("preflight.http_closed"), t("preflight.hint.http_timeout")
    if answer.error_kind == "not_http":
        return FAIL, t("preflight.http_not_http", start=answer.error), t("preflight.hint.http_not_http")
    return FAIL, t("preflight.http_error", error=answer.error), t("preflight.hint.http_timeout")


def check_http(ctx: _Context) -> CheckResult:
    answer = ctx.sendemodul_http()
    if isinstance(answer, EndpointError):
        return _result("http", FAIL, str(answer), hint=t("preflight.hint.url"))
    conn = answer.conn
    timeout = ctx.timeouts["http"]
    if conn.stage in ("address", "tcp", "proxy"):
        _, detail, _ = _connection_failure(conn, "http", timeout)
        return _result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tcp"))
    if conn.stage in ("tls", "pin"):
        detail, _ = _tls_failure(conn, ctx.now(), {}, timeout)
        return _result("http", SKIP, t("preflight.not_tested", reason=detail), hint=t("preflight.hint.see_tls"))
    evidence = _http_evidence(answer)
    if not answer.ok:
        status, detail, hint = _http_failure(answer, timeout)
        return _result("http", status, detail, evidence, hint)
    code = answer.status
    detail = t("preflight.http_status", status=code, reason=answer.reason, ms=_ms(answer.ttfb))
    if 200 <= code < 300 or code == 401:
        return _result("http", PASS, detail, evidence)
    if 300 <= code < 400:
        location = answer.headers.get("location", "-")
        return _result("http", WARN, t("preflight.http_redirect", status=code, location=location), evidence, t("preflight.hint.http_redirect"))
    if code == 403:
        return _result("http", WARN, detail, evidence, t("preflight.hint.http_403"))
    if 400 <= code < 500:
        return _result("http", WARN, detail, evidence, t("preflight.hint.http_4xx"))
    return _result("http", FAIL, detail, evidence, t("preflight.hint.http_5xx"))


def check_clock(ctx: _Context) -> CheckResult:
    answer = ctx.sendemodul_http()
    if isinstance(answer, EndpointError) or not answer.ok or answer.received_at is None:
        return _result("clock", SKIP, t("preflight.clock_no_answer"), hint=t("preflight.hint.see_http"))
    raw = answer.headers.get("date")
    if not raw:
        return _result("clock", SKIP, t("preflight.clock_no_date"))
    try:
        server = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        server = None
    if server is None or server.tzinfo is None:
        return _result("clock", SKIP, t("preflight.clock_bad_date", date=_show(raw, 80)))
    local = answer.received_at
    offset = (local - server).total_seconds()
    evidence = [
        t("preflight.ev.server_date", date=_show(raw, 80)),
        t("preflight.ev.local_clock", now=_utc(local)),
        t("preflight.ev.offset", seconds=f"{offset:+.0f}"),
    ]
    if abs(offset) > CLOCK_WARN_SECONDS:
        direction = t("preflight.clock_ahead" if offset > 0 else "preflight.clock_behind")
        return _result(
            "clock",
            WARN,
            t("preflight.clock_off", amount=_duration(abs(offset)), direction=direction),
            evidence,
            t("preflight.hint.clock", minutes=CLOCK_WARN_SECONDS // 60),
        )
    return _result("clock", PASS, t("preflight.clock_ok", seconds=f"{offset:+.0f}"), evidence)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return t("preflight.unit.seconds", n=int(seconds))
    if seconds < 7200:
        return t("preflight.unit.minutes", n=int(seconds // 60))
    if seconds < 172800:
        return t("preflight.unit.hours", n=int(seconds // 3600))
    return t("preflight.unit.days", n=int(seconds // 86400))


def _check_certificate(ctx: _Context, check_id: str, attr: str, fingerprint_attr: str) -> CheckResult:
    from iplos_tui.core import keys

    profile = ctx.profile
    path = getattr(profile, attr)
    if path is None:
        return _result(check_id, FAIL, t("preflight.cert_not_configured"), hint=t(f"preflight.hint.{check_id}_missing", key=f"paths.{attr}"))
    path = Path(path)
    evidence = [t("preflight.ev.file", path=_show(path))]
    try:
        cert = keys.load_certificate(path)
    except keys.CertificateError as exc:
        return _result(check_id, FAIL, str(exc), evidence, t(f"preflight.hint.{check_id}_missing", key=f"paths.{attr}"))
    now = ctx.now()
    info = keys.describe(cert)
    evidence += [
        f"subject={info.subject}",
        f"issuer={info.issuer}",
        f"serial={info.serial}",
        f"notBefore={_utc(info.not_before)}",
        f"notAfter={_utc(info.not_after)}",
        t("preflight.ev.key", key=f"{info.key_type} {info.key_size or ''} {info.key_detail}".strip()),
        f"SHA256 Fingerprint={keys.format_fingerprint(info.sha256)}",
    ]
    fingerprint = getattr(profile, fingerprint_attr) or None
    problems = keys.check_for_encryption(cert, profile.year, fingerprint, now)
    warnings: list[str] = []
    hints: list[str] = []
    failures = [p for p in problems if p.code != "not_yet_valid"]
    if fingerprint and not any(p.code == "fingerprint" for p in problems):
        evidence.append(t("preflight.ev.fingerprint_ok"))
    for problem in problems:
        if problem.code == "not_yet_valid":
            warnings.append(problem.message)
            hints.append(t("preflight.hint.cert_clock", now=_utc(now)))
    try:
        mtime = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.timezone.utc)
    except OSError:
        mtime = None
    if mtime is not None:
        evidence.append(t("preflight.ev.fetched", when=_utc(mtime)))
        cutoff = dt.datetime(profile.year, 12, 1, tzinfo=keys.OSLO_WINTER)
        if mtime < cutoff:
            warnings.append(t("preflight.cert_fetched_early", when=mtime.astimezone(keys.OSLO_WINTER).strftime("%Y-%m-%d"), year=profile.year))
            hints.append(t("preflight.hint.cert_refetch", year=profile.year))
    if failures:
        clock_hint = any(p.code in ("expired", "not_yet_valid") for p in problems)
        hint = t(f"preflight.hint.{check_id}_replace")
        if clock_hint:
            hint += " " + t("preflight.hint.cert_clock", now=_utc(now))
        return _result(check_id, FAIL, failures[0].message, evidence + [f"- {p.message}" for p in problems[1:]], hint)
    if warnings:
        return _result(check_id, WARN, warnings[0], evidence + [f"- {w}" for w in warnings[1:]], " ".join(hints))
    return _result(
        check_id,
        PASS,
        t("preflight.cert_ok", key=f"{info.key_type} {info.key_size}", until=info.not_after.strftime("%Y-%m-%d"), year=profile.year),
        evidence,
    )


def check_ssb_certificate(ctx: _Context) -> CheckResult:
    return _check_certificate(ctx, "ssb_certificate", "ssb_certificate", "ssb_fingerprint")


def check_tpf_certificate(ctx: _Context) -> CheckResult:
    return _check_certificate(ctx, "tpf_certificate", "tpf_certificate", "tpf_fingerprint")


def _mount_of(path: Path) -> tuple[str, str]:
    """(mount point, file system type) of the mount holding ``path``, from /proc/self/mountinfo."""
    best = ("", "")
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read(1 << 20).splitlines()
    except OSError:
        return best
    target = str(path)
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = right.split()[0] if right.split() else ""
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, fs_type)
    return best


def check_secure_dir(ctx: _Context) -> CheckResult:
    path = Path(ctx.profile.secure_dir).expanduser()
    shown = _show(path)
    evidence = [t("preflight.ev.path", path=shown)]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _result("secure_dir", FAIL, t("preflight.dir_missing", path=shown), evidence, t("preflight.hint.dir_create", path=shown))
    except OSError as exc:
        return _result("secure_dir", FAIL, t("preflight.dir_unreadable", path=shown, error=_error_text(exc)), evidence)
    if stat.S_ISLNK(st.st_mode):
        return _result("secure_dir", FAIL, t("preflight.dir_symlink", path=shown), evidence, t("preflight.hint.dir_symlink"))
    if not stat.S_ISDIR(st.st_mode):
        return _result("secure_dir", FAIL, t("preflight.dir_not_dir", path=shown), evidence, t("preflight.hint.dir_create", path=shown))
    mode = stat.S_IMODE(st.st_mode)
    evidence.append(t("preflight.ev.owner_mode", uid=st.st_uid, me=os.geteuid(), mode=f"{mode:04o}"))
    if st.st_uid != os.geteuid():
        return _result("secure_dir", FAIL, t("preflight.dir_owner", uid=st.st_uid, me=os.geteuid()), evidence, t("preflight.hint.dir_owner", path=shown))
    if mode & 0o077:
        return _result("secure_dir", FAIL, t("preflight.dir_mode", mode=f"{mode:04o}"), evidence, t("preflight.hint.dir_mode", path=shown))
    if not os.access(path, os.W_OK | os.X_OK):
        return _result("secure_dir", FAIL, t("preflight.dir_not_writable", mode=f"{mode:04o}"), evidence, t("preflight.hint.dir_mode", path=shown))
    resolved = path.resolve()
    mount_point, fs_type = _mount_of(resolved)
    if fs_type:
        evidence.append(t("preflight.ev.mount", mount=_show(mount_point), fs=_show(fs_type)))
    warnings: list[str] = []
    hints: list[str] = []
    try:
        vfs = os.statvfs(path)
        free = vfs.f_bavail * vfs.f_frsize
        evidence.append(t("preflight.ev.free", mib=free >> 20))
    except OSError:
        free = None
    if free is not None and free < FREE_SPACE_FAIL:
        return _result("secure_dir", FAIL, t("preflight.dir_full", mib=free >> 20), evidence, t("preflight.hint.dir_space"))
    base_type = fs_type.split(".")[-1] if fs_type.startswith("fuse.") else fs_type
    if base_type in NETWORK_FILESYSTEMS or fs_type in ("fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.davfs2"):
        warnings.append(t("preflight.dir_network_fs", fs=_show(fs_type)))
        hints.append(t("preflight.hint.dir_local"))
    elif fs_type in MEMORY_FILESYSTEMS:
        warnings.append(t("preflight.dir_memory_fs", fs=fs_type))
        hints.append(t("preflight.hint.dir_local"))
    for root in ctx.temp_roots:
        try:
            root_resolved = Path(root).resolve()
        except OSError:
            continue
        if resolved == root_resolved or root_resolved in resolved.parents:
            warnings.append(t("preflight.dir_in_temp", root=_show(root)))
            hints.append(t("preflight.hint.dir_local"))
            break
    if free is not None and free < FREE_SPACE_WARN:
        warnings.append(t("preflight.dir_low_space", mib=free >> 20))
        hints.append(t("preflight.hint.dir_space"))
    loose = []
    try:
        for entry in sorted(os.scandir(path), key=lambda e: e.name)[:200]:
            entry_stat = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(entry_stat.st_mode) and entry_stat.st_mode & 0o077:
                loose.append(f"{_show(entry.name, 60)} ({stat.S_IMODE(entry_stat.st_mode):04o})")
    except OSError:
        pass
    if loose:
        warnings.append(t("preflight.dir_loose_children", names=", ".join(loose[:5])))
        hints.append(t("preflight.hint.dir_mode", path=shown))
    if warnings:
        return _result("secure_dir", WARN, warnings[0], evidence + [f"- {w}" for w in warnings[1:]], " ".join(dict.fromkeys(hints)))
    return _result("secure_dir", PASS, t("preflight.dir_ok", mode=f"{mode:04o}", gib=f"{(free or 0) / (1 << 30):.1f}"), evidence)


def check_profile(ctx: _Context) -> CheckResult:
    problems = validate_profile(ctx.profile)
    errors = [p for p in problems if p.severity == "error"]
    evidence = [f"{mark(FAIL if p.severity == 'error' else WARN)} {t('config.field.' + p.attr)}: {_show(p.message)}" for p in problems]
    if errors:
        return _result("profile", FAIL, t("preflight.profile_errors", errors=len(errors), warnings=len(problems) - len(errors)), evidence, t("preflight.hint.profile"))
    if problems:
        return _result("profile", WARN, t("preflight.profile_warnings", warnings=len(problems)), evidence, t("preflight.hint.profile"))
    return _result("profile", PASS, t("preflight.profile_ok"), evidence)


def check_feedback_gateway(ctx: _Context) -> CheckResult:
    try:
        endpoint = feedback_endpoint(ctx.profile)
    except EndpointError as exc:
        return _result("feedback_gateway", FAIL, str(exc), hint=t("preflight.hint.url"))
    deadline = ctx.deadline("feedback_gateway")
    timeout = ctx.timeouts["feedback_gateway"]
    answer = _http_get(ctx, endpoint, deadline)
    conn = answer.conn
    evidence = _dns_lines(conn.dns)
    if conn.tcp is not None:
        evidence.append(_tcp_line(conn.tcp))
    if conn.stage in ("address", "tcp", "proxy"):
        status, detail, hint = _connection_failure(conn, "feedback_gateway", timeout)
        return _result("feedback_gateway", status, detail, evidence, hint)
    evidence += _tls_lines(conn)
    cert_lines, facts = _cert_lines(conn.peer_der, ctx.now())
    evidence += cert_lines
    if conn.stage != "ok":
        detail, hint = _tls_failure(conn, ctx.now(), facts, timeout)
        return _result("feedback_gateway", FAIL, detail, evidence, hint)
    evidence += _http_evidence(answer)
    if not answer.ok:
        status, detail, hint = _http_failure(answer, timeout)
        return _result("feedback_gateway", status, detail, evidence, hint)
    detail = t("preflight.gateway_ok", status=answer.status, reason=answer.reason)
    if answer.status >= 500:
        return _result("feedback_gateway", WARN, detail, evidence, t("preflight.hint.http_5xx"))
    return _result("feedback_gateway", PASS, detail, evidence)


def _check_manual(ctx: _Context, check_id: str) -> CheckResult:
    confirmed = bool(getattr(ctx.profile, MANUAL_CHECKS[check_id]))
    if confirmed:
        return _result(check_id, PASS, t("preflight.manual_confirmed"), [t(f"preflight.manual.{check_id}")])
    return _result(check_id, MANUAL, t(f"preflight.manual.{check_id}"), hint=t("preflight.hint.manual"))


CHECKS: dict[str, Callable[[_Context], CheckResult]] = {
    "dns": check_dns,
    "tcp": check_tcp,
    "tls": check_tls,
    "http": check_http,
    "clock": check_clock,
    "ssb_certificate": check_ssb_certificate,
    "tpf_certificate": check_tpf_certificate,
    "secure_dir": check_secure_dir,
    "profile": check_profile,
    "feedback_gateway": check_feedback_gateway,
    "spam_allowlist": lambda ctx: _check_manual(ctx, "spam_allowlist"),
    "postmottak_routing": lambda ctx: _check_manual(ctx, "postmottak_routing"),
}


def default_temp_roots() -> tuple[Path, ...]:
    roots = {Path("/tmp"), Path("/var/tmp")}
    if os.environ.get("TMPDIR"):
        roots.add(Path(os.environ["TMPDIR"]))
    return tuple(sorted(roots))


def _run_one(check_id: str, ctx: _Context, results: queue.SimpleQueue) -> None:
    started = time.monotonic()
    try:
        result = CHECKS[check_id](ctx)
    except _Cancelled:
        result = _result(check_id, SKIP, t("preflight.cancelled"))
    except Exception as exc:  # noqa: BLE001 - one broken check must not break the list
        result = _result(check_id, FAIL, t("preflight.internal_error", error=f"{type(exc).__name__}: {_show(exc)}"))
    result.elapsed_ms = (time.monotonic() - started) * 1000
    results.put(result)


def run_checks(
    profile: Profile,
    *,
    only: Iterable[str] | None = None,
    resolver: Resolver | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    now: Callable[[], dt.datetime] | None = None,
    timeout: float | None = None,
    timeouts: dict[str, float] | None = None,
    temp_roots: Iterable[Path] | None = None,
) -> list[CheckResult]:
    """Run the checks (all, or ``only`` these ids) concurrently; results in ``CHECK_IDS`` order.

    Each check's timeout (``timeouts[id]``, else ``timeout``, else the profile's) counts from the
    start of the run; the run returns by the largest of them plus ``GRACE_SECONDS`` at the latest,
    and at once when ``cancel`` is set (unfinished checks then say "cancelled").
    """
    wanted = list(CHECK_IDS) if only is None else [i for i in CHECK_IDS if i in set(only)]
    unknown = set(only or ()) - set(CHECK_IDS)
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(sorted(unknown))}")
    base = float(timeout if timeout is not None else profile.preflight_timeout)
    limits = {check_id: float((timeouts or {}).get(check_id, base)) for check_id in CHECK_IDS}
    cancel = cancel or threading.Event()
    ctx = _Context(
        profile,
        resolver or system_resolver,
        cancel,
        now or (lambda: dt.datetime.now(dt.timezone.utc)),
        limits,
        tuple(Path(p) for p in (default_temp_roots() if temp_roots is None else temp_roots)),
    )
    finished: queue.SimpleQueue = queue.SimpleQueue()
    for check_id in wanted:
        threading.Thread(target=_run_one, args=(check_id, ctx, finished), name=f"preflight-{check_id}", daemon=True).start()
    hard_stop = ctx.started + max((limits[i] for i in wanted), default=0.0) + GRACE_SECONDS
    results: dict[str, CheckResult] = {}
    while len(results) < len(wanted) and not cancel.is_set():
        remaining = hard_stop - time.monotonic()
        if remaining <= 0:
            break
        try:
            result = finished.get(timeout=min(remaining, 0.05))
        except queue.Empty:
            continue
        results[result.id] = result
        if progress is not None:
            progress(result)
    for check_id in wanted:
        if check_id in results:
            continue
        if cancel.is_set():
            result = _result(check_id, SKIP, t("preflight.cancelled"))
        else:
            result = _result(check_id, FAIL, t("preflight.overran", seconds=_seconds(limits[check_id])), hint=t("preflight.hint.overran"))
        result.elapsed_ms = (time.monotonic() - ctx.started) * 1000
        results[check_id] = result
        if progress is not None:
            progress(result)
    return [results[i] for i in wanted]


def summary_counts(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    return counts


def all_ok(results: Iterable[CheckResult]) -> bool:
    return not any(result.status == FAIL for result in results)


# --- the report -------------------------------------------------------------------------------


def mark(status: str) -> str:
    """The text mark of a status, readable without colour: [OK], [!!], [FEIL], [--], [??]."""
    return t(f"preflight.mark.{status}")


def render_report(
    results: list[CheckResult],
    profile: Profile,
    *,
    generated_at: dt.datetime,
    host: str,
    config_path: Path | None = None,
) -> str:
    """The plain-text report an operator pastes into an IT ticket."""
    from iplos_tui import __version__
    from iplos_tui.core.tlsconfig import trust_source

    counts = summary_counts(results)
    lines = [
        t("preflight.report.title"),
        "=" * len(t("preflight.report.title")),
        t("preflight.report.generated", when=generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), host=_show(host), version=__version__),
    ]
    if config_path is not None:
        lines.append(t("preflight.report.config", path=_show(config_path)))
    lines += [
        t("preflight.report.profile", kommunenr=_show(profile.kommunenr or "-"), bydel=_show(profile.bydel), year=profile.year),
        t("preflight.report.sendemodul", url=_show(profile.sendemodul_url), expected=_show(profile.sendemodul_address or "-")),
    ]
    if profile.sendemodul_connect_address:
        lines.append(t("preflight.report.override", address=_show(profile.sendemodul_connect_address)))
    if profile.proxy:
        lines.append(t("preflight.report.proxy", proxy=_show(_mask_proxy(profile.proxy))))
    lines += [
        t("preflight.report.trust", source=_show(trust_source(profile.sendemodul_ca_bundle))),
        t("preflight.report.feedback", url=_show(profile.feedback_url)),
        t("preflight.report.timeout", seconds=_seconds(profile.preflight_timeout)),
        "",
        t(
            "preflight.report.summary",
            ok=counts[PASS],
            warn=counts[WARN],
            fail=counts[FAIL],
            skip=counts[SKIP],
            manual=counts[MANUAL],
        ),
        "",
    ]
    for result in results:
        lines.append(f"{mark(result.status):<6} {result.id} — {_show(result.title)} ({result.elapsed_ms:.0f} ms)")
        lines.append(f"       {safe_text(result.detail, one_line=True)}")
        for item in result.evidence:
            lines.append(f"         {safe_text(item, one_line=True)}")
        if result.hint:
            lines.append(f"       {t('preflight.report.hint')}: {safe_text(result.hint, one_line=True)}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


class ReportError(Exception):
    pass


def write_report(
    results: list[CheckResult],
    profile: Profile,
    *,
    generated_at: dt.datetime | None = None,
    host: str | None = None,
    config_path: Path | None = None,
) -> Path:
    """Write the report into ``<secure_dir>/reports/`` atomically (0600); returns its path."""
    from iplos_tui.core.fsutil import UnsafePathError, atomic_write_bytes, ensure_private_dir

    generated_at = generated_at or dt.datetime.now().astimezone()
    host = host or socket.gethostname()
    secure = Path(profile.secure_dir).expanduser()
    if not secure.is_dir():
        raise ReportError(t("preflight.report.no_secure_dir", path=_show(secure)))
    try:
        directory = ensure_private_dir(secure / "reports")
    except (UnsafePathError, OSError) as exc:
        raise ReportError(t("preflight.report.cannot_write", path=_show(secure / "reports"), error=_show(exc))) from None
    stem = f"preflight-{profile.kommunenr or 'profil'}-{generated_at.strftime('%Y%m%d-%H%M%S')}"
    path = directory / f"{stem}.txt"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{stem}-{counter}.txt"
    text = render_report(results, profile, generated_at=generated_at, host=host, config_path=config_path)
    try:
        atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise ReportError(t("preflight.report.cannot_write", path=_show(path), error=_error_text(exc))) from None
    return path
