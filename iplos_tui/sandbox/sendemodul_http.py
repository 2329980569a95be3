"""The sandbox Sendemodul's HTTP side: the routes, JSON answers and errors, reading bodies.

Routing and wire details only; what the answers mean is ``sandbox.sendemodul`` (the emulation),
where submissions are kept is ``sandbox.sendemodul_store`` (the storage).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

from iplos_tui.core.i18n import t

MiB = 1024 * 1024
DRAIN_LIMIT = 64 * MiB  # an early error reads (and drops) a body up to this size, so the client sees it
KEY_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")


class ProtocolError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    from starlette.responses import Response

    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    base = {"Cache-Control": "no-store"}
    base.update(headers or {})
    return Response(body, status_code=status, media_type="application/json; charset=utf-8", headers=base)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any):
    return json_response({"error": code, "message": message, **extra}, status, headers)


def bad_request(message_key: str = "sandbox.err_bad_request", **values: Any) -> ProtocolError:
    return ProtocolError(400, "bad_request", t(message_key, **values))


def sha256_header(request: Any) -> str:
    value = request.headers.get("content-sha256", "")
    if not HEX64_RE.fullmatch(value):
        raise bad_request("sandbox.err_sha_header")
    return value.lower()


def check_key(request: Any, key: str) -> str:
    if not KEY_RE.fullmatch(key):
        raise bad_request("sandbox.err_key")
    header = request.headers.get("idempotency-key")
    if header is None or header.lower() != key.lower():
        raise bad_request("sandbox.err_key_header")
    return key.lower()


def content_length(request: Any) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        raise bad_request("sandbox.err_content_length")
    return int(value)


async def body_chunks(request: Any):
    """The request body straight from ASGI ``receive``; may be left early and resumed later
    (``_drain``), and knows when the body has ended so that nobody waits for more."""
    from starlette.requests import ClientDisconnect

    if getattr(request.state, "body_done", False):
        return
    while True:
        message = await request.receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            more = message.get("more_body", False)
            if not more:
                request.state.body_done = True
            if chunk:
                yield chunk
            if not more:
                return
        elif message["type"] == "http.disconnect":
            request.state.body_done = True
            raise ClientDisconnect()


async def read_capped(request: Any, limit: int) -> bytes:
    """The whole body, or 413 as soon as it passes ``limit`` (a declared length is checked first)."""
    declared = content_length(request)
    if declared is not None and declared > limit:
        raise ProtocolError(413, "too_large", t("sandbox.err_too_large", limit=limit), limit=limit)
    data = bytearray()
    async for chunk in body_chunks(request):
        data += chunk
        if len(data) > limit:
            raise ProtocolError(413, "too_large", t("sandbox.err_too_large", limit=limit), limit=limit)
    return bytes(data)


async def drain(request: Any) -> None:
    """Read and drop what is left of a body (bounded), so the client can read our early answer."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and len(length) < 16 and int(length) > DRAIN_LIMIT:
        return
    total = 0
    with contextlib.suppress(Exception):
        async for chunk in body_chunks(request):
            total += len(chunk)
            if total > DRAIN_LIMIT:
                return


def abort_connection(request: Any) -> bool:
    """Close the TCP connection under this request without an answer (fault injection only).

    uvicorn's ``receive`` is a bound method of its protocol object, which holds the transport.
    """
    protocol = getattr(request.receive, "__self__", None)
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return False
    transport.abort()
    return True


def build_app(sendemodul: Any) -> Any:
    """The Starlette app of ``sendemodul``'s handlers (mounted at /Sendemodul by the sandbox server)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect
    from starlette.routing import Route

    def guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
        async def endpoint(request: Any):
            try:
                return await handler(request)
            except ProtocolError as exc:
                if exc.status in (400, 404, 409, 413, 422):
                    await drain(request)
                return error_response(exc.status, exc.code, exc.message, **exc.extra)
            except ClientDisconnect:
                from starlette.responses import Response

                return Response(status_code=499)
            except RuntimeError as exc:
                if str(exc) == "injected drop":
                    raise
                return error_response(500, "server_error", t("sandbox.err_internal"))
            except Exception:  # the server stays up whatever the client sends
                return error_response(500, "server_error", t("sandbox.err_internal"))

        return endpoint

    api = "/api/v1"
    routes = [
        Route("/", sendemodul.index, methods=["GET", "HEAD"]),
        Route(f"{api}", sendemodul.info, methods=["GET"]),
        Route(f"{api}/login", guarded(sendemodul.login), methods=["POST"]),
        Route(api + "/submissions/{key}", guarded(sendemodul.open), methods=["PUT"]),
        Route(api + "/submissions/{key}", guarded(sendemodul.lookup), methods=["GET"]),
        Route(api + "/submissions/{key}/parts/{file}", guarded(sendemodul.part), methods=["PUT"]),
        Route(api + "/submissions/{key}/commit", guarded(sendemodul.commit), methods=["POST"]),
    ]

    async def http_error(request: Any, exc: HTTPException):
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "bad_request")
        return error_response(exc.status_code, code, t(f"sandbox.err_{code}"))

    async def any_error(request: Any, exc: Exception):
        return error_response(500, "server_error", t("sandbox.err_internal"))

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: any_error})
