"""F10 or Ctrl+Q during an upload (issue 14 item 8): the console asks, says what happens to the
run, stays by default; quitting stops the upload and the journal continues it later — a new
`iplos submit` of the same extract finishes it, nothing sent twice."""

from __future__ import annotations

import time

import pytest
from sendemodul_fake import Fault
from submit_world import PIN_CANARY, World

from iplos_tui.app import IplosApp
from iplos_tui.core.i18n import t
from iplos_tui.core.journal import SENDING
from tests.support import wait_until
from tests.support.pilot import readable, screen_text

STALL = 15.0  # the Sendemodul holds the first content part this long: the upload is in progress


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=60)
    yield w
    w.close()


def _uploading(world: World) -> bool:
    return any(method == "PUT" and "content-0001" in path for method, path in world.server.requests)


@pytest.mark.parametrize("quit_key", ["f10", "ctrl+q"])
async def test_quitting_during_an_upload_asks_and_the_journal_continues_the_run(world, quit_key):
    world.server.faults.append(Fault("PUT", r"submissions/[0-9a-f-]+/parts/content-0001\.p7m", "sleep_after_body", seconds=STALL))
    app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(world.extract)
        await pilot.press("f6")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
        await pilot.press(*PIN_CANARY, "enter")
        await wait_until(pilot, lambda: _uploading(world))
        await pilot.press(quit_key)
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        shown = readable(screen_text(app))
        assert t("app.quit_during_upload_title") in shown and t("app.quit_during_upload") in shown, shown
        assert app.focused is not None and app.focused.id == "confirm-no"  # «Bli her»
        await pilot.press("enter")  # a stray Enter stays
        await wait_until(pilot, lambda: app.screen is pane)
        assert app.is_running and pane.running
        await pilot.press(quit_key)
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmDialog")
        await pilot.press("j")  # quit anyway
        await wait_until(pilot, lambda: not app.is_running, 60)
    assert app.return_code == 0
    deadline = time.monotonic() + STALL + 60  # the worker ends when the stalled request does
    while world.journal().submissions()[-1].state == SENDING and time.monotonic() < deadline:
        time.sleep(0.1)
    assert world.server.committed() == []
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin")
    assert again.returncode == 0, again.stderr
    assert len(world.journal().submissions()) == 1  # the same submission, continued
    world.assert_invariants(again.stdout, again.stderr, delivered=True)
