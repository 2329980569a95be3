"""The sandbox gateway's HTTP routes (``/api/v1/...``): each endpoint reads the request,
asks the emulation and the storage, and answers; ``ApiError`` becomes an ``ErrorModel``."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from iplos_tui.sandbox.gateway.emulation import ORG_ID, ApiError, answer, error
from iplos_tui.sandbox.gateway.storage import FileRecord, FolderRecord, UserRecord, stamp

MAX_BODY = 64 * 1024
CHUNK = 64 * 1024


class GatewayRoutes:
    """Mixed into ``Gateway``: the endpoints and the Starlette app (``self.app``)."""

    async def _form(self, request: Request) -> dict[str, str]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise ApiError(400, "Bad Request", "Content-Type must be application/x-www-form-urlencoded.")
        body = await self._body(request)
        try:
            pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "Bad Request", "The form could not be read.") from None
        return dict(pairs)

    @staticmethod
    async def _body(request: Request) -> bytes:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise ApiError(413, "Payload Too Large", "The request body is too large.")
        return bytes(body)

    async def token(self, request: Request) -> Response:
        form = await self._form(request)
        grant = form.get("grant_type", "")
        with self._state():
            if grant == "password":
                return self._password_grant(form)
            if grant == "refresh_token":
                username = self._refresh.pop(form.get("refresh_token", ""), None)
                user = self.users.get(username or "")
                if user is None or user.status != "Active":
                    return answer({"error": "invalid_grant", "error_code": 400, "error_description": "The refresh token is invalid or expired."}, 400)
                return answer(self._issue_tokens(user))
            return answer({"error": "unsupported_grant_type", "error_code": 400, "error_description": "Only the password and refresh_token grants are supported here."}, 400)

    async def revoke(self, request: Request) -> Response:
        form = await self._form(request)
        token = form.get("token", "")
        with self._state():
            found = self._access.pop(token, None) is not None or self._refresh.pop(token, None) is not None
        if not found:
            return answer({"message": "The token is invalid."}, 401)
        return answer({"message": "Token revoked."})

    # ---- endpoints -----------------------------------------------------------------------------

    async def public_info(self, request: Request) -> Response:
        """``GET /api/v1/info``: MOVEit's public organisation info (PublicOrgModel), no token."""
        raw = request.query_params.get("orgId", "-1")
        if not re.fullmatch(r"-?[0-9]{1,10}", raw):
            raise ApiError(400, "Bad Request", "orgId must be an integer.")
        if int(raw) not in (-1, ORG_ID):
            raise ApiError(404, "Not Found", "Organization not found.")
        base = f"{request.url.scheme}://{request.url.netloc}"
        return answer({
            "id": str(ORG_ID), "name": "Statistisk sentralbyrå (sandkasse)", "shortName": "SSB",
            "language": request.query_params.get("language") or "nb", "formattingLocale": "nb-NO",
            "securityBanner": "", "securityNotice": "", "securityNoticeStamp": "", "securityNoticeRequired": "NotRequired",
            "securityNoticeAcceptance": "", "techInfo": "", "techName": "", "techPhone": "", "techEmail": "",
            "informationLink": "", "informationLinkName": "", "contactLink": "", "contactLinkName": "",
            "allowPassChangeRequests": False, "baseURL": base, "mfaTrustDeviceEnabled": False,
            "ssoAuthMode": "Optional", "samlAuthMode": "",
        })

    async def users_self(self, request: Request) -> Response:
        with self._state():
            return answer(self._user_details(self._user_for(request)))

    async def folder_list(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            visible = [self.folders[user.home_folder_id]]
            name_mask = request.query_params.get("name")
            path_mask = request.query_params.get("path")
            if name_mask:
                visible = [f for f in visible if fnmatch.fnmatch(f.name.casefold(), name_mask.casefold())]
            if path_mask:
                visible = [f for f in visible if fnmatch.fnmatch(f.path.casefold(), path_mask.rstrip("/").casefold())]
            keys = {"name": lambda f: f.name.casefold(), "type": lambda f: 0, "path": lambda f: f.path.casefold()}
            return answer(self._paged(request, visible, keys, "path", lambda f: self._simple_folder(f, user)))

    def _own_folder(self, request: Request, user: UserRecord) -> FolderRecord:
        raw = request.path_params["folder_id"]
        if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) not in self.folders:
            raise ApiError(404, "Not Found", "Folder not found.")
        folder = self.folders[int(raw)]
        if folder.id != user.home_folder_id:
            raise ApiError(403, "Forbidden", "You do not have permission to access this folder.")
        return folder

    async def folder_details(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            return answer(self._folder_details(self._own_folder(request, user), user))

    async def folder_files(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            folder = self._own_folder(request, user)
            items = self._folder_files(folder.id)
            mask = request.query_params.get("name")
            if mask:
                items = [f for f in items if fnmatch.fnmatch(f.name.casefold(), mask.casefold())]
            if self._bool_param(request, "newOnly"):
                items = [f for f in items if f.is_new]
            return answer(self._paged(request, items, self._FILE_KEYS, "name", self._simple_file))

    async def all_files(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            items = self._folder_files(user.home_folder_id)
            if self._bool_param(request, "newOnly"):
                items = [f for f in items if f.is_new]
            since = request.query_params.get("sinceDate")
            if since:
                try:
                    moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
                except ValueError:
                    raise ApiError(400, "Bad Request", "sinceDate is not a valid date.") from None
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=dt.timezone.utc)
                if moment < self.clock() - dt.timedelta(days=7):
                    raise ApiError(400, "Bad Request", "sinceDate must not be older than 7 days.")
                items = [f for f in items if f.upload_stamp >= stamp(moment)]
            body = self._paged(request, items, self._FILE_KEYS, "path", self._simple_file)
            return answer({"currentTimestamp": stamp(self.clock()), **body})

    def _own_file(self, request: Request, user: UserRecord) -> FileRecord:
        record = self.files.get(request.path_params["file_id"])
        if record is None:
            raise ApiError(404, "Not Found", "File not found.")
        if record.folder_id != user.home_folder_id:
            raise ApiError(403, "Forbidden", "You do not have permission to access this file.")
        return record

    async def file_details(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            return answer(self._file_details(self._own_file(request, user)))

    async def file_patch(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        with self._state():
            self._own_file(request, self._user_for(request))
        if ctype not in ("application/json", "text/json", "application/problem+json"):
            raise ApiError(415, "Unsupported Media Type", "The body must be JSON.")
        try:
            patch = json.loads(await self._body(request))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Bad Request", "The body is not valid JSON.") from None
        if not isinstance(patch, dict) or set(patch) - {"name", "isNew"}:
            raise ApiError(400, "Bad Request", "Only name and isNew can be changed.")
        if "isNew" in patch and not isinstance(patch["isNew"], bool):
            raise ApiError(400, "Bad Request", "isNew must be true or false.")
        if "name" in patch:
            name = patch["name"]
            if not isinstance(name, str) or not name or len(name) > 255 or any(c in name for c in "/\\\0"):
                raise ApiError(400, "Bad Request", "The file name is not valid.")
        with self._state():
            record = self._own_file(request, self._user_for(request))
            if "isNew" in patch:
                record.is_new = patch["isNew"]
            if "name" in patch:
                record.name = patch["name"]
            self._save()
            return answer(self._file_details(record))

    async def file_delete(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            record = self._own_file(request, user)
            del self.files[record.id]
            try:
                (self.files_dir / record.id).unlink()
            except FileNotFoundError:
                pass
            self._save()
        return Response(status_code=204)

    async def file_download(self, request: Request) -> Response:
        with self._state():
            user = self._user_for(request)
            record = self._own_file(request, user)
            record.download_count += 1
            self._save()
            path = self.files_dir / record.id
        handle = open(path, "rb")  # noqa: SIM115 - closed by the generator

        def chunks():
            with handle:
                while block := handle.read(CHUNK):
                    yield block

        quoted = urllib.parse.quote(record.name, safe="")
        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(record.size),
                "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}",
                "X-Content-Type-Options": "nosniff",
            },
        )

    # ---- app -----------------------------------------------------------------------------------

    def _endpoint(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            try:
                return await handler(request)
            except ApiError as exc:
                return error(exc.status, exc.title, exc.detail)

        return endpoint

    def _build_app(self) -> Starlette:
        e = self._endpoint
        routes = [
            Route("/api/v1/info", e(self.public_info), methods=["GET"]),
            Route("/api/v1/token", e(self.token), methods=["POST"]),
            Route("/api/v1/token/revoke", e(self.revoke), methods=["POST"]),
            Route("/api/v1/users/self", e(self.users_self), methods=["GET"]),
            Route("/api/v1/folders", e(self.folder_list), methods=["GET"]),
            Route("/api/v1/folders/{folder_id}", e(self.folder_details), methods=["GET"]),
            Route("/api/v1/folders/{folder_id}/files", e(self.folder_files), methods=["GET"]),
            Route("/api/v1/files", e(self.all_files), methods=["GET"]),
            Route("/api/v1/files/{file_id}", e(self.file_details), methods=["GET"]),
            Route("/api/v1/files/{file_id}", e(self.file_patch), methods=["PATCH"]),
            Route("/api/v1/files/{file_id}", e(self.file_delete), methods=["DELETE"]),
            Route("/api/v1/files/{file_id}/download", e(self.file_download), methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 500)
            titles = {404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}
            return error(status, titles.get(status, "Error"), str(getattr(exc, "detail", "")) or titles.get(status, "Error"))

        async def server_error(request: Request, exc: Exception) -> Response:
            return error(500, "Server Error", "An unexpected error occurred.")

        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: http_error, Exception: server_error},
        )
