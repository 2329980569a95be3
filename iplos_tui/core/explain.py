"""Exceptions in words: what the operator reads instead of "[Errno 111] Connection refused" or
"RemoteProtocolError: ...". One helper for every area, CLI and TUI alike::

    from iplos_tui.core.explain import explain
    log(t("x.failed", reason=explain(exc)))

``IplosError`` keeps its own message; OS and network errors (``OSError`` by errno, ``ssl``,
``socket``, httpx's transport errors, found through ``__cause__``/``__context__`` as httpx wraps
them) map to catalog messages; anything else names only its type. A path named by the OS error
is shown through ``safe_text``. httpx is never imported here (classes are told by name).
"""

from __future__ import annotations

import errno
import socket
import ssl

from iplos_tui.core.i18n import t

_ERRNO_KEYS = {
    errno.ECONNREFUSED: "explain.refused",
    errno.ECONNRESET: "explain.reset",
    errno.ECONNABORTED: "explain.reset",
    errno.EPIPE: "explain.reset",
    errno.ETIMEDOUT: "explain.timeout",
    errno.EHOSTUNREACH: "explain.unreachable",
    errno.ENETUNREACH: "explain.unreachable",
    errno.EADDRINUSE: "explain.address_in_use",
    errno.EADDRNOTAVAIL: "explain.unreachable",
    errno.ENOENT: "explain.not_found",
    errno.EACCES: "explain.permission",
    errno.EPERM: "explain.permission",
    errno.EISDIR: "explain.is_directory",
    errno.ENOTDIR: "explain.not_directory",
    errno.ENOSPC: "explain.disk_full",
    errno.EDQUOT: "explain.disk_full",
    errno.EROFS: "explain.read_only",
    errno.EEXIST: "explain.exists",
    errno.ENAMETOOLONG: "explain.name_too_long",
    errno.ELOOP: "explain.symlink_loop",
}

# httpx's exception classes by name (its module is not imported here).
_HTTPX_KEYS = {
    "ConnectTimeout": "explain.timeout",
    "ReadTimeout": "explain.read_timeout",
    "WriteTimeout": "explain.timeout",
    "PoolTimeout": "explain.timeout",
    "RemoteProtocolError": "explain.protocol",
    "LocalProtocolError": "explain.protocol",
    "ProxyError": "explain.proxy",
    "UnsupportedProtocol": "explain.unsupported_url",
    "InvalidURL": "explain.unsupported_url",
    "TooManyRedirects": "explain.redirect",
    "DecodingError": "explain.decoding",
    "ReadError": "explain.reset",
    "WriteError": "explain.reset",
    "CloseError": "explain.reset",
}


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _path_of(error: OSError) -> str:
    from iplos_tui.core.text import safe_text

    name = error.filename if error.filename is not None else ""
    return safe_text(str(name), one_line=True) if name != "" else ""


def _explain_os(error: OSError) -> str | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        return t("explain.certificate", detail=_ssl_detail(error))
    if isinstance(error, ssl.SSLError):
        return t("explain.tls")
    if isinstance(error, socket.gaierror):
        return t("explain.name_lookup")
    if isinstance(error, (TimeoutError, socket.timeout)):
        return t("explain.timeout")
    key = _ERRNO_KEYS.get(error.errno or -1)
    if key is None:
        return None
    path = _path_of(error)
    text = t(key)
    return t("explain.with_path", what=text, path=path) if path else text


def _ssl_detail(error: ssl.SSLCertVerificationError) -> str:
    from iplos_tui.core.text import safe_text

    return safe_text(str(error.verify_message or error.reason or ""), one_line=True, limit=120)


def explain(error: BaseException) -> str:
    """``error`` as one sentence in the UI language, without errno numbers or class names."""
    from iplos_tui.core.errors import IplosError

    if isinstance(error, IplosError):
        return error.message()
    chain = _chain(error)
    for link in chain:  # the most specific cause first: an OS error inside an httpx error
        if isinstance(link, OSError):
            text = _explain_os(link)
            if text:
                return text
    for link in chain:
        for cls in type(link).__mro__:
            if cls.__module__.startswith("httpx"):
                key = _HTTPX_KEYS.get(cls.__name__)
                if key:
                    return t(key)
                if cls.__name__ == "ConnectError":
                    return t("explain.connect")
    if isinstance(error, TimeoutError):
        return t("explain.timeout")
    if isinstance(error, OSError):
        return t("explain.os_other", code=errno.errorcode.get(error.errno or -1, "?"))
    if isinstance(error, MemoryError):
        return t("explain.memory")
    if isinstance(error, UnicodeError):
        return t("explain.decoding")
    return t("explain.unexpected", kind=type(error).__name__)
