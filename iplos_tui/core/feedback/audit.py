"""The reveal log: every reveal of person ids in a feedback table is written to the submission
journal first (one event record: zip, entry, rows, count, OS user, never a value). If the record
cannot be written, the hook raises and the reveal is refused (``Table.reveal``)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path

from iplos_tui.core.feedback.tables import RevealEvent
from iplos_tui.core.text import safe_text


def journal_reveal_hook(secure_dir: Callable[[], Path]) -> Callable[[RevealEvent], None]:
    """A hook for ``add_reveal_hook``; ``secure_dir`` is asked on every reveal (the profile may change)."""
    from iplos_tui.core.journal import Journal, JournalError

    def hook(event: RevealEvent) -> None:
        try:
            user = getpass.getuser()
        except Exception:  # no user name in the environment: the uid still says who
            user = ""
        try:
            Journal(Path(secure_dir()).expanduser()).event(
                "reveal_fnr",
                shown_at=event.at.isoformat(timespec="seconds"),
                zip=event.source,
                entry=event.entry,
                rows="all" if event.rows is None else len(event.rows),
                cells=event.cells,
                user=safe_text(user, one_line=True, limit=64),
                uid=os.geteuid(),
            )
        except JournalError as exc:
            raise OSError(exc.message()) from None

    return hook
