"""The app shell and the Config pane, driven with the keyboard."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib


from iplos_tui.app import IplosApp
from iplos_tui.core.config import Profile, load_profile
from iplos_tui.core.i18n import t
from tests.support import FROZEN_NOW, PIN_CANARY, wait_until


def make_app(tmp_path, profile: Profile | None = None, **kwargs) -> IplosApp:
    profile = profile or Profile(secure_dir=tmp_path / "secure")
    return IplosApp(profile, tmp_path / "conf" / "config.toml", clock=lambda: FROZEN_NOW, **kwargs)


async def type_into(pilot, widget_id: str, text: str) -> None:
    pilot.app.screen.query_one(f"#{widget_id}").focus()
    await pilot.pause()
    await pilot.press("ctrl+a", "ctrl+k", *list(text))


async def test_fill_config_with_keyboard_and_save(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.focused.id == "config-form"
        await pilot.press("enter")  # into the fields, deliberately
        assert app.focused.id == "field-kommunenr"
        await pilot.press(*"0403")
        await pilot.press("tab", "ctrl+a", "ctrl+k", *"00")  # bydel
        await pilot.press("tab", *"974550571")  # orgnr
        await type_into(pilot, "field-contact_email", "iplos@hamar.kommune.no")
        await type_into(pilot, "field-contact_mobile", "+47 912 34 567")
        await type_into(pilot, "field-postmottak", "postmottak@hamar.kommune.no")
        await pilot.pause()
        assert app.screen._validate()[0] == 0  # no errors left: what the status line counts
        await pilot.press("f5")
        await pilot.pause()
    saved = load_profile(tmp_path / "conf" / "config.toml")
    assert (saved.kommunenr, saved.bydel, saved.orgnr) == ("0403", "00", "974550571")
    assert saved.contact_mobile == "+47 912 34 567"
    assert os.stat(tmp_path / "conf" / "config.toml").st_mode & 0o777 == 0o600
    assert app.profile == saved


async def test_live_validation_message_next_to_the_field(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", *"1601")
        await pilot.pause()
        assert app.screen.query_one("#msg-kommunenr").display is False  # 1601 is valid for 2017
        await wait_until(pilot, lambda: app.screen.query("#field-orgnr"))  # the lower sections come after the first frame
        await type_into(pilot, "field-orgnr", "974550572")
        message = app.screen.query_one("#msg-orgnr")
        await wait_until(pilot, lambda: message.display and message.has_class("-error"))  # checked once per burst of keys
        assert t("identifiers.label_orgnr") in str(message.render())


async def test_pin_is_held_in_memory_only(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "field-pin", PIN_CANARY)
        await pilot.pause()
        assert app.pin is not None and app.pin.reveal() == PIN_CANARY
        assert PIN_CANARY not in repr(app.pin)
        await pilot.press("f5")
        await pilot.pause()
    text = (tmp_path / "conf" / "config.toml").read_text()
    assert PIN_CANARY not in text
    assert not any("pin" == key for table in tomllib.loads(text).values() for key in table)


async def test_unsaved_changes_are_asked_about_when_leaving(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", *"0403")
        await pilot.press("f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedChangesScreen"
        await pilot.press("escape")  # Esc means stay
        await pilot.pause()
        assert app.current_mode == "config" and type(app.screen).__name__ == "ConfigScreen"
        await pilot.press("f2")
        await pilot.pause()
        await pilot.click("#discard")
        await pilot.pause()
        assert app.current_mode == "preflight"
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.query_one("#field-kommunenr").value == ""
    assert not (tmp_path / "conf" / "config.toml").exists()


async def test_every_pane_is_reachable_with_f_keys(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode in (("f2", "preflight"), ("f3", "submission"), ("f4", "feedback"), ("f1", "config")):
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode


async def test_palette_has_every_action_and_no_screenshot(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert not any("screenshot" in title.lower() for title in titles)
        for key in ("app.mode_config", "app.mode_preflight", "app.mode_submission", "config_screen.save", "app.quit"):
            assert any(t(key) in title for title in titles), key
        assert app.ALLOW_SELECT is False


async def test_header_shows_profile_and_countdown(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)):
        header = str(app.screen.query_one("ProfileHeader").render())
        assert "0403 Hamar" in header and "bydel 00" in header and "2017" in header
        assert "7 d igjen" in header  # 8 January 2018, deadline 15 January


def test_crash_report_has_no_locals(tmp_path):
    """A canary PIN in a crashing handler's locals must not reach the terminal (F16)."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from pathlib import Path
        from iplos_tui.app import IplosApp
        from iplos_tui.core.config import Profile

        SECRET = "{PIN_CANARY[:4]}" + "{PIN_CANARY[4:]}"

        class Crashing(IplosApp):
            def on_ready(self):
                pin = SECRET
                nin = "01918099960"
                raise RuntimeError("handler failed")

        async def main():
            app = Crashing(Profile(secure_dir=Path({str(tmp_path)!r})), None)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()

        try:
            asyncio.run(main())
        except RuntimeError as error:
            import traceback
            print("".join(traceback.format_exception_only(error)))  # what a test runner would print
        """
    )
    (tmp_path / "crash.py").write_text(script)
    result = subprocess.run([sys.executable, str(tmp_path / "crash.py")], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert PIN_CANARY not in output
    assert "01918099960" not in output


def test_crash_report_in_a_real_terminal(tmp_path):
    """The same in a pty: the printed report names the error but shows no local variable."""
    import pty
    import select

    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from iplos_tui.app import IplosApp
        from iplos_tui.core.config import Profile

        class Crashing(IplosApp):
            def on_ready(self):
                pin = "{PIN_CANARY[:4]}" + "{PIN_CANARY[4:]}"
                raise RuntimeError("boom")

        Crashing(Profile(secure_dir=Path({str(tmp_path)!r})), None).run()
        """
    )
    (tmp_path / "crash.py").write_text(script)
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(sys.executable, [sys.executable, str(tmp_path / "crash.py")], {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"})
    output = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    text = output.decode("utf-8", "replace")
    assert "RuntimeError" in text  # the report is there
    assert PIN_CANARY not in text


def test_sixteen_colour_detection():
    from iplos_tui.app import is_16_colour_terminal

    assert is_16_colour_terminal({"TERM": "linux"})
    assert is_16_colour_terminal({"TERM": "xterm"})
    assert not is_16_colour_terminal({"TERM": "xterm-256color"})
    assert not is_16_colour_terminal({"TERM": "xterm", "COLORTERM": "truecolor"})


async def test_no_color_is_respected(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)):
        assert app.no_color is True


async def test_cursor_does_not_blink(tmp_path):
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")  # into the first field
        await pilot.pause()
        assert app.focused.cursor_blink is False


async def test_config_pane_follows_a_profile_saved_elsewhere(tmp_path, valid_profile):
    """A tick saved from another pane must not be undone by a later save on F1."""
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        await pilot.pause()
        app.set_profile(app.profile.replace(spam_allowlist_confirmed=True))  # as the preflight tick does
        await pilot.press("f1")
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#field-spam_allowlist_confirmed").value is True
        await pilot.press("f5")
        await pilot.pause()
    saved = load_profile(tmp_path / "conf" / "config.toml")
    assert saved.spam_allowlist_confirmed is True


async def test_sandbox_clock_key(tmp_path):
    """F9 exists only with a sandbox and moves its clock to the next working morning."""
    from iplos_tui.sandbox.session import start_session

    with start_session(tmp_path / "sandbox") as session:
        app = IplosApp(session.profile, session.config_path, sandbox=session, clock=session.now)
        async with app.run_test(size=(80, 24)) as pilot:
            before = app.now()
            assert t("app.sandbox_marker") in str(app.screen.query_one("ProfileHeader").render())
            await pilot.press("f9")
            await app.workers.wait_for_complete()
            await pilot.pause()
            after = app.now()
            assert after > before and after.hour == 8
    plain = make_app(tmp_path)
    async with plain.run_test(size=(80, 24)) as pilot:
        assert plain.check_action("advance_clock", ()) is False


async def test_sandbox_round_is_ready_to_send(tmp_path):
    """In the sandbox the extract is chosen and the test PIN is in memory, never on screen."""
    from iplos_tui.sandbox.session import start_session

    with start_session(tmp_path / "sandbox") as session:
        app = IplosApp(session.profile, session.config_path, sandbox=session, clock=session.now)
        async with app.run_test(size=(80, 24)) as pilot:
            assert app.pin is not None and app.pin.reveal() == session.pin.reveal()
            await pilot.press("f3")
            await pilot.pause()
            assert app.screen.query_one("#sub-path").value == str(session.extract_path)
            for key in ("f1", "f3", "f4"):
                await pilot.press(key)
                await pilot.pause()
                assert session.pin.reveal() not in app.export_screenshot()


async def test_a_huge_paste_never_reaches_the_saved_profile(tmp_path):
    """Issue 11 item 10: a 1 MB paste was saved; afterwards every command refused the file."""
    from textual import events

    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.screen.query_one("#field-contact_email")
        field.focus()
        await pilot.pause()
        field.post_message(events.Paste("x" * 1_000_000))
        await pilot.pause()
        assert len(field.value) <= 256
        await pilot.press("f5")
        await pilot.pause()
    path = tmp_path / "conf" / "config.toml"
    assert path.stat().st_size < 64 * 1024
    assert load_profile(path).contact_email == field.value


async def test_config_status_counts_in_the_singular(tmp_path, valid_profile):
    """Issue 14 item 13: "1 advarsel", not "1 advarsler"."""
    app = make_app(tmp_path, valid_profile.replace(ssb_certificate=tmp_path / "ssb.pem"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        status = str(app.screen.query_one("#config-status").render())
        assert "0 feil, 1 advarsel." in status, status


async def test_no_pane_opens_with_focus_in_an_editable_field(tmp_path, valid_profile):
    """Issue 14 item 6: a stray key on arrival must not land in a field."""
    from textual.widgets import Input

    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("f1", "f2", "f3", "f4", "f1"):
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.focused, Input), (key, app.focused)
        await pilot.press("x")
        await pilot.pause()
        assert app.screen.query_one("#field-kommunenr").value == "0403"
        await pilot.press("enter")  # the operator enters the form deliberately
        await pilot.pause()
        assert app.focused.id == "field-kommunenr"


async def test_unsaved_dialog_defaults_to_stay_and_never_saves_errors_by_enter(tmp_path, valid_profile):
    """Issue 14 item 6: the dialog reached by accident defaults to "Bli her"; with errors in the
    form its Lagre cannot be chosen, so a plain Enter never saves a broken profile."""
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "field-kommunenr", "9")
        await pilot.press("f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedChangesScreen"
        assert app.focused.id == "stay"
        assert app.screen.query_one("#save").disabled
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "config" and type(app.screen).__name__ == "ConfigScreen"
    assert not (tmp_path / "conf" / "config.toml").exists()


async def test_checkbox_state_reads_without_colour(tmp_path, valid_profile, monkeypatch):
    """Issue 14 item 14: `▐X▌` both ways; now `[x]` / `[ ]`, also under NO_COLOR."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path, valid_profile.replace(spam_allowlist_confirmed=True, postmottak_routing_confirmed=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        ticked = app.screen.query_one("#field-spam_allowlist_confirmed").render().plain
        unticked = app.screen.query_one("#field-postmottak_routing_confirmed").render().plain
        assert ticked.startswith("[x]") and unticked.startswith("[ ]"), (ticked, unticked)


async def test_a_long_path_shows_its_end(tmp_path, valid_profile):
    """Issue 14 item 5: the extract's `.xml` and a certificate's file name were cut off; a path
    shows its end (the file's name) when not being edited."""
    deep = tmp_path / ("a-very-long-folder-name-" * 4) / "keys" / "ssb-2017-med-feil.pem"
    app = make_app(tmp_path, valid_profile.replace(ssb_certificate=deep))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.pause()
        field = app.screen.query_one("#field-ssb_certificate")
        shown = field.render_line(0).text.rstrip()
        assert shown.endswith("ssb-2017-med-feil.pem"), shown


def test_unknown_theme_is_one_clear_line(tmp_path):
    """`ui.theme = "nope"` in the config: one line naming the key and the themes there are, exit 2."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = home / "config.toml"
    config.write_text('[ui]\ntheme = "nope"\n')
    config.chmod(0o600)
    result = subprocess.run(
        [sys.executable, "-m", "iplos_tui", "--config", str(config), "tui", "--allow-textual-env"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "InvalidThemeError" not in result.stderr
    assert "ui.theme" in result.stderr and "nope" in result.stderr and "textual-dark" in result.stderr
