"""The sandbox gateway's storage: users (PBKDF2 password hashes), folders, file metadata and
tokens; ``<root>/state.json`` and ``<root>/files/``, locked across processes, so deleting
``root`` resets the gateway. No HTTP here: the MOVEit emulation and the routes build on it.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir

FOLDER_ROOT = "/Home/Ekstern/iplos"
TOKEN_LIFETIME = 1200
PBKDF2_ROUNDS = 20_000


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ROUNDS)
    return f"{base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    salt_b64, _, _ = stored.partition("$")
    return hmac.compare_digest(hash_password(password, base64.b64decode(salt_b64)), stored)


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


class GatewayStorage:
    """The state and its Python API (``add_user``, ``put_file``); thread- and process-safe."""

    def __init__(
        self,
        root: Path,
        *,
        token_lifetime: int = TOKEN_LIFETIME,
        max_failed_logins: int = 5,
        clock: Callable[[], dt.datetime] = now,
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
                password_hash=hash_password(password),
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
                upload_stamp=stamp(upload_stamp or self.clock()),
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

    # ---- tokens ----------------------------------------------------------------------------

    def _issue_tokens(self, user: UserRecord) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        self._access[access] = (user.username.casefold(), time.monotonic() + self.token_lifetime)
        self._refresh[refresh] = user.username.casefold()
        return {"access_token": access, "token_type": "bearer", "expires_in": self.token_lifetime, "refresh_token": refresh}
