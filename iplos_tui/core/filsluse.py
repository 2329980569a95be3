"""SSB's feedback gateway ("filsluse"): a client for the MOVEit Transfer REST API subset.

Operations (reference/moveit-transfer-openapi-subset.json): ``POST /api/v1/token`` (password and
refresh grants, ``new_password`` when a change is required), ``/token/revoke``, ``GET
/users/self``, ``/folders``, ``/folders/{Id}/files`` and ``/files`` (paging envelope),
``GET/PATCH/DELETE /files/{Id}``, ``GET /files/{Id}/download``.

The gateway is treated as hostile (MOVEit CVE-2023-34362): every name, size, hash and message it
returns is checked and sanitised, ids must be plain tokens before they go into a URL, names are
never used as paths, JSON bodies and downloads are capped, and a download becomes visible only
after its size and SHA-1 match the file's details (temp -> verify -> fsync -> rename).

httpx is imported lazily; TLS uses an explicit ``ssl.SSLContext`` (a configured CA bundle or the
system store), ``trust_env=False``, no redirects followed, explicit timeouts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from iplos_tui import __version__
from iplos_tui.core.fsutil import TEMP_PREFIX, ensure_private_dir, fsync_dir
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

MiB = 1024 * 1024
API = "/api/v1"
MAX_JSON_BYTES = 1 * MiB
MAX_DOWNLOAD_BYTES = 64 * MiB
DOWNLOAD_DEADLINE = 600.0  # seconds for one whole download, however slowly it drips
PER_PAGE = 100
MAX_PAGES = 200
MAX_ITEMS = 10_000
CHUNK = 64 * 1024
TOKEN_MARGIN = 30.0
JSON_TYPES = ("application/json", "text/json", "application/problem+json")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$", re.ASCII)

# The guide's rules for the gateway password (≥ 6 characters, a letter and a digit, not like the
# username); the server's own requirements are added on top when it sends them.
GUIDE_MIN_LENGTH = 6


class _Revealable(Protocol):
    def reveal(self) -> str: ...


def _plain(secret: _Revealable | str) -> str:
    return secret if isinstance(secret, str) else secret.reveal()


def _shown(value: object, limit: int = 300) -> str:
    return safe_text(str(value), one_line=True, limit=limit)


# ---- errors -----------------------------------------------------------------------------------

class GatewayError(Exception):
    """``kind``: "network" (exit 3), "server" (3), "integrity" (3), "auth" (4), "usage" (2), "cancelled"."""

    kind = "server"

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = {k: _shown(v) if isinstance(v, str) else v for k, v in values.items()}
        super().__init__(f"{key}: {self.values}")

    def message(self) -> str:
        return t(f"filsluse.{self.key}", **self.values)


class GatewayNetworkError(GatewayError):
    kind = "network"


class GatewayIntegrityError(GatewayError):
    kind = "integrity"


class GatewayUsageError(GatewayError):
    kind = "usage"


class GatewayCancelled(GatewayError):
    kind = "cancelled"


class GatewayAuthError(GatewayError):
    kind = "auth"

    def __init__(self, key: str, error: str = "", error_code: int | None = None, **values: object) -> None:
        self.error = _shown(error, 80)
        self.error_code = error_code
        super().__init__(key, **values)


@dataclass(frozen=True)
class PasswordRequirements:
    minimum_length: int = GUIDE_MIN_LENGTH
    username_match_requirement: str = "MustNotResemble"
    require_letters_numbers: bool = True
    require_mixed_case: bool = False
    require_non_alphanumeric: bool = False
    no_dictionary_words: bool = False

    @classmethod
    def from_json(cls, data: object) -> PasswordRequirements:
        if not isinstance(data, dict):
            return cls()

        def flag(key: str) -> bool:
            return data.get(key) is True

        length = data.get("minimum_length")
        match = data.get("username_match_requirement")
        return cls(
            minimum_length=length if isinstance(length, int) and not isinstance(length, bool) and 0 <= length <= 256 else GUIDE_MIN_LENGTH,
            username_match_requirement=match if match in ("None", "MustNotMatch", "MustNotContain", "MustNotResemble") else "MustNotResemble",
            require_letters_numbers=flag("require_letters_numbers"),
            require_mixed_case=flag("require_mixed_case"),
            require_non_alphanumeric=flag("require_non_alphanumeric"),
            no_dictionary_words=flag("no_dictionary_words"),
        )


class PasswordChangeRequired(GatewayAuthError):
    """The gateway wants a new password before it issues a token (error_code 3988)."""

    def __init__(self, requirements: PasswordRequirements, **values: object) -> None:
        self.requirements = requirements
        super().__init__("password_change_required", "password_change_required", 3988, **values)


# ---- password rules ---------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"})


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold().translate(_LEET))


def resembles_username(password: str, username: str) -> bool:
    """Contains the username, a part of it (≥ 3 characters), or a look-alike (p4ssw0rd-style)."""
    pw = _norm(password)
    local = username.split("@", 1)[0]
    parts = {_norm(local), _norm(username)} | {_norm(p) for p in re.split(r"[^A-Za-z0-9]+", username)}
    parts = {p for p in parts if len(p) >= 3}
    if not pw:
        return False
    for part in parts:
        if part in pw or part[::-1] in pw or (len(pw) >= 3 and pw in part):
            return True
    return False


def check_new_password(password: _Revealable | str, username: str, requirements: PasswordRequirements | None = None) -> list[str]:
    """The reasons ``password`` may not be set (empty when it may); never echoes the password."""
    value = _plain(password)
    req = requirements or PasswordRequirements()
    reasons: list[str] = []
    minimum = max(GUIDE_MIN_LENGTH, req.minimum_length)
    if len(value) < minimum:
        reasons.append(t("filsluse.pw_length", min=minimum))
    if not (any(c.isalpha() for c in value) and any(c.isdigit() for c in value)):
        reasons.append(t("filsluse.pw_letters_digits"))
    if req.require_mixed_case and not (any(c.islower() for c in value) and any(c.isupper() for c in value)):
        reasons.append(t("filsluse.pw_mixed_case"))
    if req.require_non_alphanumeric and value.isalnum():
        reasons.append(t("filsluse.pw_symbol"))
    if username and (value.casefold() == username.casefold() or username.casefold() in value.casefold() or resembles_username(value, username)):
        reasons.append(t("filsluse.pw_username"))
    if any(c.isspace() or not c.isprintable() for c in value):
        reasons.append(t("filsluse.pw_chars"))
    return reasons


# ---- models -----------------------------------------------------------------------------------

def _int(value: object, *, minimum: int = 0) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        return None
    return value


def _str(value: object, limit: int = 4096) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _file_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _ID.match(value):
        return value
    return None


@dataclass(frozen=True)
class GatewayUser:
    id: str
    username: str
    full_name: str
    email: str
    home_folder_id: int
    default_folder_id: int

    @classmethod
    def from_json(cls, data: dict) -> GatewayUser:
        return cls(
            id=_str(data.get("id"), 128),
            username=_str(data.get("username"), 256),
            full_name=_str(data.get("fullName"), 256),
            email=_str(data.get("email"), 256),
            home_folder_id=_int(data.get("homeFolderID")) or 0,
            default_folder_id=_int(data.get("defaultFolderID")) or 0,
        )


@dataclass(frozen=True)
class GatewayFolder:
    id: int
    name: str
    path: str

    @classmethod
    def from_json(cls, data: dict) -> GatewayFolder | None:
        folder_id = _int(data.get("id"), minimum=1)
        if folder_id is None:
            return None
        return cls(id=folder_id, name=_str(data.get("name"), 1024), path=_str(data.get("path"), 4096))


@dataclass(frozen=True)
class GatewayFile:
    """A file on the gateway. ``name`` and the other strings are untrusted: show ``display_*``."""

    id: str
    name: str
    size: int
    upload_stamp: str
    path: str
    folder_id: int
    upload_username: str
    is_new: bool
    sha1: str | None = None  # only in file details (FileDetailsModel.hash), lower-case hex
    original_filename: str = ""
    upload_comment: str = ""

    @property
    def display_name(self) -> str:
        return safe_text(self.name, one_line=True, limit=200)

    @classmethod
    def from_json(cls, data: object) -> GatewayFile | None:
        if not isinstance(data, dict):
            return None
        file_id = _file_id(data.get("id"))
        size = _int(data.get("size"))
        if file_id is None or size is None:
            return None
        digest = data.get("hash")
        return cls(
            id=file_id,
            name=_str(data.get("name"), 4096),
            size=size,
            upload_stamp=_str(data.get("uploadStamp"), 64),
            path=_str(data.get("path"), 4096),
            folder_id=_int(data.get("folderID")) or 0,
            upload_username=_str(data.get("uploadUsername"), 256),
            is_new=data.get("isNew") is True,
            sha1=digest.lower() if isinstance(digest, str) and _SHA1.match(digest) else None,
            original_filename=_str(data.get("originalFilename"), 4096),
            upload_comment=_str(data.get("uploadComment"), 4096),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.display_name,
            "size": self.size,
            "uploadStamp": _shown(self.upload_stamp, 64),
            "isNew": self.is_new,
            "uploadUsername": _shown(self.upload_username, 256),
        }


@dataclass(frozen=True)
class Downloaded:
    file: GatewayFile
    path: Path
    size: int
    sha1: str
    already_present: bool = False


# ---- TLS and local names ------------------------------------------------------------------------

def make_ssl_context(ca_bundle: Path | str | None = None) -> ssl.SSLContext:
    """Verification always on: the configured CA bundle, else the system store; never the
    environment's SSL_CERT_FILE / SSL_CERT_DIR (the one trust helper every client uses)."""
    from iplos_tui.core import tlsconfig

    path = None
    if ca_bundle:
        path = Path(ca_bundle).expanduser()
        if not path.is_file():
            raise GatewayUsageError("ca_bundle_missing", path=str(path))
    return tlsconfig.make_ssl_context(path)


def local_name_for(file: GatewayFile) -> str:
    """The file's own name when it is a strict feedback name, else one we make from its id."""
    from iplos_tui.core.feedback.naming import is_safe_feedback_name

    if is_safe_feedback_name(file.name):
        return file.name
    return f"filsluse-{file.id}.zip"


def _unique(directory: Path, name: str) -> Path:
    candidate = directory / name
    stem, dot, ext = name.rpartition(".")
    number = 2
    while os.path.lexists(candidate):
        candidate = directory / (f"{stem}-{number}.{ext}" if dot else f"{name}-{number}")
        number += 1
    return candidate


def _sha1_of(path: Path) -> tuple[int, str]:
    digest = hashlib.sha1(usedforsecurity=False)
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


# ---- the client -------------------------------------------------------------------------------

class GatewayClient:
    """One session with the gateway (one reused ``httpx.Client``). Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_bundle: Path | str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_json_bytes: int = MAX_JSON_BYTES,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        download_deadline: float = DOWNLOAD_DEADLINE,
        per_page: int = PER_PAGE,
    ) -> None:
        import httpx

        url = base_url.strip()
        if not url.lower().startswith("https://"):
            raise GatewayUsageError("not_https", url=url)
        self.base_url = url.rstrip("/")
        self.max_json_bytes = max_json_bytes
        self.max_download_bytes = max_download_bytes
        self.download_deadline = download_deadline
        self.per_page = per_page
        self._username = ""
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._http = httpx.Client(
            base_url=self.base_url,
            verify=ssl_context or make_ssl_context(ca_bundle),
            trust_env=False,
            follow_redirects=False,
            proxy=proxy or None,
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
            headers={"User-Agent": f"iplos-tui/{__version__}", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"GatewayClient({self.base_url!r}, logged_in={self.logged_in})"

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def logged_in(self) -> bool:
        return self._access is not None

    def close(self) -> None:
        if self._access is not None:
            with contextlib.suppress(GatewayError):
                self.revoke()
        self._http.close()

    # -- transport --

    @contextlib.contextmanager
    def _stream(self, method: str, path: str, **kwargs: Any) -> Iterator[Any]:
        import httpx

        try:
            with self._http.stream(method, path, **kwargs) as response:
                if 300 <= response.status_code < 400:
                    raise GatewayError("redirect", status=response.status_code, location=response.headers.get("location", ""))
                yield response
        except httpx.TimeoutException:
            raise GatewayNetworkError("timeout", url=self.base_url) from None
        except httpx.ConnectError as exc:
            raise GatewayNetworkError(self._connect_key(exc), url=self.base_url, detail=str(exc)) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise GatewayNetworkError("transport", url=self.base_url, detail=str(exc) or type(exc).__name__) from None

    @staticmethod
    def _connect_key(exc: Exception) -> str:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return "tls_verify" if "expired" not in text and "not yet valid" not in text else "tls_clock"
        return "connect"

    def _read_json(self, response: Any) -> Any:
        ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_json_bytes:
                raise GatewayError("too_large", status=response.status_code, limit=self.max_json_bytes)
        if ctype not in JSON_TYPES:
            raise GatewayError("not_json", status=response.status_code, content_type=ctype or "-")
        try:
            return json.loads(bytes(body).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise GatewayError("not_json", status=response.status_code, content_type=ctype) from None

    def _error_from(self, response: Any) -> GatewayError:
        """A server error (ErrorModel {title, detail, errorCode}); the body is optional and capped."""
        title = detail = ""
        try:
            data = self._read_json(response)
        except GatewayError:
            data = None
        if isinstance(data, dict):
            title = _str(data.get("title") or data.get("error") or data.get("message"), 300)
            detail = _str(data.get("detail") or data.get("error_description"), 300)
        status = response.status_code
        if status == 401:
            return GatewayAuthError("unauthorized", status=status, detail=detail or title)
        if status == 403:
            return GatewayError("forbidden", status=status, detail=detail or title)
        if status == 404:
            return GatewayError("not_found", status=status, detail=detail or title)
        return GatewayError("server_error", status=status, title=title, detail=detail)

    # -- authentication --

    def login(
        self,
        username: str,
        password: _Revealable | str,
        *,
        new_password: _Revealable | str | None = None,
        requirements: PasswordRequirements | None = None,
    ) -> GatewayUser:
        """Password grant; with ``new_password`` when the gateway demanded a change (checked here first)."""
        if not username:
            raise GatewayUsageError("no_username")
        form = {"grant_type": "password", "username": username, "password": _plain(password)}
        if new_password is not None:
            reasons = check_new_password(new_password, username, requirements)
            if reasons:
                raise GatewayUsageError("pw_rejected", reasons="; ".join(reasons))
            form["new_password"] = _plain(new_password)
        self._username = username
        self._token_request(form)
        return self.self_user()

    def refresh(self) -> None:
        if not self._refresh:
            raise GatewayAuthError("unauthorized", status=401, detail="")
        self._token_request({"grant_type": "refresh_token", "refresh_token": self._refresh})

    def revoke(self) -> None:
        token, self._access, self._refresh = self._access, None, None
        if token:
            with self._stream("POST", f"{API}/token/revoke", data={"token": token}) as response:
                if response.status_code == 200:
                    response.read()

    def _token_request(self, form: dict[str, str]) -> None:
        with self._stream("POST", f"{API}/token", data=form) as response:
            status = response.status_code
            if status == 200:
                data = self._read_json(response)
                self._store_token(data)
                return
            try:
                data = self._read_json(response)
            except GatewayError:
                data = None
        self._access = None
        if not isinstance(data, dict):
            if status in (400, 401, 403):
                raise GatewayAuthError("login_failed", status=status, detail="")
            raise GatewayError("server_error", status=status, title="", detail="")
        error = _str(data.get("error"), 80)
        code = _int(data.get("error_code"))
        detail = _str(data.get("error_description"), 300)
        if error == "password_change_required" or code == 3988:
            raise PasswordChangeRequired(PasswordRequirements.from_json(data.get("password_requirements")), detail=detail)
        if error == "accept_security_notice_required" or code == 3985:
            raise GatewayAuthError("security_notice", error, code, detail=detail)
        if error == "mfa_required" or code == 2028 or status == 412:
            raise GatewayAuthError("mfa", error, code, detail=detail)
        if form.get("grant_type") == "refresh_token":
            raise GatewayAuthError("refresh_failed", error, code, detail=detail)
        if status in (400, 401, 403):
            raise GatewayAuthError("login_failed", error, code, status=status, detail=detail)
        raise GatewayError("server_error", status=status, title=error, detail=detail)

    def _store_token(self, data: object) -> None:
        if not isinstance(data, dict):
            raise GatewayError("bad_response", what="token")
        access = data.get("access_token")
        if not isinstance(access, str) or not access or len(access) > 8192 or not access.isascii() or not access.isprintable():
            raise GatewayError("bad_response", what="token")
        refresh = data.get("refresh_token")
        expires = _int(data.get("expires_in")) or 1200
        self._access = access
        self._refresh = refresh if isinstance(refresh, str) and refresh.isascii() and refresh.isprintable() and len(refresh) <= 8192 else None
        self._expires_at = time.monotonic() + min(expires, 24 * 3600)

    # -- authenticated requests --

    def _headers(self) -> dict[str, str]:
        if self._access is None:
            raise GatewayAuthError("not_logged_in")
        if self._refresh and time.monotonic() > self._expires_at - TOKEN_MARGIN:
            self.refresh()
        return {"Authorization": f"Bearer {self._access}"}

    @contextlib.contextmanager
    def _authed(self, method: str, path: str, **kwargs: Any) -> Iterator[Any]:
        """One request; a 401 is answered by one refresh and one retry (nothing was done on a 401)."""
        extra = kwargs.pop("headers", {})
        for attempt in (1, 2):
            with self._stream(method, path, headers={**extra, **self._headers()}, **kwargs) as response:
                if response.status_code == 401 and attempt == 1 and self._refresh:
                    retry = True  # the body is not read: the connection is dropped with it
                else:
                    retry = False
                    yield response
            if not retry:
                return
            self.refresh()

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        with self._authed("GET", path, params=params) as response:
            if response.status_code != 200:
                raise self._error_from(response)
            return self._read_json(response)

    def self_user(self) -> GatewayUser:
        data = self._get_json(f"{API}/users/self")
        if not isinstance(data, dict):
            raise GatewayError("bad_response", what="users/self")
        return GatewayUser.from_json(data)

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        total_seen = 0
        for page in range(1, MAX_PAGES + 1):
            data = self._get_json(path, {**params, "page": page, "perPage": self.per_page})
            if not isinstance(data, dict) or not isinstance(data.get("items"), list):
                raise GatewayError("bad_response", what=path)
            items = data["items"]
            for item in items:
                total_seen += 1
                if total_seen > MAX_ITEMS:
                    raise GatewayError("too_many_items", limit=MAX_ITEMS)
                if isinstance(item, dict):
                    yield item
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            total_pages = _int(paging.get("totalPages"))
            if not items or total_pages is None or page >= total_pages:
                return
        raise GatewayError("too_many_items", limit=MAX_PAGES * self.per_page)

    def list_folders(self, *, path: str | None = None, name: str | None = None) -> list[GatewayFolder]:
        params = {k: v for k, v in (("path", path), ("name", name)) if v}
        folders = (GatewayFolder.from_json(item) for item in self._pages(f"{API}/folders", params))
        return [f for f in folders if f is not None]

    def home_folder_id(self, user: GatewayUser | None = None) -> int:
        """The user's folder: ``homeFolderID``, else ``/Home/Ekstern/iplos/<username>``."""
        user = user or self.self_user()
        if user.home_folder_id:
            return user.home_folder_id
        path = f"/Home/Ekstern/iplos/{user.username or self._username}"
        for folder in self.list_folders(path=path):
            if folder.path.rstrip("/").casefold() == path.casefold():
                return folder.id
        raise GatewayError("no_folder", username=user.username or self._username)

    def list_files(self, folder_id: int | None = None, *, new_only: bool = False) -> list[GatewayFile]:
        """Every file in the folder (all pages); entries with an unusable id or size are dropped."""
        if folder_id is None:
            folder_id = self.home_folder_id()
        params: dict[str, Any] = {"sortField": "uploadStamp", "sortDirection": "desc"}
        if new_only:
            params["newOnly"] = "true"
        files = (GatewayFile.from_json(item) for item in self._pages(f"{API}/folders/{int(folder_id)}/files", params))
        return [f for f in files if f is not None]

    def _file_path(self, file_id: str) -> str:
        checked = _file_id(file_id)
        if checked is None:
            raise GatewayError("bad_id", id=str(file_id))
        return f"{API}/files/{checked}"

    def file_details(self, file_id: str) -> GatewayFile:
        data = self._get_json(self._file_path(file_id))
        details = GatewayFile.from_json(data)
        if details is None or details.id != file_id:
            raise GatewayError("bad_response", what="files/{id}")
        return details

    def mark_not_new(self, file_id: str) -> None:
        with self._authed("PATCH", self._file_path(file_id), json={"isNew": False}) as response:
            if response.status_code != 200:
                raise self._error_from(response)
            self._read_json(response)

    def delete(self, file_id: str) -> None:
        with self._authed("DELETE", self._file_path(file_id)) as response:
            if response.status_code not in (200, 204):
                raise self._error_from(response)

    # -- download --

    def download(
        self,
        file: GatewayFile | str,
        directory: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Downloaded:
        """Fetch one file into ``directory`` (created 0700): temp -> size and SHA-1 -> rename.

        The name is ``local_name_for()`` (never the server's name as a path). A file already
        there with the same size and SHA-1 is not fetched again. Raises GatewayIntegrityError on
        a size or SHA-1 mismatch and when the cap is reached; the temp file is always removed.
        """
        file_id = file.id if isinstance(file, GatewayFile) else file
        details = self.file_details(file_id)
        if isinstance(file, GatewayFile) and file.size != details.size:
            raise GatewayIntegrityError("size_mismatch", name=details.display_name, expected=file.size, got=details.size)
        if details.sha1 is None:
            raise GatewayIntegrityError("no_hash", name=details.display_name)
        if details.size > self.max_download_bytes:
            raise GatewayIntegrityError("oversize", name=details.display_name, size=details.size, limit=self.max_download_bytes)
        directory = ensure_private_dir(Path(directory))
        name = local_name_for(details)
        existing = directory / name
        if existing.is_file() and not existing.is_symlink() and _sha1_of(existing) == (details.size, details.sha1):
            return Downloaded(details, existing, details.size, details.sha1, already_present=True)

        temp = directory / f"{TEMP_PREFIX}{name}.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                size, digest = self._fetch_into(details, handle, progress, cancel)
                handle.flush()
                os.fsync(handle.fileno())
            if size != details.size:
                raise GatewayIntegrityError("size_mismatch", name=details.display_name, expected=details.size, got=size)
            if digest != details.sha1:
                raise GatewayIntegrityError("sha1_mismatch", name=details.display_name)
            target = _unique(directory, name)
            os.rename(temp, target)
            fsync_dir(directory)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return Downloaded(details, target, size, digest)

    def _fetch_into(self, details: GatewayFile, handle: Any, progress: Callable[[int, int], None] | None, cancel: threading.Event | None) -> tuple[int, str]:
        cap = min(details.size, self.max_download_bytes)
        deadline = time.monotonic() + self.download_deadline
        digest = hashlib.sha1(usedforsecurity=False)
        size = 0
        headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
        with self._authed("GET", self._file_path(details.id) + "/download", headers=headers) as response:
            if response.status_code != 200:
                raise self._error_from(response)
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise GatewayIntegrityError("encoded", name=details.display_name, encoding=encoding)
            length = response.headers.get("content-length")
            if length is not None and (not length.strip().isdigit() or int(length) != details.size):
                raise GatewayIntegrityError("size_mismatch", name=details.display_name, expected=details.size, got=length)
            for chunk in response.iter_raw():
                if cancel is not None and cancel.is_set():
                    raise GatewayCancelled("cancelled")
                if time.monotonic() > deadline:
                    raise GatewayNetworkError("timeout", url=self.base_url)
                size += len(chunk)
                if size > cap:
                    raise GatewayIntegrityError("oversize", name=details.display_name, size=size, limit=cap)
                digest.update(chunk)
                handle.write(chunk)
                if progress is not None:
                    progress(size, details.size)
        return size, digest.hexdigest()
