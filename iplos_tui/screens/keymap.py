"""The one key map of the console: the keys that mean the same on every pane, and each pane's own
keys read from its screen's bindings, so the help screen (`?`), the README and the code cannot
drift apart (tests/test_help.py compares the README with ``markdown()``).

    python -m iplos_tui.screens.keymap --lang en   # the README's "Keys" section
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from textual.binding import Binding

from iplos_tui.core.i18n import set_language, t

PANES = ("config", "preflight", "submission", "feedback", "board")  # the board only with several profiles
MAIN_ACTION_KEY = "f5"  # the one key that is each pane's main action (save, run all, check, refresh)

# Keys with one meaning on every pane: (keys as shown, catalog key of what they do).
GLOBAL_KEYS: tuple[tuple[str, str], ...] = (
    ("F1 F2 F3 F4", "help.key_panes"),
    ("?", "help.key_help"),
    ("Tab / Shift+Tab", "help.key_tab"),
    ("Enter", "help.key_enter"),
    ("Esc", "help.key_escape"),
    ("F5", "help.key_main"),
    ("c", "help.key_cancel"),
    ("Ctrl+P", "help.key_palette"),
    ("F9", "help.key_morning"),
    ("F10 / Ctrl+Q", "help.key_quit"),
)

_KEY_NAMES = {
    "question_mark": "?",
    "escape": "Esc",
    "enter": "Enter",
    "tab": "Tab",
    "space": "Space",
    "delete": "Del",
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "pageup": "PgUp",
    "pagedown": "PgDn",
}


def key_label(key: str) -> str:
    """A binding's key as printed on a keyboard: "f5" -> "F5", "ctrl+s" -> "Ctrl+S"."""
    parts = key.split("+")
    shown = []
    for part in parts:
        if part in _KEY_NAMES:
            shown.append(_KEY_NAMES[part])
        elif part[:1] == "f" and part[1:].isdigit():
            shown.append(part.upper())
        elif part in ("ctrl", "shift", "alt"):
            shown.append(part.capitalize())
        else:
            shown.append(part.upper() if len(parts) > 1 else part)
    return "+".join(shown)


def binding_rows(bindings: Iterable[Binding | tuple]) -> list[tuple[str, str]]:
    """(keys, what they do) per action, alternates joined ("F5 / Ctrl+S"), in binding order."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        keys, description = rows.setdefault(binding.action, ([], binding.description))
        for key in binding.key.split(","):
            label = key_label(key.strip())
            if label not in keys:
                keys.append(label)
        if not description and binding.description:
            rows[binding.action] = (keys, binding.description)
    return [(" / ".join(keys), description) for keys, description in rows.values() if description]


def pane_classes() -> dict[str, type]:
    from iplos_tui.screens.board import BoardScreen
    from iplos_tui.screens.config import ConfigScreen
    from iplos_tui.screens.feedback import FeedbackScreen
    from iplos_tui.screens.preflight import PreflightScreen
    from iplos_tui.screens.submission import SubmissionScreen

    return {"config": ConfigScreen, "preflight": PreflightScreen, "submission": SubmissionScreen, "feedback": FeedbackScreen, "board": BoardScreen}


def pane_keys(pane: str) -> list[tuple[str, str]]:
    return binding_rows(pane_classes()[pane].BINDINGS)


def global_keys() -> list[tuple[str, str]]:
    return [(keys, t(text)) for keys, text in GLOBAL_KEYS]


def markdown() -> str:
    """The key map as the README shows it (in the current language)."""
    lines = [f"| {t('help.col_keys')} | {t('help.col_what')} |", "|---|---|"]
    lines.append(f"| **{t('help.everywhere')}** | |")
    lines += [f"| `{keys}` | {what} |" for keys, what in global_keys()]
    for pane in PANES:
        lines.append(f"| **{t(f'app.mode_{pane}')}** | |")
        lines += [f"| `{keys}` | {what} |" for keys, what in pane_keys(pane)]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--lang" in sys.argv:
        set_language(sys.argv[sys.argv.index("--lang") + 1])
    sys.stdout.write(markdown() + "\n")
