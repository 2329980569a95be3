"""``GatewayClient``: one session with SSB's feedback gateway (MOVEit Transfer REST subset).

Operations (reference/moveit-transfer-openapi-subset.json): ``POST /api/v1/token`` (password and
refresh grants, ``new_password`` when a change is required), ``/token/revoke``, ``GET
/users/self``, ``/folders``, ``/folders/{Id}/files`` (paging envelope), ``GET/PATCH/DELETE
/files/{Id}``, ``GET /files/{Id}/download``.

The gateway is treated as hostile (MOVEit CVE-2023-34362): every answer is read raw under a cap
with ``Accept-Encoding: identity`` (any other encoding is refused, so a gzip bomb is never
decoded), every request has a total deadline (``Timeouts.request``; a download's is sized by its
announced length), and the whole session may be bounded too (``limit_until``). Ids must be plain
tokens before they go into a URL, names are never paths, and a download becomes visible only
after its size and SHA-1 match the file's details (temp -> verify -> fsync -> rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iplos_tui import __version__
from iplos_tui.core import httpguard
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.fsutil import TEMP_PREFIX, ensure_private_dir, fsync_dir
from iplos_tui.core.gateway.errors import (
    GatewayAuthError,
    GatewayError,
    GatewayIntegrityError,
    GatewayNetworkError,
    GatewayUsageError,
    PasswordChangeRequired,
)
from iplos_tui.core.gateway.models import (
    Downloaded,
    GatewayFile,
    GatewayFolder,
    GatewayUser,
    Listing,
    RefusedItem,
    UnusableItem,
    as_int,
    as_str,
    file_id,
)
from iplos_tui.core.gateway.passwords import PasswordRequirements, Revealable, check_new_password, plain

MiB = 1024 * 1024
API = "/api/v1"
MAX_JSON_BYTES = 1 * MiB
MAX_DOWNLOAD_BYTES = 64 * MiB
PER_PAGE = 100
MAX_PAGES = 200
MAX_ITEMS = 10_000
CHUNK = 64 * 1024
TOKEN_MARGIN = 30.0
JSON_TYPES = ("application/json", "text/json", "application/problem+json")


@dataclass(frozen=True)
class Timeouts:
    """``request``: the total time of one small request (token, listing, details, mark, delete);
    a download gets ``request`` plus its announced size at ``min_rate`` bytes per second."""

    connect: float = 10.0
    read: float = 30.0
    request: float = 60.0
    min_rate: float = 64 * 1024.0

    def for_download(self, size: int) -> float:
        return self.request + size / self.min_rate


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


def _seconds(value: float) -> str:
    from iplos_tui.core.i18n import get_language

    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if get_language() == "nb" else text


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


class GatewayClient:
    """One session (one reused ``httpx.Client``, one thread). Use as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_bundle: Path | str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: str | None = None,
        timeouts: Timeouts | None = None,
        max_json_bytes: int = MAX_JSON_BYTES,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
        per_page: int = PER_PAGE,
    ) -> None:
        url = base_url.strip()
        if not url.lower().startswith("https://"):
            raise GatewayUsageError("not_https", url=url)
        self.base_url = url.rstrip("/")
        self.timeouts = timeouts or Timeouts()
        self.max_json_bytes = max_json_bytes
        self.max_download_bytes = max_download_bytes
        self.per_page = per_page
        self._username = ""
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0
        self._until: float | None = None  # the whole session's end (monotonic), see limit_until
        self._until_seconds = 0.0
        self._deadline = httpguard.Deadline()
        self._http = httpguard.guarded_client(
            base_url=self.base_url,
            ssl_context=ssl_context or make_ssl_context(ca_bundle),
            deadline=self._deadline,
            proxy=proxy or "",
            connect_timeout=self.timeouts.connect,
            read_timeout=self.timeouts.read,
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

    def limit_until(self, seconds: float) -> None:
        """Bound everything this session still does to ``seconds`` from now (the whole fetch)."""
        self._until = time.monotonic() + seconds
        self._until_seconds = seconds

    def close(self) -> None:
        if self._access is not None:
            with contextlib.suppress(GatewayError):
                self._until = None  # the token is revoked even when the fetch ran out of time
                self.revoke()
        self._http.close()

    # -- transport --

    @contextlib.contextmanager
    def _stream(self, method: str, path: str, *, seconds: float | None = None, **kwargs: Any) -> Iterator[Any]:
        """One request under its total deadline; the body must be read inside the ``with``."""
        import httpx

        budget = self.timeouts.request if seconds is None else seconds
        capped = False
        if self._until is not None:
            left = self._until - time.monotonic()
            if left <= 0:
                raise GatewayNetworkError("fetch_deadline", seconds=_seconds(self._until_seconds))
            capped = left < budget
            budget = min(budget, left)
        self._deadline.start(budget)
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if 300 <= response.status_code < 400:
                    raise GatewayError("redirect", status=response.status_code, location=response.headers.get("location", ""))
                yield response
        except httpx.TimeoutException:
            expired = self._deadline.expired()
            if expired and capped:
                raise GatewayNetworkError("fetch_deadline", seconds=_seconds(self._until_seconds)) from None
            if expired:
                raise GatewayNetworkError("deadline", url=self.base_url, seconds=_seconds(budget)) from None
            raise GatewayNetworkError("timeout", url=self.base_url) from None
        except httpx.ConnectError as exc:
            raise GatewayNetworkError(self._connect_key(exc), url=self.base_url, detail=str(exc)) from None
        except (httpx.TransportError, httpx.DecodingError, httpx.InvalidURL) as exc:
            raise GatewayNetworkError("transport", url=self.base_url, detail=str(exc) or type(exc).__name__) from None
        finally:
            self._deadline.stop()

    @staticmethod
    def _connect_key(exc: Exception) -> str:
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
            return "tls_verify" if "expired" not in text and "not yet valid" not in text else "tls_clock"
        return "connect"

    def _read_json(self, response: Any) -> Any:
        ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        try:
            body = httpguard.read_capped(response, self.max_json_bytes)
        except httpguard.EncodedAnswer as exc:
            raise GatewayError("encoded_answer", status=response.status_code, encoding=exc.encoding) from None
        except httpguard.AnswerTooLarge:
            raise GatewayError("too_large", status=response.status_code, limit=self.max_json_bytes) from None
        if ctype not in JSON_TYPES:
            raise GatewayError("not_json", status=response.status_code, content_type=ctype or "-")
        try:
            return json.loads(body.decode("utf-8"))
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
            title = as_str(data.get("title") or data.get("error") or data.get("message"), 300)
            detail = as_str(data.get("detail") or data.get("error_description"), 300)
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
        password: Revealable | str,
        *,
        new_password: Revealable | str | None = None,
        requirements: PasswordRequirements | None = None,
    ) -> GatewayUser:
        """Password grant; with ``new_password`` when the gateway demanded a change (checked here first)."""
        if not username:
            raise GatewayUsageError("no_username")
        form = {"grant_type": "password", "username": username, "password": plain(password)}
        if new_password is not None:
            reasons = check_new_password(new_password, username, requirements)
            if reasons:
                raise GatewayUsageError("pw_rejected", reasons="; ".join(reasons))
            form["new_password"] = plain(new_password)
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
                    with contextlib.suppress(GatewayError):
                        self._read_json(response)

    def _token_request(self, form: dict[str, str]) -> None:
        with self._stream("POST", f"{API}/token", data=form) as response:
            status = response.status_code
            if status == 200:
                self._store_token(self._read_json(response))
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
        error = as_str(data.get("error"), 80)
        code = as_int(data.get("error_code"))
        detail = as_str(data.get("error_description"), 300)
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
        expires = as_int(data.get("expires_in")) or 1200
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
                retry = response.status_code == 401 and attempt == 1 and bool(self._refresh)
                if not retry:
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

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[object]:
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
                yield item
            paging = data.get("paging")
            total_pages = as_int(paging.get("totalPages")) if isinstance(paging, dict) else None
            if not items or total_pages is None or page >= total_pages:
                return
        raise GatewayError("too_many_items", limit=MAX_PAGES * self.per_page)

    def list_folders(self, *, path: str | None = None, name: str | None = None) -> list[GatewayFolder]:
        params = {k: v for k, v in (("path", path), ("name", name)) if v}
        folders = (GatewayFolder.from_json(item) for item in self._pages(f"{API}/folders", params) if isinstance(item, dict))
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

    def list_files(self, folder_id: int | None = None, *, new_only: bool = False) -> Listing:
        """Every file in the folder (all pages); items with an unusable id or size are refused."""
        if folder_id is None:
            folder_id = self.home_folder_id()
        params: dict[str, Any] = {"sortField": "uploadStamp", "sortDirection": "desc"}
        if new_only:
            params["newOnly"] = "true"
        files: list[GatewayFile] = []
        refused: list[RefusedItem] = []
        for item in self._pages(f"{API}/folders/{int(folder_id)}/files", params):
            try:
                files.append(GatewayFile.from_json(item))
            except UnusableItem as exc:
                refused.append(RefusedItem.of(item, exc.reason))
        return Listing(files, refused)

    def _file_path(self, checked: str) -> str:
        if file_id(checked) is None:
            raise GatewayError("bad_id", id=str(checked))
        return f"{API}/files/{checked}"

    def file_details(self, wanted: str) -> GatewayFile:
        data = self._get_json(self._file_path(wanted))
        try:
            details = GatewayFile.from_json(data)
        except UnusableItem:
            raise GatewayError("bad_response", what="files/{id}") from None
        if details.id != wanted:
            raise GatewayError("bad_response", what="files/{id}")
        return details

    def mark_not_new(self, wanted: str) -> None:
        with self._authed("PATCH", self._file_path(wanted), json={"isNew": False}) as response:
            if response.status_code != 200:
                raise self._error_from(response)
            self._read_json(response)

    def delete(self, wanted: str) -> None:
        with self._authed("DELETE", self._file_path(wanted)) as response:
            if response.status_code not in (200, 204):
                raise self._error_from(response)

    # -- download --

    def download(
        self,
        file: GatewayFile,
        directory: Path,
        name: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Downloaded:
        """Fetch ``file`` into ``directory`` (created 0700) as ``name``: temp -> size and SHA-1 -> rename.

        ``name`` must be a plain local name the caller chose (never the server's name as a path).
        A file already there with the same size and SHA-1 is not fetched again; another file with
        the name gets ``-2``. Raises GatewayIntegrityError on a size or SHA-1 mismatch and at the
        cap; the temp file is always removed (a killed run's is cleaned by the next one).
        """
        details = self.file_details(file.id)
        if file.size != details.size:
            raise GatewayIntegrityError("size_mismatch", name=details.display_name, expected=file.size, got=details.size)
        if details.sha1 is None:
            raise GatewayIntegrityError("no_hash", name=details.display_name)
        if details.size > self.max_download_bytes:
            raise GatewayIntegrityError("oversize", name=details.display_name, size=details.size, limit=self.max_download_bytes)
        directory = ensure_private_dir(Path(directory))
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
        digest = hashlib.sha1(usedforsecurity=False)
        size = 0
        headers = {"Accept": "application/octet-stream"}
        seconds = self.timeouts.for_download(details.size)
        with self._authed("GET", self._file_path(details.id) + "/download", headers=headers, seconds=seconds) as response:
            if response.status_code != 200:
                raise self._error_from(response)
            try:
                httpguard.check_identity(response)
            except httpguard.EncodedAnswer as exc:
                raise GatewayIntegrityError("encoded", name=details.display_name, encoding=exc.encoding) from None
            length = response.headers.get("content-length")
            if length is not None and (not length.strip().isascii() or not length.strip().isdigit() or int(length) != details.size):
                raise GatewayIntegrityError("size_mismatch", name=details.display_name, expected=details.size, got=length)
            for chunk in response.iter_raw():
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                size += len(chunk)
                if size > cap:
                    raise GatewayIntegrityError("oversize", name=details.display_name, size=size, limit=cap)
                digest.update(chunk)
                handle.write(chunk)
                if progress is not None:
                    progress(size, details.size)
        return size, digest.hexdigest()
