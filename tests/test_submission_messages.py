"""What the operator must read on the Submission pane at 80x24 (issue 14 item 1): after a wrong
PIN the attempts left, after the lock its end in local time, every long log line whole."""

from __future__ import annotations

import pytest
from submit_world import World

from iplos_tui.app import IplosApp
from iplos_tui.core import format as fmt
from iplos_tui.core.i18n import t
from tests.support import wait_until
from tests.support.pilot import readable, screen_text

LOCKED_UNTIL = "2018-01-08T10:00:00+01:00"  # what the test Sendemodul answers for a locked account


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=50)
    yield w
    w.close()


def _app(world: World) -> IplosApp:
    return IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})


async def _send_with_pin(pilot, app, pin: str) -> None:
    pane = app.screen
    pane.last_result = None
    await pilot.press("f6")
    await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
    await pilot.press(*pin, "enter")
    await wait_until(pilot, lambda: app.screen is pane and pane.last_result is not None and not pane.running)
    await wait_until(pilot, lambda: pane.events.empty())
    await pilot.pause(0.2)  # one drain tick after the queue is empty


async def test_a_wrong_pin_says_how_many_tries_are_left_at_80x24(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#sub-path").value = str(world.extract)
        await _send_with_pin(pilot, app, "PIN-CANARY-0009")
        shown = readable(screen_text(app))
        assert t("sendemodul.wrong_credentials_left", left=2) in shown, shown
        assert t("sendemodul.wrong_credentials_hint") in shown, shown


async def test_the_lock_says_until_when_in_local_time_at_80x24(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#sub-path").value = str(world.extract)
        for _ in range(3):
            await _send_with_pin(pilot, app, "PIN-CANARY-0009")
        text = screen_text(app)
        shown = readable(text)
        assert t("sendemodul.locked", until=fmt.moment(LOCKED_UNTIL)) in shown, shown
        assert "2018-01-08T" not in text and "+01:00" not in text
        log = app.screen.query_one("#sub-log")
        assert all(len(line) <= log.scrollable_content_region.width for line in log.shown_lines)


async def test_the_status_follows_the_run_not_the_closed_confirmation(world):
    """Issue 14 item 18: "Venter på bekreftelse …" stayed through a slow failing login."""
    from sendemodul_fake import Fault

    world.server.faults.append(Fault("POST", r"login", "sleep_after_body", seconds=5))
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(world.extract)
        await pilot.press("f6")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        # the pane drains the run's events on a timer: the status may lag the dialog by a few frames
        await wait_until(pilot, lambda: pane.query_one("#sub-status").message == t("submit.pane.waiting_confirm"))
        await pilot.press(*"PIN-CANARY-0009", "enter")
        await wait_until(pilot, lambda: world.server.logins >= 1)  # the login hangs now
        await wait_until(pilot, lambda: t("submit.step_login") in pane.query_one("#sub-status").message)
        await wait_until(pilot, lambda: pane.last_result is not None and not pane.running, 60)
