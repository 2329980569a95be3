"""What the console does before its first frame (issue 15, item 5): only the first pane's code,
and the sandbox's servers start after the first paint. Measured figures come from `make bench`;
these tests check the behaviour, never a time."""

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
