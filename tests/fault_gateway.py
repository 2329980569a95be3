"""A MOVEit-shaped gateway that misbehaves on purpose, for the gateway client's tests.

Served by the same uvicorn-over-TLS runner as the sandbox. Each file carries a ``fault``:
``wrong_sha1``, ``truncated`` (Content-Length promised, connection dropped halfway),
``oversize`` (more bytes than announced, chunked), ``endless`` (a chunked stream that never ends),
``short_length`` (Content-Length differs from the details), ``gzip`` (Content-Encoding),
``slow`` (drips), ``no_hash``. ``list_mode`` and ``token_mode`` break the JSON endpoints:
``token_mode="bomb"`` answers with a gzip-in-gzip body of 256 MiB zeros (a few KB on the wire),
``"drip"`` sends a JSON body one space every 0.2 s for ever; ``extra_items`` are added to the
listing as they are (ids and names the client must refuse).
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import json
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from iplos_tui.sandbox.certs import issue_tls_server, make_ca
from iplos_tui.sandbox.gateway import serve_in_thread

FOLDER = 7


@dataclass
class FaultFile:
    id: str
    name: str
    data: bytes
    fault: str | None = None
    size: int | None = None  # announced size (default: len(data))
    is_new: bool = True

    @property
    def announced(self) -> int:
        return len(self.data) if self.size is None else self.size


@dataclass
class FaultGateway:
    files: dict[str, FaultFile] = field(default_factory=dict)
    list_mode: str = "ok"
    token_mode: str = "ok"
    unauthorized_once: bool = False
    home_zero: bool = False  # users/self without homeFolderID: the client must look the folder up
    calls: Counter = field(default_factory=Counter)
    forms: list[dict] = field(default_factory=list)
    extra_items: list = field(default_factory=list)

    def reset(self) -> None:
        self.files.clear()
        self.extra_items.clear()
        self.list_mode = self.token_mode = "ok"
        self.unauthorized_once = False
        self.home_zero = False
        self.calls.clear()
        self.forms.clear()

    def add(self, file_id: str, name: str, data: bytes, fault: str | None = None, size: int | None = None) -> FaultFile:
        item = FaultFile(file_id, name, data, fault, size)
        self.files[file_id] = item
        return item

    # -- endpoints --

    async def token(self, request: Request) -> Response:
        form = dict(urllib.parse.parse_qsl((await request.body()).decode()))
        self.forms.append(form)
        self.calls["token:" + form.get("grant_type", "")] += 1
        self.calls["accept-encoding:" + request.headers.get("accept-encoding", "")] += 1
        mode = self.token_mode
        if mode == "redirect":
            return Response(status_code=307, headers={"Location": "https://127.0.0.2:9/api/v1/token"})
        if mode == "html":
            return Response("<html>maintenance</html>", media_type="text/html")
        if mode == "mfa":
            return JSONResponse({"error": "mfa_required", "error_code": 2028, "error_description": "MFA \x1b[31mrequired[/]"}, status_code=401)
        if mode == "notice":
            return JSONResponse({"error": "accept_security_notice_required", "error_code": 3985, "error_description": "Accept it"}, status_code=400)
        if mode == "bomb":
            return Response(bomb(), headers={"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"})
        if mode == "drip":
            async def spaces():
                while True:
                    self.calls["drip"] += 1
                    yield b" "
                    await asyncio.sleep(0.2)

            return StreamingResponse(spaces(), media_type="application/json")
        if mode == "bad_token":
            return JSONResponse({"access_token": "a\nb", "token_type": "bearer", "expires_in": 1200})
        return JSONResponse({"access_token": f"tok{self.calls['token:' + form.get('grant_type', '')]}", "token_type": "bearer", "expires_in": 1200, "refresh_token": "r1"})

    async def revoke(self, request: Request) -> Response:
        self.calls["revoke"] += 1
        return JSONResponse({"message": "ok"})

    def _auth(self, request: Request) -> Response | None:
        if self.unauthorized_once:
            self.unauthorized_once = False
            self.calls["401"] += 1
            return JSONResponse({"title": "Unauthorized", "detail": "expired", "errorCode": 401}, status_code=401)
        if not request.headers.get("authorization", "").startswith("Bearer tok"):
            return JSONResponse({"title": "Unauthorized", "detail": "no token", "errorCode": 401}, status_code=401)
        return None

    async def users_self(self, request: Request) -> Response:
        self.calls["self"] += 1
        return self._auth(request) or JSONResponse({"id": "u1", "username": "postmottak@x.kommune.no", "homeFolderID": 0 if self.home_zero else FOLDER})

    async def folder_list(self, request: Request) -> Response:
        self.calls["folders"] += 1
        self.calls["folders_path:" + request.query_params.get("path", "")] += 1
        items = [
            {"id": 99, "name": "postmottak@x.kommune.no.old", "path": "/Home/Ekstern/iplos/postmottak@x.kommune.no.old"},
            {"id": FOLDER, "name": "postmottak@x.kommune.no", "path": "/Home/Ekstern/iplos/postmottak@x.kommune.no"},
        ]
        return self._auth(request) or JSONResponse({"items": items, "paging": {"page": 1, "perPage": 25, "totalItems": 2, "totalPages": 1}, "sorting": []})

    async def folder_files(self, request: Request) -> Response:
        self.calls["list"] += 1
        if denied := self._auth(request):
            return denied
        mode = self.list_mode
        if mode == "huge":
            return JSONResponse({"items": [{"id": "1", "name": "x" * 1000}] * 3000, "paging": {"page": 1, "perPage": 3000, "totalItems": 3000, "totalPages": 1}})
        if mode == "html":
            return Response("<html><body>[/]\x1b]0;x\x07</body></html>", media_type="text/html")
        if mode == "redirect":
            return Response(status_code=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        if mode == "error":
            return JSONResponse({"title": "Boom [bold]\x1b[2J", "detail": "[@click=app.quit]x[/] \x9b2J", "errorCode": 500}, status_code=500)
        if mode == "endless_pages":
            page = int(request.query_params.get("page", "1"))
            return JSONResponse({"items": [{"id": str(page * 1000 + i), "name": "n", "size": 1} for i in range(int(request.query_params.get("perPage", "25")))], "paging": {"page": page, "perPage": 25, "totalItems": 10**9, "totalPages": 10**8}})
        items = [
            {"id": f.id, "name": f.name, "size": f.announced, "uploadStamp": "2017-02-07T08:00:00", "path": f"/Home/Ekstern/iplos/x/{f.name}", "folderID": FOLDER, "uploadUsername": "ssb", "isNew": f.is_new}
            for f in self.files.values()
        ]
        items += self.extra_items
        if mode == "bad_items":
            items += [{"id": "../../api/v1/token", "name": "a", "size": 1}, {"id": "5", "name": "b", "size": -1}, {"id": True, "name": "c", "size": 1}, "junk", {"id": "6", "size": "12"}]
        return JSONResponse({"items": items, "paging": {"page": 1, "perPage": 25, "totalItems": len(items), "totalPages": 1}, "sorting": []})

    async def details(self, request: Request) -> Response:
        self.calls["details"] += 1
        if denied := self._auth(request):
            return denied
        item = self.files.get(request.path_params["file_id"])
        if item is None:
            return JSONResponse({"title": "Not Found", "detail": "File not found.", "errorCode": 404}, status_code=404)
        digest = hashlib.sha1(item.data).hexdigest()
        if item.fault == "wrong_sha1":
            digest = hashlib.sha1(item.data + b"!").hexdigest()
        body = {"id": item.id, "name": item.name, "size": item.announced, "isNew": item.is_new, "folderID": FOLDER, "uploadStamp": "2017-02-07T08:00:00"}
        if item.fault != "no_hash":
            body["hash"] = digest.upper() if item.fault == "upper_hash" else digest
        return JSONResponse(body)

    async def patch(self, request: Request) -> Response:
        self.calls["patch"] += 1
        item = self.files[request.path_params["file_id"]]
        item.is_new = json.loads(await request.body())["isNew"]
        return await self.details(request)

    async def delete(self, request: Request) -> Response:
        self.calls["delete"] += 1
        self.files.pop(request.path_params["file_id"], None)
        return Response(status_code=204)

    async def download(self, request: Request) -> Response:
        self.calls["download"] += 1
        if denied := self._auth(request):
            return denied
        item = self.files[request.path_params["file_id"]]
        fault = item.fault
        data = item.data

        async def once():
            yield data

        if fault == "truncated":
            async def half():
                yield data[: len(data) // 2]
                await asyncio.sleep(0.05)
                raise ConnectionResetError("dropped on purpose")

            return StreamingResponse(half(), media_type="application/octet-stream", headers={"Content-Length": str(len(data))})
        if fault == "oversize":
            async def more():
                yield data
                yield b"X" * (len(data) * 4)

            return StreamingResponse(more(), media_type="application/octet-stream")
        if fault == "endless":
            async def forever():
                block = b"\0" * 65536
                while True:
                    self.calls["endless_chunks"] += 1
                    yield block
                    await asyncio.sleep(0)  # let the loop notice the client went away

            return StreamingResponse(forever(), media_type="application/octet-stream")
        if fault == "short_length":
            return StreamingResponse(once(), media_type="application/octet-stream", headers={"Content-Length": str(len(data))})
        if fault == "gzip":
            return StreamingResponse(once(), media_type="application/octet-stream", headers={"Content-Encoding": "gzip"})
        if fault == "slow":
            async def drip():
                for i in range(len(data)):
                    await asyncio.sleep(0.05)
                    yield data[i : i + 1]

            return StreamingResponse(drip(), media_type="application/octet-stream")
        return StreamingResponse(once(), media_type="application/octet-stream", headers={"Content-Length": str(len(data))})

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/token", self.token, methods=["POST"]),
                Route("/api/v1/token/revoke", self.revoke, methods=["POST"]),
                Route("/api/v1/users/self", self.users_self, methods=["GET"]),
                Route("/api/v1/folders", self.folder_list, methods=["GET"]),
                Route(f"/api/v1/folders/{FOLDER}/files", self.folder_files, methods=["GET"]),
                Route("/api/v1/files/{file_id}", self.details, methods=["GET"]),
                Route("/api/v1/files/{file_id}", self.patch, methods=["PATCH"]),
                Route("/api/v1/files/{file_id}", self.delete, methods=["DELETE"]),
                Route("/api/v1/files/{file_id}/download", self.download, methods=["GET"]),
            ]
        )


@functools.cache
def bomb() -> bytes:
    """256 MiB of zeros, gzipped twice: a few KB that a decoding client turns into 256 MiB."""
    return gzip.compress(gzip.compress(bytes(256 * 1024 * 1024), 1), 9)


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA nobody trusts


def make_tls_files(directory: Path) -> TlsFiles:
    ca = make_ca("iplos-tui gateway test CA")
    server = issue_tls_server(ca, ["localhost"], ["127.0.0.1"])
    other = make_ca("someone else's CA", key_type="ec")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "other-ca.pem")
    ca.write(files.ca)
    server.write(files.cert, files.key)
    other.write(files.other_ca)
    return files


class Holder:
    """An ASGI app whose target can be swapped per test while one server keeps running."""

    def __init__(self) -> None:
        self.target = None

    async def __call__(self, scope, receive, send):
        await self.target(scope, receive, send)


__all__ = ["FaultGateway", "Holder", "TlsFiles", "make_tls_files", "serve_in_thread"]
