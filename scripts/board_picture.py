"""The README's picture of the Board pane (F7): a text capture at 80x24 of the real app after a real
fleet round against a sandbox with 30 accounts, in a throwaway directory.

    python scripts/board_picture.py > screens/board.txt

The round: the fleet preflight for all; 24 municipalities send an extract (one with its findings of
level error accepted, one with a wrong PIN three times: locked), six have none yet. The console's
clock is frozen an hour after the round (on the sandbox clock), so the countdown reads as in the
submission window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENT, PERSONS = 24, 10


def play(root: Path):
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.fleet import submit_round as sr
    from iplos_tui.core.fleet.preflight_round import FleetPreflight
    from iplos_tui.core.profiles import load_fleet
    from iplos_tui.core.secrets import Secret
    from iplos_tui.sandbox.server import SandboxServer

    server = SandboxServer(root / "sandbox", accounts=30, process=False).start()
    try:
        entries = load_fleet(server.config_path).usable()
        FleetPreflight(entries, now=server.clock.now).run()
        pins = {e.id: server.accounts.get(e.profile.kommunenr, e.profile.bydel).pin.reveal() for e in entries}
        extracts = {}
        for number, entry in enumerate(entries[:SENT]):
            extracts[entry.id] = Path(entry.profile.secure_dir) / "uttrekk.xml"
            generate_file(extracts[entry.id], persons=PERSONS, kommunenr=entry.profile.kommunenr, orgnr=entry.profile.orgnr,
                          seed=number, error_rate=0.3 if number == 5 else 0.0)
        errors, locked = entries[5].id, entries[9].id
        pins[locked] = "Wrong-pin-1"

        def submit(ids):
            jobs, skipped = sr.plan([e for e in entries if e.id in ids], extracts, dt.datetime.now().astimezone())
            sr.FleetSubmit(jobs, skipped=skipped, pin_for=lambda job: Secret(pins[job.id]),
                           approve=lambda checked: {c.id: sr.Approval(True, accept_errors=c.id == errors) for c in checked}).run()

        submit(set(extracts))
        for _ in range(2):
            submit({locked})
        return server.config_path, server.clock.now() + dt.timedelta(hours=1)
    finally:
        server.stop()


async def capture(config: Path, now: dt.datetime) -> str:
    from rich.console import Console

    from iplos_tui.app import IplosApp
    from iplos_tui.core.config import load_profile

    app = IplosApp(load_profile(config), config, clock=lambda: now, initial_mode="board")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):
            await pilot.pause(0.05)
            if getattr(app.screen, "loaded_at", None) is not None:
                break
        await pilot.pause(0.2)
        console = Console(width=80, height=24, file=io.StringIO(), record=True, legacy_windows=False, safe_box=False)
        console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
        return console.export_text()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="iplos-board-") as scratch:
        os.environ["XDG_CONFIG_HOME"] = str(Path(scratch) / "config-home")
        config, now = play(Path(scratch))
        text = asyncio.run(capture(config, now))
    sys.stdout.write("\n".join(line.rstrip() for line in text.splitlines()[:24]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
