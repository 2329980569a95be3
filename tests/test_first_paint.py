"""What the console does before its first frame (issue 15, item 5): only the first pane's code,
and only the first section of the profile pane. Measured figures come from `make bench`; these
tests check the behaviour, never a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_FIRST_FRAME = textwrap.dedent(
    """
    import asyncio, json, sys
    from iplos_tui.app import IplosApp
    from iplos_tui.core.config import Profile

    PANES = ("iplos_tui.screens.config", "iplos_tui.screens.preflight", "iplos_tui.screens.submission", "iplos_tui.screens.feedback")

    async def main():
        app = IplosApp(Profile(), None, initial_mode="config")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            first = [name for name in PANES if name in sys.modules]
            await pilot.press("f4")
            await pilot.pause()
            shown = type(app.screen).__name__
            after = [name for name in PANES if name in sys.modules]
        print(json.dumps({"first": first, "after_f4": after, "shown": shown}))

    asyncio.run(main())
    """
)


def test_first_frame_loads_only_the_first_pane(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "IPLOS_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-c", _FIRST_FRAME], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["first"] == ["iplos_tui.screens.config"]
    # the other panes still open on their key, their code loaded then
    assert data["shown"] == "FeedbackScreen"
    assert "iplos_tui.screens.feedback" in data["after_f4"]


class _FirstFrame:
    """What an app subclass saw at its first frame with the profile pane on screen."""

    def __init__(self) -> None:
        self.seen: dict[str, object] | None = None


def _recording_app(record: _FirstFrame, *args, **kwargs):
    from iplos_tui.app import IplosApp

    class Recording(IplosApp):
        def _display(self, screen, renderable) -> None:
            if record.seen is None and screen.query("#field-kommunenr"):
                record.seen = {"later_section": bool(screen.query("#field-secure_dir"))}
            super()._display(screen, renderable)

    return Recording(*args, **kwargs)


async def test_the_profile_pane_works_before_its_lower_sections_arrive(tmp_path):
    """The sections below the first come after the first frame; a key typed before them is kept:
    leaving asks about the unsaved change."""
    from iplos_tui.core.config import Profile

    record = _FirstFrame()
    app = _recording_app(record, Profile(secure_dir=tmp_path / "secure"), tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9", "f3")
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedChangesScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query("#field-secure_dir")  # every section is there now
        assert app.screen.has_unsaved_changes
    assert record.seen == {"later_section": False}
