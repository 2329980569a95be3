"""The TUI switches profiles from the header (`k`) and the palette: every pane is made anew for
the new profile, and no PIN is carried from one municipality to another."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from iplos_tui.app import IplosApp
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import select_profile
from tests.support import FROZEN_NOW, PIN_CANARY, wait_until


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)


def make_fleet(tmp_path: Path) -> Path:
    conf = tmp_path / "conf" / "config.toml"

    def profile(kommunenr: str, secure: str, orgnr: str = "974550571") -> str:
        return f'[profile]\nkommunenr = "{kommunenr}"\norgnr = "{orgnr}"\n[paths]\nsecure_dir = "{tmp_path / secure}"\n'

    _write(conf, profile("0403", "s0403"))
    _write(conf.parent / "profiles" / "0417.toml", profile("0417", "s0417"))
    _write(conf.parent / "profiles" / "0418.toml", profile("0418", "s0403"))  # shares 0403's secure dir: refused
    return conf


def make_app(conf: Path) -> IplosApp:
    profile, path = select_profile(conf, "0417")
    return IplosApp(profile, path, clock=lambda: FROZEN_NOW, fleet_config=conf)


async def test_k_switches_profile_and_every_pane_is_fresh_without_the_pin(tmp_path):
    conf = make_fleet(tmp_path)
    (conf.parent / "config.toml").write_text(f'[profile]\nkommunenr = "0403"\n[paths]\nsecure_dir = "{tmp_path / "s0403"}"\n')
    (conf.parent / "profiles" / "0418.toml").unlink()
    app = make_app(conf)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.profile_choices) == 2)
        pin_field = app.screen.query_one("#field-pin")
        pin_field.focus()
        await pilot.press(*PIN_CANARY)
        await wait_until(pilot, lambda: app.pin is not None and app.pin.is_set)
        old_pin, old_screen = app.pin, app.screen
        await pilot.press("f2")  # a pane without a text field under the cursor
        await wait_until(pilot, lambda: app.current_mode == "preflight")
        await pilot.press("k")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ProfilePickerDialog")
        await pilot.press(*"0403", "enter")
        await wait_until(pilot, lambda: app.profile.kommunenr == "0403" and app.current_mode == "preflight")
        assert app.config_path == conf
        assert app.pin is None and not old_pin.is_set  # cleared in memory, not only dropped
        await pilot.press("f1")
        await wait_until(pilot, lambda: app.current_mode == "config")
        assert app.screen is not old_screen
        assert app.screen.query_one("#field-kommunenr").value == "0403"
        assert app.screen.query_one("#field-pin").value == ""
        assert PIN_CANARY not in repr(app.screen.query_one("#field-pin"))


async def test_the_palette_lists_usable_profiles_and_the_picker_refuses_a_broken_one(tmp_path):
    conf = make_fleet(tmp_path)
    app = make_app(conf)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.profile_choices) == 3)
        problems = {choice.id: bool(choice.problem) for choice in app.profile_choices}
        assert problems == {"0403": True, "0417": False, "0418": True}
        commands = [command.title for command in app.get_system_commands(app.screen)]
        assert not any("0403" in title or "0418" in title for title in commands)  # broken: not offered
        app.action_switch_profile()
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ProfilePickerDialog")
        await pilot.press(*"0418", "enter")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ProfilePickerDialog"  # still open, says why
        assert "config.toml" in str(app.screen.query_one("#picker-problem").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ != "ProfilePickerDialog")
        assert app.profile.kommunenr == "0417"


async def test_no_switch_while_a_run_is_going_on(tmp_path):
    conf = make_fleet(tmp_path)
    (conf.parent / "profiles" / "0418.toml").write_text(f'[profile]\nkommunenr = "0418"\n[paths]\nsecure_dir = "{tmp_path / "s0418"}"\n')
    app = make_app(conf)
    release = threading.Event()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.profile_choices) == 3)
        app.screen.run_worker(lambda: release.wait(30), thread=True, group="submission")
        app.use_profile("0418")
        await pilot.pause(0.2)
        assert app.profile.kommunenr == "0417"
        assert any(n.message == t("app.switch_busy") for n in app._notifications)
        release.set()
        await app.workers.wait_for_complete()
        app.use_profile("0418")
        await wait_until(pilot, lambda: app.profile.kommunenr == "0418")
