"""Every pane at 80x24, as the operator sees it (frozen clock, fixed profile and paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iplos_tui.app import IplosApp
from iplos_tui.core.config import Profile
from iplos_tui.sandbox.demo import DEMO_PROFILE
from tests.support import FROZEN_NOW

SNAPSHOT_PROFILE = DEMO_PROFILE


def snapshot_app(mode: str = "config", profile: Profile = SNAPSHOT_PROFILE) -> IplosApp:
    return IplosApp(profile, Path("/srv/iplos/config.toml"), clock=lambda: FROZEN_NOW, initial_mode=mode)


def test_config_screen(snap_compare):
    assert snap_compare(snapshot_app("config"), terminal_size=(80, 24))


def test_config_screen_empty_profile_with_errors(snap_compare):
    assert snap_compare(snapshot_app("config", Profile(secure_dir=Path("/srv/iplos/secure"))), terminal_size=(80, 24))


def test_config_screen_english(snap_compare):
    from iplos_tui.core import i18n

    i18n.set_language("en")
    assert snap_compare(snapshot_app("config"), terminal_size=(80, 24))


def test_unsaved_changes_dialog(snap_compare):
    async def change_and_leave(pilot):
        await pilot.press("enter", "9", "f3")

    assert snap_compare(snapshot_app("config"), terminal_size=(80, 24), run_before=change_and_leave)


@pytest.mark.parametrize("mode", ["preflight", "submission", "feedback"])
def test_panes(snap_compare, mode):
    assert snap_compare(snapshot_app(mode), terminal_size=(80, 24))


@pytest.mark.parametrize("mode", ["config", "submission"])
def test_panes_in_16_colours(snap_compare, mode):
    """Issue 14 item 16: what a Linux console or a plain xterm shows (the ansi-dark theme)."""
    assert snap_compare(snapshot_app(mode, SNAPSHOT_PROFILE.replace(theme="ansi-dark")), terminal_size=(80, 24))


@pytest.mark.parametrize("mode", ["config", "preflight"])
def test_panes_under_no_color(snap_compare, monkeypatch, mode):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(snapshot_app(mode), terminal_size=(80, 24))


def test_help_screen(snap_compare):
    async def open_help(pilot):
        await pilot.press("question_mark")

    assert snap_compare(snapshot_app("submission"), terminal_size=(80, 24), run_before=open_help)
