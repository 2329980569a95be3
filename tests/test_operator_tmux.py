"""The console in a real terminal (tmux) at 80x24, as an operator over SSH meets it (issue 14)."""

from __future__ import annotations

import pytest

from iplos_tui.core.config import load_profile, save_profile
from tests.support.tmux import iplos_command, tmux_terminal  # noqa: F401  (the fixture)


@pytest.fixture
def config_file(tmp_path, valid_profile):
    path = tmp_path / "conf" / "config.toml"
    save_profile(valid_profile, path)
    return path


def start_console(tmux_terminal, config_file, *args, width=80, height=24, env=None):  # noqa: F811
    term = tmux_terminal(iplos_command("--config", str(config_file), "tui", *args), width=width, height=height, env={"TERM": "xterm-256color", **(env or {})})
    term.wait_for("F1 Profil", "F10 Avslutt")
    return term


def test_a_stray_key_on_arrival_changes_nothing(tmux_terminal, config_file):  # noqa: F811
    """Item 6: F1 opened with Kommunenummer focused, so the first key replaced it; F2 then asked
    about unsaved changes with Lagre focused and Enter saved kommunenr "x"."""
    term = start_console(tmux_terminal, config_file)
    term.send("x")
    term.send("F2")
    screen = term.wait_for("F2 Sjekk")
    term.send("Enter")
    screen = term.settle()
    assert "Ulagrede endringer" not in screen, screen
    assert load_profile(config_file).kommunenr == "0403"
    if "Ikke kjørt ennå" in screen and "Status  Sjekk" not in screen:
        term.send("Escape")  # Enter opened the selected check's full view (harmless): close it
        term.wait_for("Status  Sjekk")
    term.send("F1")
    screen = term.wait_for("Kommunenummer")
    assert "0403" in screen and "x0403" not in screen, screen


def mouse_tracking(term) -> str:
    return term._tmux("display-message", "-p", "-t", term.session, "#{mouse_any_flag}#{mouse_button_flag}#{mouse_standard_flag}").strip()


def test_mouse_reporting_can_be_turned_off(tmux_terminal, config_file, valid_profile):  # noqa: F811
    """Item 16: the driver asked for any-motion mouse tracking, with no way to turn it off."""
    term = start_console(tmux_terminal, config_file)
    assert "1" in mouse_tracking(term)  # on by default (the terminal was asked to report)
    flagged = start_console(tmux_terminal, config_file, "--no-mouse")
    assert mouse_tracking(flagged) == "000"
    save_profile(valid_profile.replace(mouse=False), config_file)
    configured = start_console(tmux_terminal, config_file)
    assert mouse_tracking(configured) == "000"


def test_help_on_arrival_in_a_real_terminal(tmux_terminal, config_file):  # noqa: F811
    """Item 10: ? right on arrival opens the pane's help; Esc closes it."""
    term = start_console(tmux_terminal, config_file)
    term.send("F3")
    term.wait_for("Kontroller")
    term.send("?")
    screen = term.wait_for("Hjelp: Innsending (F3)", "Esc eller ? lukker")
    assert "Når noe feiler" in screen or "Taster på denne siden" in screen
    term.send("Escape")
    term.wait_for("Hjelp: Innsending", gone=True)


def test_too_small_terminal_says_so(tmux_terminal, config_file):  # noqa: F811
    """Item 15: at 50x16 a clear message, and the console comes back when there is room."""
    term = start_console(tmux_terminal, config_file)
    term.resize(50, 16)
    term.wait_for("for lite (50×16)")
    term.resize(80, 24)
    term.wait_for("F1 Profil", "Kommunenummer")
