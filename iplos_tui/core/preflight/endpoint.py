"""The two endpoints the checklist reaches (the Sendemodul and the feedback gateway) and the
profile's proxy, parsed once into plain values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from iplos_tui.core.config import Profile
from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.model import show


class EndpointError(IplosError, ValueError):
    """A URL or proxy setting in the profile that cannot be used (the message says which)."""

    exit_code = ExitCode.USAGE


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


def parse_endpoint(name: str, url: str, **options: Any) -> Endpoint:
    """An https URL as an Endpoint; EndpointError (translated) when it cannot be one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError as exc:
        raise EndpointError(t("preflight.url_invalid", url=show(url), error=show(exc))) from None
    if parts.scheme != "https":
        raise EndpointError(t("preflight.url_not_https", url=show(url)))
    if not parts.hostname:
        raise EndpointError(t("preflight.url_no_host", url=show(url)))
    host = parts.hostname.rstrip(".")
    try:
        host.encode("idna")
    except UnicodeError:
        raise EndpointError(t("preflight.url_no_host", url=show(url))) from None
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
    return parse_endpoint("feedback", profile.gateway_url, ca_bundle=profile.gateway_ca_bundle)


def parse_proxy(proxy: str) -> tuple[str, int, str | None]:
    """(host, port, Basic credentials or None) of an ``http://[user:pass@]host[:port]`` proxy."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise EndpointError(t("preflight.proxy_invalid", proxy=show(mask_proxy(proxy))))
    auth = None
    if parts.username is not None:
        import base64

        raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = base64.b64encode(raw).decode("ascii")
    return parts.hostname, parts.port or 80, auth


def mask_proxy(proxy: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", proxy)
