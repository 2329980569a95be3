"""Each resolver asked by itself (dnspython): who answered, the answer, its TTL, authoritative or
not, the CNAME chain and the time, for A and AAAA. Plus the two files the machine's own lookup
reads first: the hosts file (an entry there overrides DNS) and resolv.conf (the nameservers).

dnspython is imported when a query is made, never at start-up. Every query has its own timeout,
cut at the deadline of the run; UDP first, TCP when the answer comes truncated (as a stub resolver
does).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from iplos_tui.core.preflight.model import show

RESOLV_CONF = Path("/etc/resolv.conf")
HOSTS_FILE = Path("/etc/hosts")
QUERY_TIMEOUT = 2.0  # one query's own bound (inside the dns check's deadline)
MAX_NAMESERVERS = 6
MAX_FILE_BYTES = 256 * 1024
QTYPES = ("A", "AAAA")


@dataclass(frozen=True)
class Nameserver:
    address: str
    port: int = 53
    source: str = "system"  # system (resolv.conf) | profile

    @property
    def label(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return host if self.port == 53 else f"{host}:{self.port}"


def parse_nameserver(spec: str, source: str = "profile") -> Nameserver | None:
    """``10.0.0.53``, ``10.0.0.53:5353``, ``::1``, ``[::1]:5353``; None when it is not an address."""
    text = spec.strip()
    port = 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            if not rest[1:].isdigit():
                return None
            port = int(rest[1:])
        text = host
    elif text.count(":") == 1:
        text, _, number = text.partition(":")
        if not number.isdigit():
            return None
        port = int(number)
    try:
        address = str(ipaddress.ip_address(text.split("%")[0]))
    except ValueError:
        return None
    if not 0 < port < 65536:
        return None
    return Nameserver(address, port, source)


def _read_small(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(MAX_FILE_BYTES)
    except OSError:
        return ""


def system_nameservers(path: Path | None = None) -> list[Nameserver]:
    """The ``nameserver`` lines of resolv.conf, in order (glibc uses at most three)."""
    servers = []
    for line in _read_small(path or RESOLV_CONF).splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            server = parse_nameserver(fields[1], "system")
            if server is not None and server not in servers:
                servers.append(server)
    return servers[:3]


@dataclass(frozen=True)
class HostsEntry:
    line: int
    address: str
    text: str  # the line as written (shown as evidence)


def hosts_entries(host: str, path: Path | None = None) -> list[HostsEntry]:
    """The hosts file's lines that name ``host`` (they win over DNS in ``hosts: files dns``)."""
    wanted = host.rstrip(".").lower()
    found = []
    for number, line in enumerate(_read_small(path or HOSTS_FILE).splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2 or wanted not in (name.rstrip(".").lower() for name in fields[1:]):
            continue
        try:
            address = str(ipaddress.ip_address(fields[0].split("%")[0]))
        except ValueError:
            continue
        found.append(HostsEntry(number, address, show(" ".join(fields), 160)))
    return found


@dataclass
class QueryAnswer:
    server: Nameserver
    qtype: str
    kind: str  # ok | nodata | nxdomain | servfail | refused | rcode | timeout | error
    addresses: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)  # the CNAME chain from the name, if any
    ttl: int | None = None
    authoritative: bool = False
    over_tcp: bool = False
    elapsed: float = 0.0
    error: str = ""

    @property
    def answered(self) -> bool:
        return self.kind in ("ok", "nodata")


def load_dnspython() -> None:
    """Import dnspython (a few hundred ms the first time on a busy machine) before a query is
    timed, so that the times shown are the resolvers'."""
    import dns.exception  # noqa: F401
    import dns.flags  # noqa: F401
    import dns.message  # noqa: F401
    import dns.name  # noqa: F401
    import dns.query  # noqa: F401
    import dns.rcode  # noqa: F401
    import dns.rdatatype  # noqa: F401


def query(server: Nameserver, host: str, qtype: str, deadline: float) -> QueryAnswer:
    """One question to one resolver, within ``min(QUERY_TIMEOUT, the time left)``."""
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype

    answer = QueryAnswer(server, qtype, "timeout")
    started = time.monotonic()
    limit = min(started + QUERY_TIMEOUT, deadline)
    try:
        message = dns.message.make_query(host, qtype)
        try:
            response = dns.query.udp(message, server.address, timeout=max(limit - time.monotonic(), 0.001), port=server.port, raise_on_truncation=True)
        except dns.message.Truncated:
            answer.over_tcp = True
            response = dns.query.tcp(message, server.address, timeout=max(limit - time.monotonic(), 0.001), port=server.port)
    except dns.exception.Timeout:
        answer.elapsed = time.monotonic() - started
        return answer
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        answer.kind, answer.error = "error", show(str(exc) or type(exc).__name__, 120)
        answer.elapsed = time.monotonic() - started
        return answer
    answer.elapsed = time.monotonic() - started
    answer.authoritative = bool(response.flags & dns.flags.AA)
    rcode = response.rcode()
    if rcode != dns.rcode.NOERROR:
        names = {dns.rcode.NXDOMAIN: "nxdomain", dns.rcode.SERVFAIL: "servfail", dns.rcode.REFUSED: "refused"}
        answer.kind = names.get(rcode, "rcode")
        answer.error = dns.rcode.to_text(rcode)
        return answer
    name = dns.name.from_text(host)
    wanted = dns.rdatatype.from_text(qtype)
    for _ in range(10):  # follow the CNAME chain through the answer section
        alias = next((r for r in response.answer if r.name == name and r.rdtype == dns.rdatatype.CNAME), None)
        if alias is None:
            break
        name = alias[0].target
        answer.chain.append(show(name.to_text().rstrip("."), 120))
    records = next((r for r in response.answer if r.name == name and r.rdtype == wanted), None)
    if records is None:
        answer.kind = "nodata"
        return answer
    answer.kind = "ok"
    answer.ttl = int(records.ttl)
    for record in records:
        text = show(record.to_text(), 60)
        if text not in answer.addresses:
            answer.addresses.append(text)
    return answer


def stub_resolver(nameservers: list[Nameserver], hosts_file: Path | None, deadline_of: Callable[[], float]) -> Callable[[str], list[str]]:
    """A lookup as ``hosts: files dns`` does it, over the given nameservers instead of the
    system's: for a machine (or the sandbox) where the profile names the resolvers to use.
    ``deadline_of()`` gives the deadline for each call."""

    def resolve(host: str) -> list[str]:
        import socket

        load_dnspython()

        entries = hosts_entries(host, hosts_file)
        if entries:
            return list(dict.fromkeys(e.address for e in entries))
        failures = []
        for server in nameservers:
            answers = [query(server, host, qtype, deadline_of()) for qtype in QTYPES]
            if any(a.answered for a in answers):
                return [address for a in answers for address in a.addresses]
            failures.append(answers[0])
        if failures and all(a.kind == "nxdomain" for a in failures):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if failures and all(a.kind == "timeout" for a in failures):
            raise TimeoutError("no answer from the nameservers")
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    resolve.prepare = load_dnspython  # type: ignore[attr-defined]  # Context calls it before timing
    return resolve
