"""After a dropped SSH session mid-upload, the next start (issue 14 item 9): the console says on
start that a submission was cut off, F3 names it as `iplos status` does ("avbrutt under
sending") with one key to continue it, and that key continues it — only after the confirmation."""

from __future__ import annotations

import os
import signal

import pytest
from submit_world import PIN_CANARY, World, wait_paused

from iplos_tui.app import IplosApp
from iplos_tui.core.i18n import t
from iplos_tui.core.status import unfinished_submissions
from tests.support import wait_until
from tests.support.pilot import readable, screen_text


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=60)
    yield w
    w.close()


def _cut_off_mid_upload(world: World) -> None:
    proc = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", child="submit_child.py", child_args=("--pause-at", "sending"))
    wait_paused(proc, "sending")
    os.kill(proc.pid, signal.SIGKILL)  # the SSH session dropped: nothing is cleaned up
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


async def test_an_upload_cut_off_is_announced_on_start_and_one_key_continues_it(world):
    _cut_off_mid_upload(world)
    status = world.cli("status", pin=None).stdout
    interrupted = t("submit.state_interrupted")
    assert interrupted in status
    app = IplosApp(world.profile, world.config, services={"sendemodul_client": world.client_factory()})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: any(interrupted in n.message for n in app._notifications))
        notice = next(n.message for n in app._notifications if interrupted in n.message)
        assert "F3" in notice
        await pilot.press("f3")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "SubmissionScreen")
        pane = app.screen
        await wait_until(pilot, lambda: interrupted in readable(screen_text(app)))
        shown = readable(screen_text(app))
        line = unfinished_submissions(world.profile)[0]["line"]  # the words of `iplos status`
        assert t("submit.pane.unfinished", line=line, key="g") in shown, shown
        assert "neste start" not in shown  # this is the next start
        await pilot.press("g")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        await pilot.press(*PIN_CANARY, "enter")
        await wait_until(pilot, lambda: app.screen is pane and pane.last_result is not None and not pane.running, 60)
        assert pane.last_result.ok and pane.last_result.state == "confirmed"
        log = "\n".join(pane.query_one("#sub-log").lines)
    world.assert_invariants(log, delivered=True)
    assert t("submit.state_interrupted") not in world.cli("status", pin=None).stdout
