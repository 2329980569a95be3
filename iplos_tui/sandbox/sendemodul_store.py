"""The sandbox Sendemodul's storage: submissions on disk, so that a restarted server still
knows every one (the protocol's promise: a key is never stored twice)::

    submissions/<key>/manifest.json     the manifest exactly as received
    submissions/<key>/state.json        account, manifest hash, stored parts, receipt
    submissions/<key>/parts/<file>      each part, kept only when its SHA-256 matched
    commits.log                         one JSON line per commit that stored a submission
    receipt-counter                     the last receipt number handed out
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import TEMP_PREFIX, atomic_write_bytes, ensure_private_dir, fsync_dir


@dataclass
class Submission:
    key: str
    account: str  # KKKKBB
    manifest_sha256: str
    files: list[str]  # the manifest's parts, in order
    expected: dict[str, tuple[int, str]]  # file -> (ciphertext size, sha256)
    stored: dict[str, tuple[int, str]] = field(default_factory=dict)
    opened_at: str = ""
    receipt: dict[str, Any] | None = None
    year: int = 0
    kommunenr: str = ""
    bydel: str = ""

    @property
    def committed(self) -> bool:
        return self.receipt is not None

    def missing(self) -> list[str]:
        return [name for name in self.files if name not in self.stored]

    def parts_json(self) -> list[dict[str, Any]]:
        return [{"file": name, "size": self.stored[name][0], "sha256": self.stored[name][1]} for name in self.files if name in self.stored]

    def view(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "state": "committed" if self.committed else "open",
            "parts": self.parts_json(),
            "missing": self.missing(),
            "receipt": self.receipt,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "account": self.account,
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "expected": {k: list(v) for k, v in self.expected.items()},
            "stored": {k: list(v) for k, v in self.stored.items()},
            "opened_at": self.opened_at,
            "receipt": self.receipt,
            "year": self.year,
            "kommunenr": self.kommunenr,
            "bydel": self.bydel,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        return cls(
            key=data["key"],
            account=data["account"],
            manifest_sha256=data["manifest_sha256"],
            files=list(data["files"]),
            expected={k: (int(v[0]), str(v[1])) for k, v in data["expected"].items()},
            stored={k: (int(v[0]), str(v[1])) for k, v in data["stored"].items()},
            opened_at=data.get("opened_at", ""),
            receipt=data.get("receipt"),
            year=int(data.get("year", 0)),
            kommunenr=data.get("kommunenr", ""),
            bydel=data.get("bydel", ""),
        )


class SubmissionStore:
    """Submissions on disk; one process owns a directory at a time."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.submissions = ensure_private_dir(self.root / "submissions")
        self._cache: dict[str, Submission] = {}
        self._lock = threading.Lock()

    def directory(self, key: str) -> Path:
        return self.submissions / key

    def manifest_path(self, key: str) -> Path:
        return self.directory(key) / "manifest.json"

    def part_path(self, key: str, file: str) -> Path:
        return self.directory(key) / "parts" / file

    def get(self, key: str) -> Submission | None:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                return found
            path = self.directory(key) / "state.json"
            try:
                found = Submission.from_json(json.loads(path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                return None
            self._cache[key] = found
            return found

    def save(self, submission: Submission) -> None:
        directory = self.directory(submission.key)
        atomic_write_bytes(directory / "state.json", json.dumps(submission.to_json(), indent=1).encode("utf-8"))
        with self._lock:
            self._cache[submission.key] = submission

    def create(self, submission: Submission, manifest: bytes) -> None:
        directory = self.directory(submission.key)
        staging = self.submissions / f"{TEMP_PREFIX}{submission.key}.{os.getpid()}.{os.urandom(4).hex()}"
        os.mkdir(staging, 0o700)
        try:
            os.mkdir(staging / "parts", 0o700)
            atomic_write_bytes(staging / "manifest.json", manifest)
            atomic_write_bytes(staging / "state.json", json.dumps(submission.to_json(), indent=1).encode("utf-8"))
            os.rename(staging, directory)
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
        fsync_dir(self.submissions)
        with self._lock:
            self._cache[submission.key] = submission

    def next_receipt_number(self, year: int) -> str:
        path = self.root / "receipt-counter"
        with self._lock:
            try:
                number = int(path.read_text(encoding="ascii").strip() or "0") + 1
            except (FileNotFoundError, ValueError):
                number = 1
            atomic_write_bytes(path, f"{number}\n".encode("ascii"))
        return f"IPLOS-{year}-{number:06d}"

    def log_commit(self, submission: Submission) -> None:
        line = json.dumps({"key": submission.key, "receipt_id": submission.receipt["receipt_id"] if submission.receipt else None})
        fd = os.open(self.root / "commits.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def commits_of(self, key: str) -> int:
        """How many commits stored ``key`` (from the log, so it survives a restart)."""
        try:
            text = (self.root / "commits.log").read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        count = 0
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                if json.loads(line).get("key") == key:
                    count += 1
        return count

    def committed(self) -> list[Submission]:
        out = []
        for entry in sorted(self.submissions.iterdir()):
            if entry.name.startswith(TEMP_PREFIX):
                continue
            found = self.get(entry.name)
            if found is not None and found.committed:
                out.append(found)
        return out
