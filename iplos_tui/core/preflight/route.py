"""The way out to an address, as ``ip route get`` would say it: the interface, the gateway and the
source address. Read from the kernel's routing tables (``/proc/net/route``, ``/proc/net/ipv6_route``)
and, for the source address, from a UDP socket connected to the address (``connect`` on a datagram
socket only picks the route: no packet is sent)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

PROC_ROUTE = Path("/proc/net/route")
PROC_ROUTE6 = Path("/proc/net/ipv6_route")
RTF_GATEWAY = 0x2
RTF_REJECT = 0x200


@dataclass(frozen=True)
class Route:
    destination: str
    interface: str = ""
    gateway: str = ""  # empty: on the link (or local)
    source: str = ""
    loopback: bool = False


def _read(path: Path) -> list[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read(1 << 20).splitlines()
    except OSError:
        return []


def _swap(value: int) -> int:
    """The kernel prints IPv4 fields little-endian: to network order."""
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _ipv4_route(address: ipaddress.IPv4Address, path: Path) -> tuple[str, str]:
    best: tuple[int, int, str, str] | None = None  # (prefix length, -metric, interface, gateway)
    for line in _read(path)[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination = int(fields[1], 16)
            gateway = int(fields[2], 16)
            flags = int(fields[3], 16)
            metric = int(fields[6])
            mask = int(fields[7], 16)
        except ValueError:
            continue
        if int(address) & _swap(mask) != _swap(destination):
            continue
        candidate = (bin(mask).count("1"), -metric, fields[0], str(ipaddress.IPv4Address(_swap(gateway))) if flags & RTF_GATEWAY else "")
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return (best[2], best[3]) if best else ("", "")


def _ipv6_route(address: ipaddress.IPv6Address, path: Path) -> tuple[str, str]:
    best: tuple[int, int, str, str] | None = None
    for line in _read(path):
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            network = ipaddress.IPv6Network((int(fields[0], 16), int(fields[1], 16)), strict=False)
            next_hop = ipaddress.IPv6Address(int(fields[4], 16))
            metric = int(fields[5], 16)
            flags = int(fields[8], 16)
        except ValueError:
            continue
        if address not in network or flags & RTF_REJECT:
            continue
        candidate = (network.prefixlen, -metric, fields[9], "" if next_hop == ipaddress.IPv6Address(0) else str(next_hop))
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return (best[2], best[3]) if best else ("", "")


def source_address(address: str, port: int = 443) -> str:
    """The source address the kernel picks for ``address`` (no packet sent), or ""."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((address, port))
            return str(probe.getsockname()[0])
    except OSError:
        return ""


def route_to(address: str, port: int = 443, *, source: str = "") -> Route:
    """How this machine reaches ``address``; ``source`` when the TCP socket already told it."""
    try:
        parsed = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return Route(address)
    if parsed.is_loopback:
        return Route(address, "lo", "", source or address, loopback=True)
    if isinstance(parsed, ipaddress.IPv4Address):
        interface, gateway = _ipv4_route(parsed, PROC_ROUTE)
    else:
        interface, gateway = _ipv6_route(parsed, PROC_ROUTE6)
    return Route(address, interface, gateway, source or source_address(address, port))
