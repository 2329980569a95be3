"""Small text helpers of the feedback widgets: counts with their singular, sizes, paths, cells.

(To be replaced by the one formatter, core/format.py, when it lands.)
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def fmt_count(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def tn(key: str, count: int, **values: object) -> str:
    """``key`` with a count: ``key_one`` for exactly one, where the catalog has it."""
    from iplos_tui.core.i18n import has

    if count == 1 and has(f"{key}_one"):
        key = f"{key}_one"
    return t(key, count=fmt_count(count), **values)


def fmt_size(size: int) -> str:
    """At most 8 characters: «812 B», «1,5 KiB», «23 KiB», «64 MiB»."""
    if size < 1024:
        return f"{size} B"
    for unit, scale in (("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024**3)):
        value = size / scale
        if value < 1024 or unit == "GiB":
            return (f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}").replace(".", ",")
    return f"{size} B"


def tilde(path: Path | str) -> str:
    """``~`` for the home directory (what ``os.path.expanduser`` turns back)."""
    text = str(path)
    home = str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        text = "~" + text[len(home):]
    return text


def shown_path(path: Path | str) -> str:
    """A path for the screen: ``~`` for the home directory, control characters made visible."""
    return safe_text(tilde(path), one_line=True)


def plain(text: str, style: str = "") -> Text:
    """A DataTable cell: plain text, never parsed as markup."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")
