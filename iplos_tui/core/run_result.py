"""What one submission run hands back: the envelope ready to send (``Prepared``) and the outcome
(``RunResult``). Plain data, shared by ``core.pipeline``, ``core.preparation``, ``core.delivery``
and the front ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.exitcodes import ExitCode

LEVELS = ("fatal", "error", "warning", "info")


@dataclass
class RunResult:
    ok: bool
    state: str
    exit_code: ExitCode
    submission_id: str | None = None
    receipt: dict[str, Any] | None = None
    manifest: dict[str, Any] | None = None
    message: str = ""
    hint: str = ""
    step: str | None = None
    existing: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": self.ok,
            "state": self.state,
            "submission_id": self.submission_id,
            "receipt": self.receipt,
            "manifest": self.manifest,
        }
        if not self.ok:
            data["error"] = {"step": self.step, "message": self.message, "hint": self.hint}
        if self.existing:
            data["existing"] = self.existing
        return data

    @property
    def auth_refused(self) -> bool:
        """The Sendemodul refused the login: a PIN held in memory must be forgotten."""
        return self.exit_code == ExitCode.AUTH


@dataclass
class Prepared:
    """What will be sent: the envelope of one submission, checked, and the facts to confirm."""

    submission_id: str
    envelope_dir: Path
    manifest_bytes: bytes
    manifest_sha256: str
    manifest: Any  # envelope.Manifest (None when lookup_only)
    extract_path: Path
    extract_sha256: str
    resumed: bool = False
    levels: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    summary: dict[str, Any] = field(default_factory=dict)
    again: str = ""  # the operator's override: the earlier receipt (or unresolved id) it names
    lookup_only: bool = False  # an interrupted submission whose envelope is gone: only looked up

    @property
    def needs_acceptance(self) -> bool:
        """Findings of level error: sent only after the operator accepts them explicitly."""
        return self.levels.get("fatal", 0) == 0 and self.levels.get("error", 0) > 0

    @property
    def warnings(self) -> int:
        return self.levels.get("warning", 0)

    def manifest_summary(self) -> dict[str, Any]:
        if self.manifest is None:
            return {}
        return {
            "sha256": self.manifest_sha256,
            "persons": self.manifest.persons,
            "parts": [{"file": p.file, "size": p.ciphertext_size, "sha256": p.ciphertext_sha256} for p in self.manifest.parts],
        }
