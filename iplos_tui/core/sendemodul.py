"""The Sendemodul client (docs/sendemodul-protocol.md): login, open, parts, commit, look-up.

One ``httpx.Client`` per run, built with an explicit TLS context, ``trust_env=False``, a proxy only
from the config, no redirects followed and explicit timeouts. Its network backend
(``core.sendemodul_transport``) connects to a fixed address when one is configured, checks the
SPKI pin before any request byte is written, and enforces a total deadline per request.

Every answer is read with a size cap and treated as untrusted: only JSON is accepted, and every
text shown from it passes ``safe_text``. Automatic retries happen only for failures before any
request byte was written (connection refused, connect timeout), with backoff and a time cap.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core import format as fmt
from iplos_tui.core.errors import Cancelled, IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.httpguard import make_transport
from iplos_tui.core.i18n import t
from iplos_tui.core.sendemodul_transport import Guard, SpkiPinMismatch, backend_classes, ssl_cause
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    import httpx

    from iplos_tui.core.secrets import Secret

API = "api/v1/"
CHUNK_SIZE = 1024 * 1024
MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
USER_AGENT = "iplos-tui"


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 10.0
    # Total time for one request: base + size / min_rate (an upload may take a while, a drip not).
    total_base: float = 120.0
    min_rate: float = 64 * 1024.0

    def total_for(self, size: int) -> float:
        return self.total_base + size / self.min_rate


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for failures before any request byte was written (restic-style backoff)."""

    attempts: int = 4
    first_delay: float = 0.5
    factor: float = 2.0
    max_elapsed: float = 20.0


class SendemodulError(IplosError):
    """One failed call. ``kind`` is stable (for the pipeline and tests); ``message()`` and
    ``hint()`` are for a person (already sanitised). ``sent`` is False only when it is certain that
    no byte of the request reached the server; ``body_sent`` when the request body began to flow."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        hint: str = "",
        status: int | None = None,
        code: str = "",
        sent: bool = True,
        body_sent: bool = False,
        attempts_left: int | None = None,
        locked_until: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.text = message
        self.advice = hint
        self.status = status
        self.code = code
        self.sent = sent
        self.body_sent = body_sent
        self.attempts_left = attempts_left
        self.locked_until = locked_until
        self.details = details or {}
        self.exit_code = ExitCode.AUTH if self.is_auth else (ExitCode.USAGE if kind == "config" else ExitCode.NETWORK)

    def message(self) -> str:
        return self.text

    def hint(self) -> str | None:
        return self.advice or None

    def __str__(self) -> str:
        return f"{self.text} {self.advice}".strip()

    @property
    def is_auth(self) -> bool:
        return self.kind in ("auth", "locked")

    @property
    def server_rejected(self) -> bool:
        """The server answered with an explicit refusal: it did not keep this request."""
        return self.kind in ("rejected", "conflict", "too_large", "session_expired", "unavailable", "auth", "locked")


class _SourceChanged(Exception):
    pass


@dataclass
class Answer:
    status: int
    data: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _clean(value: Any, limit: int = 300) -> str:
    return safe_text(str(value) if value is not None else "", one_line=True, limit=limit)


class SendemodulClient:
    """A client for one run; not thread-safe (one worker drives it)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_bundle: Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
        spki_pins: list[str] | tuple[str, ...] = (),
        connect_address: str = "",
        proxy: str = "",
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        from iplos_tui.core.tlsconfig import make_ssl_context, normalise_pin

        if not base_url.startswith("https://"):
            raise SendemodulError("config", t("sendemodul.https_only"), sent=False)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        pins = set()
        for pin in spki_pins:
            normal = normalise_pin(pin)
            if normal is None:
                raise SendemodulError("config", t("sendemodul.bad_pin_config", pin=_clean(pin, 80)), sent=False)
            pins.add(normal)
        context = ssl_context or make_ssl_context(ca_bundle)
        self._guard = Guard(pins)
        name = httpx.URL(self.base_url).host
        backend = backend_classes()(self._guard, name, connect_address)
        self._client = httpx.Client(
            transport=make_transport(context, backend, proxy),
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(
                connect=self.timeouts.connect,
                read=self.timeouts.read,
                write=self.timeouts.write,
                pool=self.timeouts.pool,
            ),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"},
        )
        self._session: str | None = None
        self.account: dict[str, str] = {}
        self.requests = 0  # requests handed to the transport (for tests and the log)

    @classmethod
    def from_profile(cls, profile: Any, **overrides: Any) -> SendemodulClient:
        kwargs: dict[str, Any] = {
            "ca_bundle": profile.sendemodul_ca_bundle,
            "spki_pins": list(profile.sendemodul_spki_pins or ()),
            "connect_address": profile.sendemodul_connect_address or "",
            "proxy": profile.proxy or "",
        }
        kwargs.update(overrides)
        return cls(profile.sendemodul_url, **kwargs)

    def close(self) -> None:
        self._session = None
        self._client.close()

    def __enter__(self) -> SendemodulClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def logged_in(self) -> bool:
        return self._session is not None

    # --- the protocol ------------------------------------------------------------------------

    def login(self, kommunenr: str, bydel: str, orgnr: str, pin: Secret) -> dict[str, str]:
        """Exactly one login request (connection set-up may be retried: nothing was sent then)."""
        self._session = None
        body = json.dumps({"kommunenr": kommunenr, "bydel": bydel, "orgnr": orgnr, "pin": pin.reveal()}).encode("utf-8")
        try:
            answer = self._call("POST", "login", body=body, content_type="application/json", authed=False)
        finally:
            del body
        if answer.status != 200:
            raise self._error_for(answer, "login")
        session = answer.data.get("session")
        if not isinstance(session, str) or not session or len(session) > 4096 or not session.isascii() or not session.isprintable():
            raise SendemodulError("bad_answer", t("sendemodul.bad_answer", detail="session"), status=200)
        self._session = session
        given = answer.data.get("account")
        account: dict[str, Any] = given if isinstance(given, dict) else {}
        self.account = {k: _clean(account.get(k), 120) for k in ("kommunenr", "bydel", "orgnr", "name")}
        return self.account

    def open(self, key: str, manifest: bytes) -> dict[str, Any]:
        import hashlib

        if len(manifest) > MAX_MANIFEST_BYTES:
            raise SendemodulError("config", t("sendemodul.manifest_too_large"), sent=False)
        answer = self._call(
            "PUT",
            f"submissions/{key}",
            body=manifest,
            content_type="application/json",
            extra={"Content-SHA256": hashlib.sha256(manifest).hexdigest(), "Idempotency-Key": key},
        )
        if answer.status not in (200, 201):
            raise self._error_for(answer, "open")
        return answer.data

    def upload_part(
        self,
        key: str,
        file: str,
        path: Path,
        size: int,
        sha256: str,
        *,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> dict[str, Any]:
        """Stream ``path`` in 1 MiB chunks with an explicit Content-Length (memory flat)."""
        answer = self._call(
            "PUT",
            f"submissions/{key}/parts/{file}",
            source=(Path(path), size),
            content_type="application/octet-stream",
            extra={"Content-SHA256": sha256, "Idempotency-Key": key},
            progress=progress,
            cancel=cancel,
        )
        if answer.status not in (200, 201):
            raise self._error_for(answer, "part")
        return answer.data

    def commit(self, key: str) -> dict[str, Any]:
        answer = self._call("POST", f"submissions/{key}/commit", body=b"", content_type="application/json", extra={"Idempotency-Key": key})
        if answer.status != 200:
            raise self._error_for(answer, "commit")
        return answer.data

    def lookup(self, key: str) -> dict[str, Any] | None:
        """The server's view of ``key``; None when it does not know it (404)."""
        answer = self._call("GET", f"submissions/{key}", extra={"Idempotency-Key": key}, idempotent=True)
        if answer.status == 404 and answer.data.get("error") == "unknown_submission":
            return None
        if answer.status != 200:
            raise self._error_for(answer, "lookup")
        return answer.data

    # --- transport ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        source: tuple[Path, int] | None = None,
        content_type: str = "",
        extra: dict[str, str] | None = None,
        authed: bool = True,
        idempotent: bool = False,
        progress: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Answer:
        if authed and self._session is None:
            raise SendemodulError("session_expired", t("sendemodul.not_logged_in"), sent=False)
        started = time.monotonic()
        delay = self.retry.first_delay
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, body, source, content_type, extra, authed, progress, cancel)
            except SendemodulError as exc:
                retryable = exc.kind in ("connect", "connect_timeout") and not exc.sent
                if idempotent and exc.kind in ("timeout", "network"):
                    retryable = True
                elapsed = time.monotonic() - started
                if not retryable or attempt >= self.retry.attempts or elapsed + delay > self.retry.max_elapsed:
                    exc.details.setdefault("attempts", attempt)
                    raise
                if cancel is not None and cancel.is_set():
                    raise
                self._sleep(delay)
                delay *= self.retry.factor

    def _once(
        self,
        method: str,
        path: str,
        body: bytes | None,
        source: tuple[Path, int] | None,
        content_type: str,
        extra: dict[str, str] | None,
        authed: bool,
        progress: Callable[[int], None] | None,
        cancel: threading.Event | None,
    ) -> Answer:
        import httpx

        headers: dict[str, str] = dict(extra or {})
        if content_type:
            headers["Content-Type"] = content_type
        if authed and self._session:
            headers["Authorization"] = f"Bearer {self._session}"
        state = {"body": False}
        content: Iterator[bytes] | None = None
        size = 0
        if source is not None:
            size = source[1]
            content = self._file_chunks(source[0], size, state, progress, cancel)
        elif body is not None:
            size = len(body)
            content = self._bytes_chunks(body, state)
        if content is not None:
            headers["Content-Length"] = str(size)
        url = self.base_url + API + path
        self._guard.begin(self.timeouts.total_for(size))
        self.requests += 1
        try:
            with self._client.stream(method, url, content=content, headers=headers) as response:
                raw = self._read_capped(response)
                status = response.status_code
                answer_headers = {k.lower(): v for k, v in response.headers.items() if k.lower() in ("content-type", "retry-after", "location")}
        except Cancelled:
            raise SendemodulError("cancelled", t("sendemodul.cancelled"), sent=self._guard.written > 0, body_sent=state["body"]) from None
        except _TooLarge:
            raise SendemodulError(
                "bad_answer",
                t("sendemodul.answer_too_large", limit=MAX_ANSWER_BYTES // 1024),
                hint=t("sendemodul.ambiguous_hint"),
                sent=True,
                body_sent=state["body"] or content is None,
            ) from None
        except _SourceChanged:
            raise SendemodulError("source_changed", t("sendemodul.source_changed", file=_clean(source[0].name if source else "")), sent=self._guard.written > 0, body_sent=state["body"]) from None
        except SpkiPinMismatch as exc:
            raise SendemodulError(
                "pin_mismatch",
                t("sendemodul.pin_mismatch", seen=exc.seen or "?"),
                hint=t("sendemodul.pin_mismatch_hint"),
                sent=False,
            ) from None
        except httpx.ConnectTimeout:
            raise SendemodulError("connect_timeout", t("sendemodul.connect_timeout", seconds=self.timeouts.connect), hint=t("sendemodul.network_hint"), sent=False) from None
        except httpx.ConnectError as exc:
            raise self._connect_error(exc) from None
        except httpx.TimeoutException:
            sent = self._guard.written > 0
            key = "sendemodul.deadline" if self._guard.deadline_hit else "sendemodul.timeout"
            raise SendemodulError("timeout", t(key), hint=t("sendemodul.ambiguous_hint") if sent else "", sent=sent, body_sent=state["body"]) from None
        except (httpx.HTTPError, OSError) as exc:
            sent = self._guard.written > 0
            raise SendemodulError(
                "network",
                t("sendemodul.network", detail=_clean(type(exc).__name__ + ": " + str(exc), 200)),
                hint=t("sendemodul.ambiguous_hint") if sent else "",
                sent=sent,
                body_sent=state["body"],
            ) from None
        finally:
            self._guard.deadline = None
        return self._parse(status, answer_headers, raw, sent_body=state["body"] or content is None)

    @staticmethod
    def _bytes_chunks(body: bytes, state: dict[str, bool]) -> Iterator[bytes]:
        if body:
            state["body"] = True
            yield body

    @staticmethod
    def _file_chunks(
        path: Path,
        size: int,
        state: dict[str, bool],
        progress: Callable[[int], None] | None,
        cancel: threading.Event | None,
    ) -> Iterator[bytes]:
        with open(path, "rb", buffering=0) as handle:
            remaining = size
            while remaining > 0:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                chunk = handle.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise _SourceChanged()
                state["body"] = True
                remaining -= len(chunk)
                yield chunk
                if progress is not None:
                    progress(len(chunk))

    def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise _TooLarge(int(declared))
        buffer = bytearray()
        for chunk in response.iter_raw():
            buffer += chunk
            if len(buffer) > MAX_ANSWER_BYTES:
                raise _TooLarge(len(buffer))
        return bytes(buffer)

    def _connect_error(self, exc: BaseException) -> SendemodulError:
        cause = ssl_cause(exc)
        if cause is None:
            return SendemodulError("connect", t("sendemodul.connect", detail=_clean(exc, 200)), hint=t("sendemodul.network_hint"), sent=False)
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = _clean(cause.verify_message or cause.reason or cause, 200)
            if cause.verify_code in (9, 10):  # not yet valid / expired
                import datetime as dt

                clock = dt.datetime.now().astimezone().isoformat(timespec="seconds")
                return SendemodulError("tls", t("sendemodul.tls_validity", reason=reason), hint=t("sendemodul.clock_hint", now=clock), sent=False)
            return SendemodulError("tls", t("sendemodul.tls_verify", reason=reason), hint=t("sendemodul.tls_hint"), sent=False)
        return SendemodulError("tls", t("sendemodul.tls_failed", reason=_clean(cause.reason or cause, 200)), hint=t("sendemodul.tls_hint"), sent=False)

    def _parse(self, status: int, headers: dict[str, str], raw: bytes, *, sent_body: bool) -> Answer:
        if 300 <= status < 400:
            raise SendemodulError(
                "redirect",
                t("sendemodul.redirect", status=status, location=_clean(headers.get("location", ""), 200)),
                hint=t("sendemodul.redirect_hint"),
                status=status,
                body_sent=sent_body,
            )
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        data: Any = None
        if content_type == "application/json":
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                data = None
            except RecursionError:  # a hostile answer nested deeper than the parser goes
                raise SendemodulError(
                    "bad_answer", t("sendemodul.answer_too_deep", status=status), hint=t("sendemodul.ambiguous_hint"), status=status, body_sent=sent_body
                ) from None
        if not isinstance(data, dict):
            snippet = _clean(raw[:200].decode("utf-8", "replace"), 200)
            if 500 <= status < 600:
                raise SendemodulError("server", t("sendemodul.server", status=status, message=snippet), hint=t("sendemodul.ambiguous_hint"), status=status, body_sent=sent_body)
            raise SendemodulError(
                "bad_answer",
                t("sendemodul.not_json", status=status, type=_clean(content_type or "?", 60), snippet=snippet),
                hint=t("sendemodul.ambiguous_hint"),
                status=status,
                body_sent=sent_body,
            )
        answer = Answer(status, data, headers)
        answer.headers["_sent_body"] = "1" if sent_body else ""
        return answer

    def _error_for(self, answer: Answer, call: str) -> SendemodulError:
        status = answer.status
        data = answer.data
        code = _clean(data.get("error", ""), 40)
        message = _clean(data.get("message", ""), 300)
        body_sent = bool(answer.headers.get("_sent_body"))
        common: dict[str, Any] = {"status": status, "code": code, "body_sent": body_sent}
        if call == "login" and status == 401:
            left = data.get("attempts_left")
            left = left if isinstance(left, int) and not isinstance(left, bool) and 0 <= left < 100 else None
            text = t("sendemodul.wrong_credentials_left", left=left) if left is not None else t("sendemodul.wrong_credentials")
            return SendemodulError("auth", text, hint=t("sendemodul.wrong_credentials_hint"), attempts_left=left, **common)
        if status == 423:
            until = _clean(data.get("locked_until", ""), 40)
            shown = fmt.moment(until) if until else "?"  # for people: "8.1.2018 10:00", not ISO
            return SendemodulError("locked", t("sendemodul.locked", until=shown), hint=t("sendemodul.locked_hint"), locked_until=until, **common)
        if status == 401:
            self._session = None
            return SendemodulError("session_expired", t("sendemodul.session_expired"), hint=t("sendemodul.session_expired_hint"), **common)
        if status == 503 and answer.headers.get("retry-after"):
            return SendemodulError("unavailable", t("sendemodul.unavailable", retry=_clean(answer.headers["retry-after"], 20), message=message), **common)
        if 500 <= status < 600:
            return SendemodulError("server", t("sendemodul.server", status=status, message=message), hint=t("sendemodul.ambiguous_hint"), **common)
        if status == 409:
            return SendemodulError("conflict", t("sendemodul.rejected", status=status, code=code, message=message), details={"missing": data.get("missing")}, **common)
        if status == 413:
            return SendemodulError("too_large", t("sendemodul.rejected", status=status, code=code, message=message), **common)
        if 400 <= status < 500:
            return SendemodulError("rejected", t("sendemodul.rejected", status=status, code=code, message=message), **common)
        return SendemodulError("bad_answer", t("sendemodul.unexpected_status", status=status), hint=t("sendemodul.ambiguous_hint"), **common)


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size
