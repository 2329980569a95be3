"""The Submission pane driven by the keyboard: confirm -> send with the live log, wrong PIN,
validation findings grouped by rule, the history from the journal."""

from __future__ import annotations

import pytest
from submit_world import PIN_CANARY, World

from iplos_tui.app import IplosApp
from tests.support import wait_until as _wait


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=300)
    yield w
    w.close()


def _app(world: World) -> IplosApp:
    return IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})


async def _send(pilot, app, world, pin: str):
    app.screen.query_one("#sub-path").value = str(world.extract)
    pane = app.screen
    pane.last_result = None
    await pilot.press("f6")
    await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
    if pin:
        await pilot.press(*pin)
    await pilot.press("enter")
    await _wait(pilot, lambda: app.screen is pane and pane.last_result is not None and not pane.running)
    await pilot.pause(0.2)  # let the drain timer flush the queue
    return pane


async def test_confirm_then_send_shows_the_live_log_and_the_receipt(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _send(pilot, app, world, PIN_CANARY)
        assert pane.last_result.ok and pane.last_result.state == "confirmed"
        log = "\n".join(pane.query_one("#sub-log").lines)
        assert "IPLOS-2018-000001" in log and "content-0001.p7m" in log and "9.1.2018 08:00" in log
        assert app.pin is not None and app.pin.reveal() == PIN_CANARY  # kept in memory only
        await pilot.press("f8")
        table = pane.query_one("#sub-history")
        assert table.row_count == 1
        screen_text = app.export_screenshot()
        assert PIN_CANARY not in log and PIN_CANARY not in screen_text
        # a second send: the PIN is in memory, so the confirmation asks for none; same extract
        # -> refused as a duplicate before any upload
        app.screen.query_one("#sub-path").value = str(world.extract)
        pane.last_result = None
        await pilot.press("f6")
        await _wait(pilot, lambda: pane.last_result is not None)
        assert pane.last_result.state == "duplicate"
    world.assert_invariants(log, screen_text, delivered=True)


async def test_wrong_pin_is_cleared_from_memory(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _send(pilot, app, world, "PIN-CANARY-0009")
        assert pane.last_result.exit_code == 4
        assert app.pin is None
        assert "forsøk igjen" in pane.last_result.message
        log = "\n".join(pane.query_one("#sub-log").lines)
    assert world.server.logins == 1
    assert "PIN-CANARY" not in log


async def test_not_now_sends_nothing(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#sub-path").value = str(world.extract)
        pane = app.screen
        await pilot.press("f6")
        await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        await pilot.press("escape")
        await _wait(pilot, lambda: app.screen is pane and not pane.running)
    assert world.server.requests == []
    # the lock is released: a CLI run can go ahead
    from iplos_tui.core.journal import RunLock

    assert RunLock(world.secure).is_free()


async def test_validation_findings_grouped_by_rule(world):
    text = world.extract.read_text("utf-8").replace('hoursPerWeek="', 'hoursPerWeek="9', 5)
    world.extract.write_text(text, "utf-8")
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(world.extract)
        await pilot.press("f5")
        await _wait(pilot, lambda: not pane.running and pane.query_one("#sub-log").line_count > 2)
        await pilot.pause(0.2)
        log = "\n".join(pane.query_one("#sub-log").lines)
    assert "✗" in log or "!" in log
    assert any(": " in line and line.split(": ")[-1].isdigit() for line in log.splitlines())
    assert "(linje " in log  # each example names the care system's local id and the line
    assert world.server.requests == []


async def test_enter_on_an_unfinished_entry_in_the_history_continues_it(world):
    """A send cut halfway leaves an open journal entry; F8, then Enter on it, asks, and only
    what the Sendemodul lacks is sent, under the same key, committed once."""
    from sendemodul_fake import Fault

    world.server.faults.append(Fault("PUT", r"submissions/[0-9a-f-]+/parts/content-0001\.p7m", "close_mid_body"))
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _send(pilot, app, world, PIN_CANARY)
        first = pane.last_result
        assert not first.ok and world.server.committed() == []
        await pilot.press("f8")
        await pilot.pause()
        pane.query_one("#sub-history").focus()
        pane.last_result = None
        await pilot.press("enter")
        await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        await pilot.press("enter")  # the PIN is in memory: the dialog only asks to confirm
        await _wait(pilot, lambda: app.screen is pane and pane.last_result is not None and not pane.running)
        assert pane.last_result.ok and pane.last_result.submission_id == first.submission_id
        log = "\n".join(pane.query_one("#sub-log").lines)
    world.assert_invariants(log, delivered=True)


async def test_a_hostile_answer_ends_the_run_and_f6_works_again(world):
    """Issue 11.7: 100,000-deep JSON at login is one clear error; the pane does not stay on
    "Logger inn…" and F6 starts a run again."""
    from sendemodul_fake import Fault

    world.server.faults.append(Fault("POST", "login", "nested", depth=100_000))
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await _send(pilot, app, world, PIN_CANARY)
        assert not pane.last_result.ok and pane.last_result.exit_code == 3
        assert pane.last_result.message
        assert pane.check_action("send", ()) is True
        pane = await _send(pilot, app, world, "")  # the PIN is in memory; the fault is used up
        assert pane.last_result.ok
    world.assert_invariants(delivered=True)


async def test_an_exception_in_the_core_still_ends_the_run(world):
    """Whatever a worker raises (here the client cannot be built at all), the run ends: the pane
    leaves "running", F6 is enabled, and the lock is released."""

    def broken_client(profile):
        raise RuntimeError("the client cannot be built")

    app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": broken_client})
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(world.extract)
        await pilot.press("f6")
        await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        await pilot.press(*PIN_CANARY, "enter")
        await _wait(pilot, lambda: app.screen is pane and not pane.running)
        assert pane.check_action("send", ()) is True
    from iplos_tui.core.journal import RunLock

    assert RunLock(world.secure).is_free()
    assert world.server.requests == []


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
async def test_an_unusable_extract_path_is_logged_once_with_advice_that_applies(world, kind):
    """Issue 14.19 on F5: the reason once, and advice about the path or the file."""
    target = world.secure / f"x-{kind}.xml"
    if kind == "directory":
        target.mkdir()
    elif kind == "binary":
        target.write_bytes(bytes(range(256)) * 64)
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(target)
        await pilot.press("f5")
        await _wait(pilot, lambda: not pane.running and pane.query_one("#sub-log").line_count >= 2)
        await pilot.pause(0.2)
        lines = [line for line in pane.query_one("#sub-log").lines if line.strip()]
    failures = [line for line in lines if line.startswith("✗")]
    assert len(failures) == 1, lines
    assert not any("fagsystemet og lag et nytt uttrekk" in line for line in lines), lines
    assert any(("stien" if kind != "binary" else "IPLOS-uttrekk") in line for line in lines), lines


async def test_the_history_names_an_interrupted_upload_as_iplos_status_does(world):
    """Issue 14.9 (core): F8 shows "avbrutt under sending", not "sender", when nothing runs."""
    import os
    import signal

    from submit_world import wait_paused

    proc = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", child="submit_child.py", child_args=("--pause-at", "sending"))
    wait_paused(proc, "sending")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    status = world.cli("status", pin=None).stdout
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f8")
        await pilot.pause()
        table = app.screen.query_one("#sub-history")
        cells = [str(cell) for cell in table.get_row_at(0)]
    assert "avbrutt under sending" in cells and "avbrutt under sending" in status
