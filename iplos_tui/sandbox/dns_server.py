"""A small DNS responder on loopback (UDP and TCP on one ephemeral port), messages built and parsed
with dnspython: the sandbox's resolver for the Sendemodul's name, and the tests' resolver with its
fault modes.

::

    with DnsServer({"iplos.sandbox.test": ["127.0.0.1"]}) as server:
        server.spec            # "127.0.0.1:PORT", as the profile's preflight.nameservers takes it
        server.queries         # [("udp", "iplos.sandbox.test.", "A"), ...]

``mode``: ``answer`` (the records, authoritative), ``silent`` (never answers: the client times
out), ``servfail``, ``nxdomain``, ``refused``, ``truncate`` (UDP answers carry only the TC bit, so
the client asks again over TCP, where the records come). A name it does not hold is NXDOMAIN.
``cnames`` maps a name to another (an alias), answered as a CNAME chain. Wrong addresses and
resolvers that disagree are just servers with other records.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterable

MODES = ("answer", "silent", "servfail", "nxdomain", "refused", "truncate")
MAX_TCP_MESSAGE = 65535


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


class DnsServer:
    def __init__(
        self,
        records: dict[str, Iterable[str]] | None = None,
        *,
        cnames: dict[str, str] | None = None,
        mode: str = "answer",
        ttl: int = 300,
        host: str = "127.0.0.1",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if host not in ("127.0.0.1", "::1"):
            raise ValueError("the sandbox DNS server listens on loopback only")
        self.records = {_fqdn(name): list(addresses) for name, addresses in (records or {}).items()}
        self.cnames = {_fqdn(name): _fqdn(target) for name, target in (cnames or {}).items()}
        self.mode = mode
        self.ttl = ttl
        self.host = host
        self.port = 0
        self.queries: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None

    @property
    def spec(self) -> str:
        """``host:port`` (``[::1]:port`` for IPv6): how a profile names this resolver."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    # -- life -------------------------------------------------------------------------------
    def start(self) -> DnsServer:
        if self._udp is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _attempt in range(20):  # UDP and TCP on one port: take a free UDP port, then TCP on it
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            break
        else:
            raise OSError("no free port for the sandbox DNS server")
        udp.settimeout(0.1)
        tcp.settimeout(0.1)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._stop.clear()
        for target, name in ((self._serve_udp, "udp"), (self._serve_tcp, "tcp")):
            thread = threading.Thread(target=target, daemon=True, name=f"sandbox-dns-{name}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self._threads.clear()
        for sock in (self._udp, self._tcp):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._udp = self._tcp = None

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering --------------------------------------------------------------------------
    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query in wire format, or None for no reply (silent, or not DNS)."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        qname = question.name.to_text().lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append((transport, qname, qtype))
        if self.mode == "silent":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.mode in ("servfail", "refused"):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.SERVFAIL if self.mode == "servfail" else dns.rcode.REFUSED)
            return response.to_wire()
        if self.mode == "nxdomain":
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        if self.mode == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
            return response.to_wire()
        name, seen = qname, set()
        while name in self.cnames and name not in seen:
            seen.add(name)
            target = self.cnames[name]
            response.answer.append(dns.rrset.from_text(name, self.ttl, "IN", "CNAME", target))
            name = target
        if name not in self.records:
            if not seen:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return response.to_wire()
        family = "AAAA" if qtype == "AAAA" else "A"
        wanted = [a for a in self.records[name] if (":" in a) == (family == "AAAA")]
        if qtype in ("A", "AAAA") and wanted:
            response.answer.append(dns.rrset.from_text(name, self.ttl, "IN", family, *wanted))
        return response.to_wire()

    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            reply = self.answer(data, "udp")
            if reply is not None:
                with contextlib.suppress(OSError):
                    sock.sendto(reply, peer)

    def _serve_tcp(self) -> None:
        sock = self._tcp
        assert sock is not None
        while not self._stop.is_set():
            try:
                client, _ = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._handle_tcp, args=(client,), daemon=True).start()

    def _handle_tcp(self, client: socket.socket) -> None:
        client.settimeout(5)
        try:
            with client:
                while not self._stop.is_set():
                    head = _recv_exact(client, 2)
                    if head is None:
                        return
                    (length,) = struct.unpack("!H", head)
                    data = _recv_exact(client, length)
                    if data is None:
                        return
                    reply = self.answer(data, "tcp")
                    if reply is None:
                        continue  # silent: hold the line open, say nothing
                    client.sendall(struct.pack("!H", len(reply)) + reply[:MAX_TCP_MESSAGE])
        except OSError:
            pass


def _recv_exact(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data
