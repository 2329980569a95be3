"""The one error model: every error the console explains to a person derives from ``IplosError``.

An ``IplosError`` carries what a front end needs and nothing else: ``message()`` (already in the
UI language, outside text already through ``safe_text``), ``hint()`` (what to do, or ``None``) and
``exit_code`` (the CLI's exit code; the TUI shows the same message). ``Cancelled`` is the one
cancellation type: core flows raise it when their cancel event is set.

``explain()`` turns *any* exception into the same three things, so that neither front end ever
shows a traceback: the CLI's top level prints one line (plus the hint) and exits with the code;
the TUI's worker handler (``IplosApp.on_worker_state_changed``) shows the message and hands the
pane a ``RunFailed``.
"""

from __future__ import annotations

import errno  # a built-in module: the tables below cost nothing at start-up
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    import ssl


class IplosError(Exception):
    """Base of every explained error: ``message()`` is the one argument it was raised with unless a
    subclass builds it; subclasses set ``exit_code`` and may add ``hint()``."""

    exit_code: ExitCode = ExitCode.FAILED

    def message(self) -> str:
        return str(self)

    def hint(self) -> str | None:
        return None


class Cancelled(IplosError):
    """The operator (or a signal) asked a flow to stop; nothing half-written is left behind."""

    exit_code = ExitCode.INTERRUPTED

    def message(self) -> str:
        return t("cli.interrupted")


class Explanation(NamedTuple):
    """What a person is told about an error: one message, an optional hint, the exit code."""

    message: str
    hint: str | None
    exit_code: ExitCode
    cancelled: bool = False
    expected: bool = True  # False: not an IplosError, i.e. a defect of ours worth reporting


def explain(error: BaseException) -> Explanation:
    """Explain any exception in the UI language, sanitised, without a traceback.

    An ``IplosError`` speaks for itself. ``KeyboardInterrupt`` is a cancellation. Anything else
    is a defect (or an unforeseen fault): it is named by its type, its own text (through
    ``safe_text``, one line, bounded) and the innermost place it came from, so that a report of
    it is useful and never shows local variables.
    """
    if isinstance(error, IplosError):
        hint = error.hint()
        return Explanation(
            safe_text(error.message()),
            safe_text(hint) if hint else None,
            ExitCode(error.exit_code),
            cancelled=isinstance(error, Cancelled),
        )
    if isinstance(error, KeyboardInterrupt):
        return Explanation(t("cli.interrupted"), None, ExitCode.INTERRUPTED, cancelled=True)
    kind = safe_text(type(error).__name__, one_line=True)
    detail = safe_text(str(error), one_line=True, limit=300)
    if isinstance(error, (MemoryError, RecursionError)):
        message = t("errors.too_complex", kind=kind)
    elif isinstance(error, OSError) and error.strerror:
        words = describe(error)
        message = words[:1].upper() + words[1:] + ("" if words.endswith(".") else ".")
    else:
        message = t("errors.unexpected", kind=kind, detail=detail) if detail else t("errors.unexpected_bare", kind=kind)
    return Explanation(message, t("errors.report_hint", where=_origin(error)), ExitCode.FAILED, expected=False)


def _origin(error: BaseException) -> str:
    """``file.py:123 in function`` of the innermost frame (no path, no locals)."""
    import traceback  # only when something went wrong: it costs start-up (`iplos --version`)

    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"


# --- exceptions in words: what the operator reads instead of "[Errno 111] Connection refused" ---

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
    name = error.filename if error.filename is not None else ""
    return safe_text(str(name), one_line=True) if name != "" else ""


def _explain_os(error: OSError) -> str | None:
    import socket
    import ssl  # only once something failed: ssl costs start-up

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
    return safe_text(str(error.verify_message or error.reason or ""), one_line=True, limit=120)


def describe(error: BaseException) -> str:
    """``error`` as one sentence in the UI language, without errno numbers or class names."""
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
