"""The app's one worker handler: whatever a pane's worker raises, the operator reads one clear,
sanitised message and the pane can run again (issue 12 item 3; issue 11 items 7 and 13)."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest
from textual import work
from textual.widgets import Static

from iplos_tui.app import IplosApp
from iplos_tui.core.config import Profile
from iplos_tui.core.errors import Cancelled, IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.runs import RunFailed, RunFinished
from iplos_tui.screens.base import PaneScreen
from tests.support import FROZEN_NOW, PIN_CANARY, run_in_pty, wait_until


class ServerAnswerRefused(IplosError):
    exit_code = ExitCode.NETWORK

    def message(self) -> str:
        return "the server's answer was refused"

    def hint(self) -> str:
        return "try again later"


class ProbePane(PaneScreen):
    """A pane with one worker and a "running" state, as every real pane has."""

    def __init__(self) -> None:
        super().__init__()
        self.running = False
        self.outcomes: list[RunFinished | RunFailed] = []

    def compose_body(self):
        yield Static("probe")

    def start(self, error: BaseException | None) -> None:
        self.running = True
        self.job(error)

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def job(self, error: BaseException | None) -> str:
        if error is not None:
            raise error
        return "done"

    def on_run_finished(self, message: RunFinished) -> None:
        self.outcomes.append(message)
        self.running = False

    def on_run_failed(self, message: RunFailed) -> None:
        self.outcomes.append(message)
        self.running = False


def _app(tmp_path) -> IplosApp:
    return IplosApp(Profile(secure_dir=tmp_path / "secure"), tmp_path / "conf" / "config.toml", clock=lambda: FROZEN_NOW)


async def _run_probe(tmp_path, error: BaseException | None):
    app = _app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = ProbePane()
        await app.push_screen(pane)
        pane.start(error)
        await wait_until(pilot, lambda: pane.outcomes)
        return app, pane, list(app._notifications)


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (RecursionError("maximum recursion depth exceeded while decoding a JSON array"), "RecursionError"),
        (ValueError("Exceeds the limit (4300 digits) for integer string conversion"), "4300 digits"),
        (KeyError("receipt"), "KeyError"),
        (OSError(28, "No space left on device", "/srv/secure/journal.jsonl"), "Disken er full (eller kvoten er brukt opp): /srv/secure/journal.jsonl"),  # in words, not the OS text
    ],
    ids=["recursion", "value", "key", "disk-full"],
)
async def test_any_exception_in_a_worker_is_explained_and_the_pane_is_free(tmp_path, error, named):
    app, pane, notes = await _run_probe(tmp_path, error)
    assert pane.running is False
    (outcome,) = pane.outcomes
    assert isinstance(outcome, RunFailed) and outcome.group == "probe"
    assert outcome.explanation.expected is False  # a defect of ours: named so it can be reported
    assert named in outcome.explanation.message
    assert outcome.explanation.hint and "test_worker_failures.py" in outcome.explanation.hint
    assert [note.severity for note in notes] == ["error"]
    assert outcome.explanation.message in notes[0].message and notes[0].markup is False


async def test_an_explained_error_keeps_its_message_hint_and_code(tmp_path):
    _, pane, notes = await _run_probe(tmp_path, ServerAnswerRefused())
    (outcome,) = pane.outcomes
    assert outcome.explanation.message == "the server's answer was refused"
    assert outcome.explanation.hint == "try again later"
    assert outcome.explanation.exit_code == ExitCode.NETWORK and outcome.explanation.expected
    assert "try again later" in notes[0].message


async def test_cancelled_is_a_warning_not_an_error(tmp_path):
    _, pane, notes = await _run_probe(tmp_path, Cancelled())
    (outcome,) = pane.outcomes
    assert outcome.cancelled and outcome.explanation.exit_code == ExitCode.INTERRUPTED
    assert [note.severity for note in notes] == ["warning"]


async def test_hostile_text_in_an_exception_is_sanitised(tmp_path):
    _, pane, notes = await _run_probe(tmp_path, RuntimeError("\x1b]0;PWNED\x07 [b]markup[/b] \u202ereversed\u200b"))
    message = pane.outcomes[0].explanation.message
    for raw in ("\x1b", "\x07", "\u202e", "\u200b"):
        assert raw not in message and raw not in notes[0].message
    assert "[b]markup[/b]" in message  # shown as plain text, never parsed


async def test_a_finished_worker_hands_back_its_result(tmp_path):
    _, pane, notes = await _run_probe(tmp_path, None)
    (outcome,) = pane.outcomes
    assert isinstance(outcome, RunFinished) and outcome.result == "done" and notes == []


async def test_submission_pane_runs_again_after_a_worker_raised(tmp_path):
    """The issue's case: an exception in the send worker left the pane "running", F5/F6 dead."""
    from submit_world import World

    world = World(tmp_path / "world", persons=20)
    calls = []

    def broken_client(profile):
        calls.append(profile)
        raise RecursionError("maximum recursion depth exceeded")  # as a 100,000-deep JSON answer did

    app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": broken_client}, clock=lambda: FROZEN_NOW)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.screen
            pane.query_one("#sub-path").value = str(world.extract)
            for attempt in (1, 2):
                await pilot.press("f6")
                await wait_until(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
                if attempt == 1:
                    await pilot.press(*PIN_CANARY)
                await pilot.press("enter")
                await wait_until(pilot, lambda attempt=attempt: len(calls) == attempt and not pane.running)
                assert pane.check_action("send", ()) and pane.check_action("validate", ())
                assert not pane.check_action("cancel_run", ())
                status = str(pane.query_one("#sub-status").render())
                assert "RecursionError" in status and PIN_CANARY not in status
            assert any("RecursionError" in note.message for note in app._notifications)
    finally:
        world.close()


def test_the_console_exits_non_zero_after_a_crash(tmp_path):
    """`iplos tui` maps a crash (Textual's return_code 1) to exit 1, never 0 (issue 11 item 13).

    The child runs the real `tui` command; only the App class is swapped for one whose handler
    raises (or quits normally), on a real pseudo-terminal."""
    script = textwrap.dedent(
        f"""
        import argparse, sys
        from pathlib import Path
        import iplos_tui.app as app_module
        from iplos_tui.commands import tui
        from iplos_tui.core.config import Profile

        class Crashing(app_module.IplosApp):
            def on_ready(self):
                raise RuntimeError("boom")

        class Quitting(app_module.IplosApp):
            def on_ready(self):
                self.action_quit()

        app_module.IplosApp = Crashing if sys.argv[1] == "crash" else Quitting
        profile = Profile(secure_dir=Path({str(tmp_path)!r}))
        args = argparse.Namespace(sandbox=False, allow_textual_env=False, profile=profile, config_path=None)
        sys.exit(int(tui.run(args)))
        """
    )
    (tmp_path / "app.py").write_text(script)
    env = {name: value for name, value in os.environ.items() if not name.startswith("TEXTUAL")}
    crashed = run_in_pty([sys.executable, str(tmp_path / "app.py"), "crash"], env=env)
    assert "RuntimeError" in crashed.output and crashed.returncode == ExitCode.FAILED
    quit_ok = run_in_pty([sys.executable, str(tmp_path / "app.py"), "quit"], env=env)
    assert quit_ok.returncode == ExitCode.OK, quit_ok.output[-500:]
