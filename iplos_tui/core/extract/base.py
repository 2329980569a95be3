"""What every extract importer shares: the error it raises and the size it reads at a time.

Kept apart from ``importer`` (which registers the importers) so that an importer module never
imports its registry: the imports run one way, importer -> uttrekk_v1 -> base.
"""

from __future__ import annotations

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

CHUNK_SIZE = 256 * 1024


class ExtractError(IplosError):
    """The file cannot be read as an extract. ``rule`` is a stable id such as ``file.truncated``
    (one of ``rules.UNREADABLE``, each of level fatal); ``reason`` is the explanation without
    the line, ``message()`` the explanation with it."""

    exit_code = ExitCode.USAGE

    def __init__(self, reason: str, line: int | None = None, *, rule: str = "file.format") -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.rule = rule

    def __str__(self) -> str:
        if self.line:
            return t("extract.at_line", line=self.line, message=self.reason)
        return self.reason

    def message(self) -> str:
        return str(self)
