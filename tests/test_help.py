"""`?` opens help for the pane, in the UI language; one key map in the help and the README
(issue 14 items 10-12)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from iplos_tui.app import IplosApp
from tests.support import FROZEN_NOW

README = Path(__file__).resolve().parents[1] / "README.md"


def make_app(tmp_path, profile, **kwargs) -> IplosApp:
    return IplosApp(profile, tmp_path / "conf" / "config.toml", clock=lambda: FROZEN_NOW, **kwargs)


def screen_text(app) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query("Static"))


@pytest.mark.parametrize(("key", "mode", "title", "a_pane_key"), [
    ("f1", "config", "Hjelp: Profil (F1)", "F5 / Ctrl+S"),
    ("f2", "preflight", "Hjelp: Sjekk (F2)", "Kjør alle"),
    ("f3", "submission", "Hjelp: Innsending (F3)", "Kontroller"),
    ("f4", "feedback", "Hjelp: Tilbakemelding (F4)", "Hent"),
])
async def test_question_mark_opens_the_panes_help_right_on_arrival(tmp_path, valid_profile, key, mode, title, a_pane_key):
    app = make_app(tmp_path, valid_profile, initial_mode=mode)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        text = screen_text(app)
        assert title in text and "Når noe feiler" in text and "Taster overalt" in text, text
        assert a_pane_key in text, text
        assert "Esc eller ? lukker" in text
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.MODE == mode
        await pilot.press("question_mark")
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.MODE == mode


async def test_the_palettes_keys_entry_opens_the_help_and_it_closes(tmp_path, valid_profile):
    """Textual's key panel was in English and could not be closed."""
    app = make_app(tmp_path, valid_profile, initial_mode="preflight")
    async with app.run_test(size=(80, 24)) as pilot:
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Hjelp og taster")
        command.callback()
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        assert not app.screen.query("HelpPanel")
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.MODE == "preflight" and not app.screen.query("HelpPanel")


async def test_palette_and_ctrl_c_speak_the_ui_language(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile, initial_mode="preflight")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        messages = [(n.title, n.message) for n in app._notifications]
        assert messages and all("quit" not in f"{title} {message}".lower() for title, message in messages), messages
        assert any("F10" in message for _, message in messages)
        await pilot.press("ctrl+p")
        await pilot.pause()
        palette_input = app.screen.query_one("CommandInput")
        assert palette_input.placeholder == "Søk etter kommandoer …"


def readme_key_map() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- keymap -->\n(.*?)\n<!-- /keymap -->", text, re.S)
    assert match, "README.md has no <!-- keymap --> section"
    return match.group(1).strip()


def test_readme_key_map_agrees_with_the_help_screen():
    """The README's table is the key map in English; regenerate it with
    `python -m iplos_tui.screens.keymap --lang en`."""
    result = subprocess.run([sys.executable, "-m", "iplos_tui.screens.keymap", "--lang", "en"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert readme_key_map() == result.stdout.strip()


def test_every_pane_key_has_one_meaning():
    """A key that does one thing on one pane does not do another thing on another pane; F5 is
    each pane's main action (save, run all, check, refresh), and says so in the help."""
    from iplos_tui.screens import keymap

    meanings: dict[str, set[str]] = {}
    for pane in keymap.PANES:
        for binding in keymap.pane_classes()[pane].BINDINGS:
            meanings.setdefault(binding.key, set()).add(binding.action)
    clashes = {key: actions for key, actions in meanings.items() if key.startswith("f") and len(actions) > 1 and key != keymap.MAIN_ACTION_KEY}
    assert not clashes, clashes
    assert all(action.startswith("cancel") for action in meanings["c"]), meanings["c"]  # c cancels, everywhere
