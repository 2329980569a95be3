"""MOVEit Transfer as the sandbox plays it: the definition's models field for field
(``UserDetailsModel``, ``SimpleFolderModel`` / ``FolderDetailsModel``, ``SimpleFileResourceModel``
/ ``FileDetailsModel`` with ``hash`` = SHA-1 hex), the paging envelope ``{items, paging{page,
perPage, totalItems, totalPages}, sorting[]}`` (``perPage`` 25 by default), ``ErrorModel {title,
detail, errorCode}``, the bearer-token check and the password grant with its lockout and forced
password change. Sandbox choices the definition leaves open: ``errorCode`` is the HTTP status; a
wrong password answers 400 ``invalid_grant``; an account locks after ``max_failed_logins``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from iplos_tui.sandbox.gateway.storage import FileRecord, FolderRecord, UserRecord, hash_password, password_matches, stamp

ORG_ID = 5281  # SSB's organisation id in the seed's URLs
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 1000
JSON_TYPE = "application/json; charset=utf-8"


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


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail
        super().__init__(f"{status} {title}: {detail}")


def error(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "errorCode": status}, status_code=status, media_type=JSON_TYPE)


def answer(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, media_type=JSON_TYPE)


class MoveitEmulation:
    """Mixed into ``Gateway`` above ``GatewayStorage``: what MOVEit answers, from the state."""

    def _user_for(self, request: Request) -> UserRecord:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        entry = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or entry[1] < time.monotonic():
            raise ApiError(401, "Unauthorized", "Authorization has been denied for this request.")
        user = self.users.get(entry[0])
        if user is None or user.status != "Active":
            raise ApiError(401, "Unauthorized", "Authorization has been denied for this request.")
        return user

    def _password_grant(self, form: dict[str, str]) -> Response:
        username, password = form.get("username", ""), form.get("password", "")
        user = self.users.get(username.casefold())
        if user is not None and user.status != "Active":
            return answer({"error": "invalid_grant", "error_code": 400, "error_description": "The user account is locked. Contact the administrator."}, 400)
        if user is None or not password_matches(password, user.password_hash):
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= self.max_failed_logins:
                    user.status = "Suspended"
                self._save()
            return answer({"error": "invalid_grant", "error_code": 400, "error_description": "Invalid username or password."}, 400)
        user.failed_logins = 0
        if user.force_change_password:
            new_password = form.get("new_password")
            problems = password_problems(new_password, user.username) if new_password else ["A new password is required."]
            if new_password and new_password == password:
                problems.append("The new password must differ from the old one.")
            if problems:
                self._save()
                return answer(
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
            user.password_hash = hash_password(new_password)
            user.force_change_password = False
            user.password_changed = stamp(self.clock())
        user.last_login = stamp(self.clock())
        self._save()
        return answer(self._issue_tokens(user))

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
        last = max((f.upload_stamp for f in files), default=stamp(self.clock()))
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
