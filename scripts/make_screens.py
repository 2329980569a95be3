"""Make the README's pictures: every pane of the real app at 80x24, as SVG in screens/.

Run with `make screens`. Uses a fixed demo profile and a frozen clock so the pictures are stable.
Panes can add a `demo_state(app)` coroutine hook in `SCREEN_SETUPS` to show themselves with content.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from iplos_tui.app import IplosApp  # noqa: E402
from iplos_tui.sandbox.demo import DEMO_NOW, DEMO_PROFILE  # noqa: E402

FROZEN = DEMO_NOW
MODES = ("config", "preflight", "submission", "feedback")


async def shoot_submission_run(out: Path) -> None:
    """The Submission pane after a real run against the sandbox (in a throwaway directory)."""
    import tempfile

    from iplos_tui.sandbox.session import start_session

    with tempfile.TemporaryDirectory() as scratch, start_session(Path(scratch) / "sandbox") as session:
        app = IplosApp(session.profile, session.config_path, sandbox=session, clock=session.now, initial_mode="submission")
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.screen
            await pilot.press("f6")
            for _ in range(400):
                await pilot.pause(0.05)
                if type(app.screen).__name__ == "ConfirmSend":
                    break
            await pilot.press("enter")
            for _ in range(600):
                await pilot.pause(0.05)
                if pane.last_result is not None and not pane.running:
                    break
            await pilot.pause(0.3)
            app.save_screenshot(str(out / "submission.svg"))


async def shoot(mode: str, out: Path) -> None:
    if mode == "submission":
        await shoot_submission_run(out)
        return
    app = IplosApp(DEMO_PROFILE, Path("/srv/iplos/config.toml"), clock=lambda: FROZEN, initial_mode=mode)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        if mode == "feedback":  # an opened zip, built in memory (the pane never imports the sandbox)
            from iplos_tui.sandbox.feedback_demo import demo_archive

            app.screen.show_archive(demo_archive())
            await pilot.pause()
        setup = getattr(app.screen, "demo_state", None)
        if setup is not None:
            await setup(pilot)
            await pilot.pause()
        app.save_screenshot(str(out / f"{mode}.svg"))


def main() -> None:
    out = ROOT / "screens"
    out.mkdir(exist_ok=True)
    for mode in MODES:
        asyncio.run(shoot(mode, out))
        print(out / f"{mode}.svg")


if __name__ == "__main__":
    main()
