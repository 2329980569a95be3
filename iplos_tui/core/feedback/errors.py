"""Errors of the feedback reader; each knows its message (catalog ``feedback.*``) and exit code."""

from __future__ import annotations

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def _shown(name: str | None) -> str:
    return safe_text(name or "", one_line=True, limit=120)


class FeedbackError(IplosError):
    """Base: ``kind`` is "refused" (exit 1), "auth" (exit 4) or "file" (exit 2)."""

    kind = "refused"
    exit_code = ExitCode.FAILED


class ZipRefusal(FeedbackError):
    """The archive breaks the policy. ``reason`` names the catalog key ``feedback.refused_<reason>``."""

    def __init__(self, reason: str, entry: str | None = None, **details: object) -> None:
        self.reason = reason
        self.entry = entry
        self.details = details
        super().__init__(reason if entry is None else f"{reason}: {_shown(entry)}")

    def message(self) -> str:
        text = t(f"feedback.refused_{self.reason}", entry=_shown(self.entry), **self.details)
        return t("feedback.refused", reason=text)


class NameRefusal(ZipRefusal):
    """The file name does not name the profile's municipality (or is not a feedback name)."""


class WrongPinOrDamaged(FeedbackError):
    """Wrong PIN and a damaged entry look the same to us: one message, nothing written."""

    kind = "auth"
    exit_code = ExitCode.AUTH

    def __init__(self, entry: str | None = None) -> None:
        self.entry = entry
        super().__init__("wrong PIN or damaged file" + (f": {_shown(entry)}" if entry else ""))

    def message(self) -> str:
        if self.entry:
            return t("feedback.wrong_pin_entry", entry=_shown(self.entry))
        return t("feedback.wrong_pin")


class FeedbackFileError(FeedbackError):
    """The zip file itself cannot be read (missing, not a regular file, a symlink ...)."""

    kind = "file"
    exit_code = ExitCode.USAGE

    def __init__(self, path: object, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")

    def message(self) -> str:
        return t("feedback.file_error", path=_shown(str(self.path)), detail=_shown(self.detail))


class ExportRefused(FeedbackError):
    """An export that would overwrite, land outside its own new folder, or write an entry whose
    name is not of the expected shape. ``reason`` names ``feedback.export_<reason>``."""

    kind = "file"
    exit_code = ExitCode.USAGE

    def __init__(self, reason: str, **values: object) -> None:
        self.reason = reason
        self.values = {k: _shown(str(v)) if isinstance(v, (str, bytes)) or hasattr(v, "__fspath__") else v for k, v in values.items()}
        super().__init__(reason)

    def message(self) -> str:
        return t(f"feedback.export_{self.reason}", **self.values)
