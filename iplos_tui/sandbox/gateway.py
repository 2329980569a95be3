"""The sandbox's feedback gateway: MOVEit Transfer's REST API subset, played on loopback.

Follows reference/moveit-transfer-openapi-subset.json field for field: ``TokenAcquiredModel`` /
``RequestToken*Error`` on ``/api/v1/token``, ``UserDetailsModel``, ``SimpleFolderModel`` /
``FolderDetailsModel``, ``SimpleFileResourceModel`` / ``FileDetailsModel`` (``hash`` = SHA-1
hex), the paging envelope ``{items, paging{page, perPage, totalItems, totalPages}, sorting[]}``
(``perPage`` 25 by default) and ``ErrorModel {title, detail, errorCode}`` everywhere else.
Sandbox choices the definition leaves open: ``errorCode`` is the HTTP status; a wrong password
answers 400 ``invalid_grant``; an account locks after ``max_failed_logins`` wrong passwords;
downloading does not clear ``isNew`` (the client PATCHes it).

Each user's folder is ``/Home/Ekstern/iplos/<username>/``. State (users with PBKDF2 password
hashes, folders, file metadata) lives in ``<root>/state.json`` and the files in
``<root>/files/``, so deleting ``root`` resets the gateway. The SSB emulation puts files in with
``Gateway.put_file()``; ``serve_in_thread()`` (from ``runner``) runs it with uvicorn over TLS.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import fcntl
import fnmatch
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir
from iplos_tui.sandbox.runner import RunningServer, serve_in_thread  # noqa: F401  (tests import it from here)

ORG_ID = 5281  # SSB's organisation id in the seed's URLs
FOLDER_ROOT = "/Home/Ekstern/iplos"
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 1000
MAX_BODY = 64 * 1024
TOKEN_LIFETIME = 1200
CHUNK = 64 * 1024
PBKDF2_ROUNDS = 20_000
JSON_TYPE = "application/json; charset=utf-8"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def _hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ROUNDS)
    return f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _password_matches(password: str, stored: str) -> bool:
    salt_b64, _, _ = stored.partition("$")
    return hmac.compare_digest(_hash_password(password, base64.b64decode(salt_b64)), stored)


def password_problems(password: str, username: str) -> list[str]:
    """The gateway's own rules (the guide's): ≥ 6 characters, letters and digits, not the username."""
    problems = []
    if len(password) < 6:
        problems.append("Password must be at least 6 characters long.")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        problems.append("Password must contain both letters and numbers.")
    lowered = password.casefold()
    parts = [p for p in re.split(r"[^a-z0-9]+", username.casefold()) if len(p) >= 3]
    if username.casefold() in lowered or any(p in lowered for p in parts):
        problems.append("Password must not resemble the username.")
    return problems


@dataclass
class UserRecord:
    id: str
    username: str
    password_hash: str
    full_name: str
    email: str
    home_folder_id: int
    force_change_password: bool = False
    failed_logins: int = 0
    status: str = "Active"
    last_login: str | None = None
    password_changed: str | None = None


@dataclass
class FolderRecord:
    id: int
    parent_id: int
    name: str
    path: str
    owner: str = ""


@dataclass
class FileRecord:
    id: str
    name: str
    size: int
    sha1: str
    folder_id: int
    upload_stamp: str
    upload_username: str
    upload_full_name: str = ""
    original_filename: str = ""
    upload_comment: str = ""
    is_new: bool = True
    download_count: int = 0
    upload_integrity: int = 1


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail
        super().__init__(f"{status} {title}: {detail}")


def _error(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "errorCode": status}, status_code=status, media_type=JSON_TYPE)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, media_type=JSON_TYPE)


class Gateway:
    """The gateway's state and its ASGI app (``gateway.app``). Thread-safe for ``put_file``."""

    def __init__(
        self,
        root: Path,
        *,
        token_lifetime: int = TOKEN_LIFETIME,
        max_failed_logins: int = 5,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.root = ensure_private_dir(Path(root))
        self.files_dir = ensure_private_dir(self.root / "files")
        self.token_lifetime = token_lifetime
        self.max_failed_logins = max_failed_logins
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._seen: tuple[int, int, int] | None = None
        self._lock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        weakref.finalize(self, os.close, self._lock_fd)
        self._access: dict[str, tuple[str, float]] = {}
        self._refresh: dict[str, str] = {}
        self.requests: collections.deque[tuple[str, str]] = collections.deque(maxlen=1000)  # for tests
        with self._state():
            pass
        self.app = self._build_app()

    # ---- state ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[None]:
        """Thread lock + an flock on ``root/.lock``; reload first if another process saved.

        ``iplos sandbox`` commands in another process may open the same directory while the
        server runs, so the state on disk is the truth and every operation starts from it.
        """
        with self._lock:
            if self._depth == 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                if self._depth == 1 and (self._seen is None or self._stat() != self._seen):
                    self._load()
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.root / "state.json")
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        path = self.root / "state.json"
        self._seen = self._stat() or (0, 0, 0)
        self.users: dict[str, UserRecord] = {}
        self.folders: dict[int, FolderRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self._next_folder = 1001
        self._next_file = 900_000_001
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.users = {u["username"].casefold(): UserRecord(**u) for u in data["users"]}
            self.folders = {f["id"]: FolderRecord(**f) for f in data["folders"]}
            self.files = {f["id"]: FileRecord(**f) for f in data["files"]}
            self._next_folder = data["next_folder"]
            self._next_file = data["next_file"]
        else:
            parent = 0
            for part in FOLDER_ROOT.strip("/").split("/"):
                parent = self._new_folder(parent, part).id
            self._save()

    def _save(self) -> None:
        data = {
            "next_folder": self._next_folder,
            "next_file": self._next_file,
            "users": [asdict(u) for u in self.users.values()],
            "folders": [asdict(f) for f in self.folders.values()],
            "files": [asdict(f) for f in self.files.values()],
        }
        atomic_write_bytes(self.root / "state.json", json.dumps(data, indent=1).encode("utf-8"))
        self._seen = self._stat()

    def _new_folder(self, parent_id: int, name: str, owner: str = "") -> FolderRecord:
        parent_path = self.folders[parent_id].path if parent_id else ""
        folder = FolderRecord(self._next_folder, parent_id, name, f"{parent_path}/{name}", owner)
        self.folders[folder.id] = folder
        self._next_folder += 1
        return folder

    def _folder_by_path(self, path: str) -> FolderRecord | None:
        for folder in self.folders.values():
            if folder.path == path:
                return folder
        return None

    # ---- Python API ------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str,
        *,
        full_name: str = "",
        email: str = "",
        force_change_password: bool = False,
    ) -> UserRecord:
        """Create (or reset) an account with its folder ``/Home/Ekstern/iplos/<username>``."""
        if not username or "/" in username or "\\" in username or len(username) > 128:
            raise ValueError("a gateway username must be a plain name (no slashes)")
        with self._state():
            folder = self._folder_by_path(f"{FOLDER_ROOT}/{username}")
            if folder is None:
                parent = self._folder_by_path(FOLDER_ROOT)
                assert parent is not None
                folder = self._new_folder(parent.id, username, owner=username)
            user = UserRecord(
                id=hashlib.sha1(username.casefold().encode(), usedforsecurity=False).hexdigest()[:12],
                username=username,
                password_hash=_hash_password(password),
                full_name=full_name or f"IPLOS-Tilbakemelding {username.split('@')[0]}",
                email=email or (username if "@" in username else ""),
                home_folder_id=folder.id,
                force_change_password=force_change_password,
            )
            self.users[username.casefold()] = user
            self._save()
            return user

    def put_file(
        self,
        username: str,
        name: str,
        data: bytes,
        *,
        uploaded_by: str = "ssb-iplos",
        uploaded_by_name: str = "Statistisk sentralbyrå",
        comment: str = "",
        upload_stamp: dt.datetime | None = None,
    ) -> str:
        """Put a file into the user's folder (as SSB's upload would); returns its id (tracking number)."""
        with self._state():
            user = self.users.get(username.casefold())
            if user is None:
                raise KeyError(f"no gateway user {username!r}")
            file_id = str(self._next_file)
            self._next_file += 1
            atomic_write_bytes(self.files_dir / file_id, data)
            self.files[file_id] = FileRecord(
                id=file_id,
                name=name,
                size=len(data),
                sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                folder_id=user.home_folder_id,
                upload_stamp=_stamp(upload_stamp or self.clock()),
                upload_username=uploaded_by,
                upload_full_name=uploaded_by_name,
                original_filename=name,
                upload_comment=comment,
            )
            self._save()
            return file_id

    def list_user_files(self, username: str) -> list[FileRecord]:
        with self._state():
            user = self.users[username.casefold()]
            return [f for f in self.files.values() if f.folder_id == user.home_folder_id]

    # ---- auth ----------------------------------------------------------------------------------

    def _issue_tokens(self, user: UserRecord) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = (user.username.casefold(), time.monotonic() + self.token_lifetime)
        self._refresh[refresh] = user.username.casefold()
        return {"access_token": access, "token_type": "bearer", "expires_in": self.token_lifetime, "refresh_token": refresh}

    def _user_for(self, request: Request) -> UserRecord:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        entry = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[1] < time.monotonic():
            raise ApiError(401, "Unauthorized", "Authorization has been denied for this request.")
        user = self.users.get(entry[0])
        if user is None or user.status != "Active":
            raise ApiError(401, "Unauthorized", "Authorization has been denied for this request.")
        return user

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
                    return _json({"error": "invalid_grant", "error_code": 400, "error_description": "The refresh token is invalid or expired."}, 400)
                return _json(self._issue_tokens(user))
            return _json({"error": "unsupported_grant_type", "error_code": 400, "error_description": "Only the password and refresh_token grants are supported here."}, 400)

    def _password_grant(self, form: dict[str, str]) -> Response:
        username, password = form.get("username", ""), form.get("password", "")
        user = self.users.get(username.casefold())
        if user is not None and user.status != "Active":
            return _json({"error": "invalid_grant", "error_code": 400, "error_description": "The user account is locked. Contact the administrator."}, 400)
        if user is None or not _password_matches(password, user.password_hash):
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= self.max_failed_logins:
                    user.status = "Suspended"
                self._save()
            return _json({"error": "invalid_grant", "error_code": 400, "error_description": "Invalid username or password."}, 400)
        user.failed_logins = 0
        if user.force_change_password:
            new_password = form.get("new_password")
            problems = password_problems(new_password, user.username) if new_password else ["A new password is required."]
            if new_password and new_password == password:
                problems.append("The new password must differ from the old one.")
            if problems:
                self._save()
                return _json(
                    {
                        "error": "password_change_required",
                        "error_code": 3988,
                        "error_description": " ".join(problems),
                        "mfa_access_token": "",
                        "password_requirements": {
                            "minimum_length": 6,
                            "username_match_requirement": "MustNotResemble",
                            "require_letters_numbers": True,
                            "no_dictionary_words": False,
                            "require_mixed_case": False,
                            "require_non_alphanumeric": False,
                        },
                        "user": {"org_id": ORG_ID},
                    },
                    400,
                )
            user.password_hash = _hash_password(new_password)
            user.force_change_password = False
            user.password_changed = _stamp(self.clock())
        user.last_login = _stamp(self.clock())
        self._save()
        return _json(self._issue_tokens(user))

    async def revoke(self, request: Request) -> Response:
        form = await self._form(request)
        token = form.get("token", "")
        with self._state():
            found = self._access.pop(token, None) is not None or self._refresh.pop(token, None) is not None
        if not found:
            return _json({"message": "The token is invalid."}, 401)
        return _json({"message": "Token revoked."})

    # ---- models --------------------------------------------------------------------------------

    @staticmethod
    def _permission(owner: bool) -> dict[str, bool]:
        return {
            "canListSubfolders": owner, "canAddSubfolders": False, "canChangeSettings": False,
            "canDelete": False, "canListFiles": owner, "canReadFiles": owner,
            "canWriteFiles": False, "canDeleteFiles": owner, "canShare": False,
        }

    def _folder_files(self, folder_id: int) -> list[FileRecord]:
        return [f for f in self.files.values() if f.folder_id == folder_id]

    def _simple_folder(self, folder: FolderRecord, user: UserRecord) -> dict[str, Any]:
        files = self._folder_files(folder.id)
        last = max((f.upload_stamp for f in files), default=_stamp(self.clock()))
        return {
            "id": folder.id, "parentId": folder.parent_id, "name": folder.name, "lastContentChangeTime": last,
            "folderType": "Normal", "path": folder.path, "isShared": False,
            "permission": self._permission(folder.id == user.home_folder_id),
            "subfolderCount": sum(1 for f in self.folders.values() if f.parent_id == folder.id),
            "totalFileCount": len(files), "sharedWithUsersCount": 0, "sharedWithGroupsCount": 0,
        }

    def _folder_details(self, folder: FolderRecord, user: UserRecord) -> dict[str, Any]:
        files = self._folder_files(folder.id)
        return {
            **self._simple_folder(folder, user),
            "orgId": ORG_ID, "owner": folder.owner, "description": "", "systemType": "User",
            "cleanType": "AfterCleanTime", "cleanTimeDays": 30, "subfolderCleanTime": 0,
            "uploadNotificationConfirmationType": "None", "uploadNotificationConfirmationTime": 0,
            "newFileNotificationType": "Immediately", "newFileNotificationTime": 0,
            "alertSenderFileIsNotDownloadedTimeType": "None", "alertSenderFileIsNotDownloadedTime": 0,
            "deliveryRecepientNotificationType": "None", "responseType": "RedirectImmediately",
            "responseText": "", "responseTime": 0, "newTime": 14, "enforceUniqueFilenames": False,
            "allowFileOverwrite": False, "parentInheritRights": 0, "quota": 0,
            "totalFilesSize": sum(f.size for f in files), "fileMaskRule": "AllowExceptMatching", "fileMasks": "",
        }

    def _simple_file(self, record: FileRecord) -> dict[str, Any]:
        folder = self.folders[record.folder_id]
        return {
            "id": record.id, "name": record.name, "size": record.size, "uploadStamp": record.upload_stamp,
            "path": f"{folder.path}/{record.name}", "folderID": record.folder_id,
            "uploadUsername": record.upload_username, "isNew": record.is_new,
        }

    def _file_details(self, record: FileRecord) -> dict[str, Any]:
        return {
            **self._simple_file(record),
            "orgID": str(ORG_ID), "originalFileType": "Any", "currentFileType": "Any",
            "uploadComment": record.upload_comment, "uploadIP": "127.0.0.1",
            "uploadAgentBrand": "iplos-tui sandbox", "uploadAgentVersion": "1",
            "uploadIntegrity": record.upload_integrity, "dlpChecked": False, "dlpMetaData": 0,
            "dlpViolation": "", "dlpBlocked": False, "uploadUserFullName": record.upload_full_name,
            "downloadCount": record.download_count, "originalFilename": record.original_filename,
            "hash": record.sha1,
        }

    def _user_details(self, user: UserRecord) -> dict[str, Any]:
        return {
            "emailFormat": "HTML", "notes": "", "statusNote": "", "passwordChangeStamp": user.password_changed,
            "receivesNotification": "ReceivesNotifications", "forceChangePassword": user.force_change_password,
            "folderQuota": 0, "totalFileSize": sum(f.size for f in self._folder_files(user.home_folder_id)),
            "authMethod": "MOVEitOnly", "language": "en", "homeFolderID": user.home_folder_id,
            "defaultFolderID": 0, "expirationPolicyID": 0,
            "displaySettings": {"userListPageSize": 25, "fileListPageSize": 25, "liveViewPageSize": 25},
            "id": user.id, "orgID": ORG_ID, "username": user.username, "fullName": user.full_name,
            "permission": "User", "email": user.email, "status": user.status, "lastLoginStamp": user.last_login,
        }

    # ---- paging --------------------------------------------------------------------------------

    @staticmethod
    def _int_param(request: Request, name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise ApiError(400, "Bad Request", f"The value '{raw[:40]}' is not valid for {name}.")
        return int(raw)

    @staticmethod
    def _bool_param(request: Request, name: str) -> bool:
        raw = (request.query_params.get(name) or "false").lower()
        if raw not in ("true", "false", "1", "0"):
            raise ApiError(400, "Bad Request", f"The value '{raw[:40]}' is not valid for {name}.")
        return raw in ("true", "1")

    def _paged(self, request: Request, items: list[Any], keys: dict[str, Callable[[Any], Any]], default_sort: str, render: Callable[[Any], dict]) -> dict[str, Any]:
        page = self._int_param(request, "page", 1)
        per_page = min(self._int_param(request, "perPage", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        if page < 1 or per_page < 1:
            raise ApiError(400, "Bad Request", "page and perPage must be positive.")
        sort_field = request.query_params.get("sortField") or default_sort
        key = keys.get(sort_field.lower())
        if key is None:
            raise ApiError(400, "Bad Request", f"Invalid sortField '{sort_field[:40]}'.")
        direction = (request.query_params.get("sortDirection") or "asc").lower()
        if direction not in ("asc", "desc"):
            raise ApiError(400, "Bad Request", f"Invalid sortDirection '{direction[:40]}'.")
        ordered = sorted(items, key=key, reverse=direction == "desc")
        total = len(ordered)
        start = (page - 1) * per_page
        return {
            "items": [render(item) for item in ordered[start : start + per_page]],
            "paging": {"page": page, "perPage": per_page, "totalItems": total, "totalPages": math.ceil(total / per_page)},
            "sorting": [{"sortField": sort_field, "sortDirection": direction}],
        }

    _FILE_KEYS: dict[str, Callable[[FileRecord], Any]] = {
        "name": lambda f: f.name.casefold(),
        "size": lambda f: f.size,
        "datetime": lambda f: f.upload_stamp,
        "uploadstamp": lambda f: f.upload_stamp,
        "path": lambda f: f.name.casefold(),
    }

    # ---- endpoints -----------------------------------------------------------------------------

    async def public_info(self, request: Request) -> Response:
        """``GET /api/v1/info``: MOVEit's public organisation info (PublicOrgModel), no token."""
        raw = request.query_params.get("orgId", "-1")
        if not re.fullmatch(r"-?[0-9]{1,10}", raw):
            raise ApiError(400, "Bad Request", "orgId must be an integer.")
        if int(raw) not in (-1, ORG_ID):
            raise ApiError(404, "Not Found", "Organization not found.")
        base = f"{request.url.scheme}://{request.url.netloc}"
        return _json({
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
            return _json(self._user_details(self._user_for(request)))

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
            return _json(self._paged(request, visible, keys, "path", lambda f: self._simple_folder(f, user)))

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
            return _json(self._folder_details(self._own_folder(request, user), user))

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
            return _json(self._paged(request, items, self._FILE_KEYS, "name", self._simple_file))

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
                items = [f for f in items if f.upload_stamp >= _stamp(moment)]
            body = self._paged(request, items, self._FILE_KEYS, "path", self._simple_file)
            return _json({"currentTimestamp": _stamp(self.clock()), **body})

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
            return _json(self._file_details(self._own_file(request, user)))

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
            return _json(self._file_details(record))

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
                return _error(exc.status, exc.title, exc.detail)

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
            return _error(status, titles.get(status, "Error"), str(getattr(exc, "detail", "")) or titles.get(status, "Error"))

        async def server_error(request: Request, exc: Exception) -> Response:
            return _error(500, "Server Error", "An unexpected error occurred.")

        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: http_error, Exception: server_error},
        )


# ---- running over TLS -------------------------------------------------------------------------
