"""The sandbox Sendemodul: the server side of docs/sendemodul-protocol.md (the emulation).

``Sendemodul`` holds what the real one would decide: accounts and logins with the lockout,
sessions, the rules for opening, storing parts and committing, receipts on the sandbox clock,
and the injected faults the tests use. Where submissions are kept is ``sendemodul_store``; the
routes, JSON answers and body reading are ``sendemodul_http``.

Uploads are streamed to a temp file and hashed as they arrive; a part becomes visible (rename)
only when size and hash match. Failed logins and locks are kept in memory (a restart unlocks).
Every answer is JSON, every error ``{"error", "message", ...}``; nothing a client sends takes
the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import TEMP_PREFIX, fsync_dir
from iplos_tui.core.i18n import t
from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.clock import SandboxClock, iso, next_working_day_at
from iplos_tui.sandbox.layout import Account
from iplos_tui.sandbox.sendemodul_http import (
    HEX64_RE,
    ProtocolError,
    abort_connection,
    bad_request,
    body_chunks,
    check_key,
    content_length,
    drain,
    error_response,
    json_response,
    read_capped,
    sha256_header,
)
from iplos_tui.sandbox.sendemodul_store import Submission, SubmissionStore

__all__ = ["DEFAULT_PART_CAP", "Fault", "Faults", "ProtocolError", "Sendemodul", "Stats", "Submission", "SubmissionStore"]

MiB = 1024 * 1024
PROTOCOL_VERSION = 1
MAX_LOGIN_BYTES = 4096
MAX_MANIFEST_BYTES = 1 * MiB
DEFAULT_PART_CAP = 256 * MiB
MAX_FAILED_LOGINS = 3
LOCK_SECONDS = 30 * 60
SESSION_SECONDS = 30 * 60
MAX_TRACKED_LOGIN_KEYS = 10_000
CHUNK = 1 * MiB

OPS = ("login", "open", "part", "commit", "lookup")


# --- faults and counters (for tests) ---------------------------------------------------------


@dataclass
class Fault:
    """One injected fault.

    ``op``: login, open, part, commit, lookup or ``any``. ``stage``: ``before`` (nothing read,
    nothing processed), ``mid`` (part uploads: after about half the body, nothing stored) or
    ``after`` (processed and stored, then the answer goes wrong). ``action``: ``status`` (answer
    ``status`` with a JSON error and ``Retry-After`` when given), ``drop`` (close the connection
    without an answer) or ``delay`` (sleep ``delay`` seconds, then go on normally).
    """

    op: str
    stage: str = "before"
    action: str = "status"
    status: int = 503
    retry_after: int | None = None
    delay: float = 0.0
    count: int = 1
    fired: int = 0


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def inject(
        self,
        op: str,
        stage: str = "before",
        action: str = "status",
        *,
        status: int = 503,
        retry_after: int | None = None,
        delay: float = 0.0,
        count: int = 1,
    ) -> Fault:
        if op not in (*OPS, "any"):
            raise ValueError(f"unknown op {op!r}")
        if stage not in ("before", "mid", "after"):
            raise ValueError(f"unknown stage {stage!r}")
        if action not in ("status", "drop", "delay"):
            raise ValueError(f"unknown action {action!r}")
        fault = Fault(op, stage, action, status, retry_after, delay, count)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, op: str, stage: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.op in (op, "any") and fault.stage == stage and fault.fired < fault.count:
                    fault.fired += 1
                    return fault
        return None


@dataclass
class Stats:
    """What the server saw. ``commits[key]`` counts submissions stored by a commit: never above 1."""

    requests: Counter = field(default_factory=Counter)  # op -> requests that reached the handler
    logins: int = 0
    failed_logins: int = 0
    commits: Counter = field(default_factory=Counter)
    duplicate_commits: Counter = field(default_factory=Counter)
    part_stores: Counter = field(default_factory=Counter)  # (key, file) -> times written to disk
    bytes_received: int = 0


# --- the app -----------------------------------------------------------------------------------


@dataclass
class _LoginState:
    failures: int = 0
    locked_until: float = 0.0  # sandbox clock, epoch seconds


class Sendemodul:
    """The server's state and handlers; ``app()`` makes the Starlette app to mount at /Sendemodul."""

    def __init__(
        self,
        root: Path,
        account: Account,
        pin: Secret,
        clock: SandboxClock,
        *,
        part_cap: int = DEFAULT_PART_CAP,
        manifest_cap: int = MAX_MANIFEST_BYTES,
        on_commit: Callable[[Submission], None] | None = None,
        accounts: Callable[[str, str], tuple[Account, Secret] | None] | None = None,
    ) -> None:
        self.store = SubmissionStore(root)
        self.account = account
        self._pin = pin
        self._accounts = accounts  # more municipalities (sandbox/accounts.py): kommunenr, bydel -> account, PIN
        self.clock = clock
        self.part_cap = part_cap
        self.manifest_cap = manifest_cap
        self.on_commit = on_commit
        self.faults = Faults()
        self.stats = Stats()
        self._sessions: dict[str, tuple[str, float]] = {}
        self._logins: dict[tuple[str, str], _LoginState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._state_lock = threading.Lock()
        remove = self.store.submissions
        for entry in remove.iterdir():  # a killed server's staging directories
            if entry.name.startswith(TEMP_PREFIX) and entry.is_dir():
                import shutil

                shutil.rmtree(entry, ignore_errors=True)

    # -- sessions and locks -------------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now().timestamp()

    def expire_sessions(self) -> None:
        with self._state_lock:
            self._sessions.clear()

    def unlock(self) -> None:
        with self._state_lock:
            self._logins.clear()

    def _session(self, request: Any) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        with self._state_lock:
            found = self._sessions.get(token.strip()) if scheme.lower() == "bearer" else None
            if found is not None and found[1] <= self._now():
                self._sessions.pop(token.strip(), None)
                found = None
        if found is None:
            raise ProtocolError(401, "session_expired", t("sandbox.err_session"))
        return found[0]

    def _key_lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    # -- fault helpers ------------------------------------------------------------------------
    async def _fault(self, request: Any, op: str, stage: str) -> Any:
        fault = self.faults.take(op, stage)
        if fault is None:
            return None
        if fault.action == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if fault.action == "drop":
            from starlette.responses import Response

            if abort_connection(request):
                return Response(status_code=500)  # goes nowhere: the connection is gone
            raise RuntimeError("injected drop")  # uvicorn closes or answers 500
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        code = "unavailable" if fault.status == 503 else "server_error"
        if stage != "after":
            await drain(request)
        return error_response(fault.status, code, t("sandbox.err_injected", status=fault.status), headers)

    # -- handlers -----------------------------------------------------------------------------
    async def index(self, request: Any):
        from starlette.responses import HTMLResponse

        return HTMLResponse(
            "<!doctype html><html lang=\"nb\"><head><meta charset=\"utf-8\"><title>IPLOS Sendemodul (sandkasse)</title></head>"
            "<body><h1>IPLOS Sendemodul</h1><p>Sandkasse for iplos-tui. API: <code>api/v1/</code>.</p></body></html>"
        )

    async def info(self, request: Any):
        return json_response({"service": "iplos-sendemodul", "protocol": PROTOCOL_VERSION, "sandbox": True})

    async def login(self, request: Any):
        self.stats.requests["login"] += 1
        if (answer := await self._fault(request, "login", "before")) is not None:
            return answer
        raw = await read_capped(request, MAX_LOGIN_BYTES)
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("sandbox.err_json") from None
        fields = ("kommunenr", "bydel", "orgnr", "pin")
        if not isinstance(data, dict) or not all(isinstance(data.get(name), str) for name in fields):
            raise bad_request("sandbox.err_login_fields")
        ident = (data["kommunenr"][:8], data["bydel"][:8])
        now = self._now()
        with self._state_lock:
            state = self._logins.get(ident)
            if state is None:
                if len(self._logins) >= MAX_TRACKED_LOGIN_KEYS:
                    self._logins.pop(next(iter(self._logins)))
                state = self._logins[ident] = _LoginState()
            if state.locked_until and state.locked_until <= now:
                state.failures, state.locked_until = 0, 0.0
            if state.locked_until:
                return self._locked(state)
            found = self._accounts(data["kommunenr"], data["bydel"]) if self._accounts is not None else None
            account, pin = found if found is not None else (self.account, self._pin)
            ok = (
                hmac.compare_digest(data["kommunenr"].encode(), account.kommunenr.encode())
                & hmac.compare_digest(data["bydel"].encode(), account.bydel.encode())
                & hmac.compare_digest(data["orgnr"].encode(), account.orgnr.encode())
                & hmac.compare_digest(data["pin"].encode("utf-8"), pin.reveal().encode("utf-8"))
            )
            if not ok:
                self.stats.failed_logins += 1
                state.failures += 1
                if state.failures >= MAX_FAILED_LOGINS:
                    state.locked_until = now + LOCK_SECONDS
                    return self._locked(state)
                left = MAX_FAILED_LOGINS - state.failures
                return error_response(401, "invalid_credentials", t("sandbox.err_credentials", left=left), attempts_left=left)
            state.failures = 0
            if len(self._sessions) > 1000:
                self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            token = secrets.token_urlsafe(32)
            self._sessions[token] = (account.code, now + SESSION_SECONDS)
            self.stats.logins += 1
        answer = json_response({"session": token, "expires_in": SESSION_SECONDS, "account": account.public()})
        return await self._fault(request, "login", "after") or answer

    def _locked(self, state: _LoginState):
        import datetime as dt

        until = iso(dt.datetime.fromtimestamp(state.locked_until, dt.timezone.utc))
        return error_response(423, "locked", t("sandbox.err_locked", until=until, attempts=MAX_FAILED_LOGINS), locked_until=until)

    async def open(self, request: Any):
        self.stats.requests["open"] += 1
        account = self._session(request)
        key = check_key(request, request.path_params["key"])
        digest = sha256_header(request)
        if (answer := await self._fault(request, "open", "before")) is not None:
            return answer
        body = await read_capped(request, self.manifest_cap)
        self.stats.bytes_received += len(body)
        if hashlib.sha256(body).hexdigest() != digest:
            raise ProtocolError(422, "hash_mismatch", t("sandbox.err_manifest_hash"))
        async with self._key_lock(key):
            existing = self.store.get(key)
            if existing is not None:
                if existing.account != account or existing.manifest_sha256 != digest:
                    raise ProtocolError(409, "conflict", t("sandbox.err_conflict"))
                return await self._fault(request, "open", "after") or json_response(existing.view(), 200)
            submission = self._parse_manifest(key, account, body, digest)
            await asyncio.to_thread(self.store.create, submission, body)
        return await self._fault(request, "open", "after") or json_response(submission.view(), 201)

    def _parse_manifest(self, key: str, account: str, body: bytes, digest: str) -> Submission:
        from iplos_tui.core.envelope import EnvelopeError, Manifest

        def bad(detail: str) -> ProtocolError:
            return ProtocolError(422, "bad_manifest", t("sandbox.err_manifest", detail=detail))

        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise bad("JSON") from None
        if not isinstance(data, dict):
            raise bad("JSON")
        try:
            manifest = Manifest.from_dict(data)
        except EnvelopeError as exc:
            raise bad(str(exc)) from None
        if f"{manifest.kommunenr}{manifest.bydel}" != account:
            raise bad(t("sandbox.err_manifest_account", kommunenr=manifest.kommunenr, bydel=manifest.bydel))
        files = [part.file for part in manifest.parts]
        if not files or len(set(files)) != len(files):
            raise bad(t("sandbox.err_manifest_parts"))
        roles = [part.role for part in manifest.parts]
        if roles.count("identity") != 1 or roles.count("content") < 1 or len(roles) != roles.count("identity") + roles.count("content"):
            raise bad(t("sandbox.err_manifest_parts"))
        for part in manifest.parts:
            if part.ciphertext_size < 0 or not HEX64_RE.fullmatch(part.ciphertext_sha256):
                raise bad(part.file)
        return Submission(
            key=key,
            account=account,
            manifest_sha256=digest,
            files=files,
            expected={part.file: (part.ciphertext_size, part.ciphertext_sha256.lower()) for part in manifest.parts},
            opened_at=iso(self.clock.now()),
            year=manifest.year,
            kommunenr=manifest.kommunenr,
            bydel=manifest.bydel,
        )

    def _own(self, key: str, account: str) -> Submission:
        submission = self.store.get(key)
        if submission is None or submission.account != account:
            raise ProtocolError(404, "unknown_submission", t("sandbox.err_unknown_submission"))
        return submission

    async def part(self, request: Any):
        self.stats.requests["part"] += 1
        account = self._session(request)
        key = check_key(request, request.path_params["key"])
        file = request.path_params["file"]
        digest = sha256_header(request)
        submission = self._own(key, account)
        if file not in submission.expected:
            raise ProtocolError(404, "unknown_part", t("sandbox.err_unknown_part"))
        size, expected = submission.expected[file]
        if digest != expected:
            raise ProtocolError(422, "hash_mismatch", t("sandbox.err_part_manifest_hash", file=file))
        declared = content_length(request)
        if declared is not None and declared > self.part_cap:
            raise ProtocolError(413, "too_large", t("sandbox.err_too_large", limit=self.part_cap), limit=self.part_cap)
        if declared is not None and declared != size:
            raise ProtocolError(422, "hash_mismatch", t("sandbox.err_part_size", file=file, size=size))
        if submission.stored.get(file) == (size, expected):
            await drain(request)
            return json_response({"file": file, "size": size, "sha256": expected}, 200)
        if submission.committed:
            raise ProtocolError(409, "already_committed", t("sandbox.err_committed"))
        if (answer := await self._fault(request, "part", "before")) is not None:
            return answer

        target = self.store.part_path(key, file)
        temp = target.parent / f"{TEMP_PREFIX}{file}.{os.urandom(6).hex()}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        hasher = hashlib.sha256()
        received = 0
        keep = False
        mid = max(1, size // 2)
        try:
            async for chunk in body_chunks(request):
                if received < mid <= received + len(chunk):
                    answer = await self._fault(request, "part", "mid")
                    if answer is not None:
                        return answer
                received += len(chunk)
                if received > self.part_cap:
                    raise ProtocolError(413, "too_large", t("sandbox.err_too_large", limit=self.part_cap), limit=self.part_cap)
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            self.stats.bytes_received += received
            if received != size or hasher.hexdigest() != expected:
                raise ProtocolError(422, "hash_mismatch", t("sandbox.err_part_hash", file=file))
            await asyncio.to_thread(os.fsync, fd)
            os.close(fd)
            fd = -1
            async with self._key_lock(key):
                current = self._own(key, account)
                if current.committed:
                    raise ProtocolError(409, "already_committed", t("sandbox.err_committed"))
                os.replace(temp, target)
                keep = True
                await asyncio.to_thread(fsync_dir, target.parent)
                current.stored[file] = (size, expected)
                await asyncio.to_thread(self.store.save, current)
                self.stats.part_stores[(key, file)] += 1
        finally:
            if fd >= 0:
                os.close(fd)
            if not keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        return await self._fault(request, "part", "after") or json_response({"file": file, "size": size, "sha256": expected}, 201)

    async def commit(self, request: Any):
        self.stats.requests["commit"] += 1
        account = self._session(request)
        key = check_key(request, request.path_params["key"])
        if (answer := await self._fault(request, "commit", "before")) is not None:
            return answer
        await read_capped(request, MAX_LOGIN_BYTES)
        async with self._key_lock(key):
            submission = self._own(key, account)
            if submission.committed:
                self.stats.duplicate_commits[key] += 1
                receipt = dict(submission.receipt or {}, duplicate=True)
                return await self._fault(request, "commit", "after") or json_response(receipt, 200)
            missing = submission.missing()
            if missing:
                raise ProtocolError(409, "incomplete", t("sandbox.err_incomplete", count=len(missing)), missing=missing)
            now = self.clock.now()
            receipt = {
                "receipt_id": await asyncio.to_thread(self.store.next_receipt_number, now.year),
                "key": key,
                "received_at": iso(now),
                "kommunenr": submission.kommunenr,
                "bydel": submission.bydel,
                "year": submission.year,
                "manifest_sha256": submission.manifest_sha256,
                "parts": submission.parts_json(),
                "receipt_mail_expected_at": iso(next_working_day_at(now)),
                "duplicate": False,
            }
            submission.receipt = receipt
            await asyncio.to_thread(self.store.save, submission)
            await asyncio.to_thread(self.store.log_commit, submission)
            self.stats.commits[key] += 1
        if self.on_commit is not None:
            self.on_commit(submission)
        return await self._fault(request, "commit", "after") or json_response(receipt, 200)

    async def lookup(self, request: Any):
        self.stats.requests["lookup"] += 1
        account = self._session(request)
        key = check_key(request, request.path_params["key"])
        if (answer := await self._fault(request, "lookup", "before")) is not None:
            return answer
        submission = self._own(key, account)
        return await self._fault(request, "lookup", "after") or json_response(submission.view(), 200)

    # -- the app ------------------------------------------------------------------------------
    def app(self) -> Any:
        from iplos_tui.sandbox.sendemodul_http import build_app

        return build_app(self)
