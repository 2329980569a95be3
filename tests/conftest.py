"""Shared fixtures: every test is isolated from the real home directory and from the network.

- Config discovery, platformdirs and $HOME point into tmp_path (autouse).
- Only loopback addresses may be reached: pytest-socket (see pyproject addopts) refuses other
  hosts, and the guard below fails a test that even tries to resolve, connect or send a datagram
  (a DNS query over UDP) elsewhere; the machine's resolv.conf is never read (its nameservers are
  not loopback): the preflight reads an empty one unless a test names its own resolvers.

Shared helpers and constants (canaries, the frozen clock, wait helpers) live in ``tests/support``;
tests import them from there, never from this file.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import settings

from iplos_tui.core import i18n
from tests.support import is_loopback

# No per-example deadline: it is a timed assertion (200 ms) that fails on a loaded machine; a
# test that hangs is stopped by pytest-timeout.
settings.register_profile("iplos", deadline=None)
settings.load_profile("iplos")

# shared fixtures for every test that names them: the gateway's (tls, gateway_server, gateway,
# faults) and a saved profile for `iplos --config` (config)
pytest_plugins = ["tests.support.gateway", "tests.support.cli"]


class NonLoopbackAccess(AssertionError):
    pass


@pytest.fixture(scope="session")
def empty_resolv_conf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("resolv") / "resolv.conf"
    path.write_text("# tests: no nameserver unless a test names one\n")
    return path


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch, empty_resolv_conf):
    """Fail any test that resolves or connects to anything but loopback."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_sendmsg = socket.socket.sendmsg

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not is_loopback(host):
            raise NonLoopbackAccess(f"test tried to resolve non-loopback host {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check_address(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise NonLoopbackAccess(f"test tried to connect to non-loopback address {address!r}")

    def guarded_connect(self, address):
        check_address(self, address)
        return real_connect(self, address)

    def guarded_connect_ex(self, address):
        check_address(self, address)
        return real_connect_ex(self, address)

    def guarded_sendto(self, data, *args):
        address = args[-1]  # sendto(data, address) or sendto(data, flags, address)
        check_address(self, address)
        return real_sendto(self, data, *args)

    def guarded_sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        if address is not None:
            check_address(self, address)
            return real_sendmsg(self, buffers, ancdata, flags, address)
        return real_sendmsg(self, buffers, ancdata, flags)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
    monkeypatch.setattr(socket.socket, "sendmsg", guarded_sendmsg)
    from iplos_tui.core.preflight import resolvers

    monkeypatch.setattr(resolvers, "RESOLV_CONF", empty_resolv_conf)
    yield


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Config discovery and platformdirs point into a fresh temp dir; no proxies from the env."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("IPLOS_CONFIG", raising=False)
    monkeypatch.delenv("IPLOS_LANG", raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    i18n.set_language("nb")
    yield home
    i18n.set_language("nb")


@pytest.fixture
def secure_dir(tmp_path) -> Path:
    path = tmp_path / "secure"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def valid_profile(secure_dir):
    from iplos_tui.sandbox.demo import DEMO_PROFILE

    return DEMO_PROFILE.replace(secure_dir=secure_dir, ssb_certificate=None, tpf_certificate=None)
