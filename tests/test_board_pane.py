"""The Board pane (F7) at 80x24 with 30 municipalities: what needs a person on top, the whole line
of the highlighted row below, scrolling beyond the screen, Enter switches the console to the
municipality, `p` runs the preflight for all and the board follows."""

from __future__ import annotations

import os
from pathlib import Path

from iplos_tui.app import IplosApp
from iplos_tui.core import journal as jn
from iplos_tui.core.profiles import select_profile
from tests.preflight_servers import closed_port
from tests.support import FROZEN_NOW, wait_until

IDS = [f"{number:04d}" for number in range(3001, 3031)]


def make_fleet(tmp_path: Path, port: int) -> Path:
    conf = tmp_path / "conf" / "config.toml"
    (conf.parent / "profiles").mkdir(mode=0o700, parents=True)
    os.chmod(conf.parent, 0o700)
    conf.write_text("")
    os.chmod(conf, 0o600)
    for kommunenr in IDS:
        path = conf.parent / "profiles" / f"{kommunenr}.toml"
        path.write_text(
            f'[profile]\nkommunenr = "{kommunenr}"\nyear = 2017\n[paths]\nsecure_dir = "{tmp_path / kommunenr}"\n'
            f'[sendemodul]\nurl = "https://127.0.0.1:{port}/Sendemodul/"\nexpected_address = "127.0.0.1"\n'
            f'[feedback]\ngateway_url = "https://127.0.0.1:{port}/"\n[preflight]\nsystem_resolver = false\ntimeout = 1.0\n'
        )
        os.chmod(path, 0o600)
        (tmp_path / kommunenr).mkdir(mode=0o700)
    for kommunenr in IDS[:25]:  # delivered
        j = jn.Journal(tmp_path / kommunenr)
        j.append(kommunenr * 8, jn.PREPARED, kommunenr=kommunenr, bydel="00", year=2017, persons=10)
        j.append(kommunenr * 8, jn.CONFIRMED, receipt={"receipt_id": f"R-{kommunenr}", "received_at": "2018-01-08T09:00:00+01:00"})
    j = jn.Journal(tmp_path / IDS[29])  # the last one by number: killed while sending
    j.append("f" * 32, jn.PREPARED, kommunenr=IDS[29], bydel="00", year=2017)
    j.append("f" * 32, jn.SENDING)
    return conf


def make_app(conf: Path) -> IplosApp:
    profile, path = select_profile(conf, IDS[0])
    return IplosApp(profile, path, clock=lambda: FROZEN_NOW, fleet_config=conf, initial_mode="board")


async def test_thirty_municipalities_at_80x24_what_needs_a_person_first(tmp_path):
    app = make_app(make_fleet(tmp_path, closed_port()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.screen.rows) == 30)
        table = app.screen.table
        assert table.row_count == 30
        assert table.rows_shown[0].id == IDS[29] and table.rows_shown[0].level == "act"
        detail = str(app.screen.query_one("#board-detail").render())
        assert IDS[29] in detail and table.rows_shown[0].need in detail  # the whole line, not cut
        assert table.region.bottom <= 24 and app.screen.query_one("#board-detail").region.bottom <= 23
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == 29  # scrolls beyond the screen
        assert table.scroll_y > 0
        await pilot.press("ctrl+home")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.profile.kommunenr == IDS[29])
        assert app.current_mode == "board"


async def test_p_runs_the_preflight_for_all_and_the_board_follows(tmp_path):
    app = make_app(make_fleet(tmp_path, closed_port()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.screen.rows) == 30)
        assert all(row.preflight == "none" for row in app.screen.rows)
        await pilot.press("p")
        await wait_until(pilot, lambda: not app.screen.busy and all(row.preflight == "fail" for row in app.screen.rows), limit=120)
        # the five not sent (window open, 7 days left) with a failed preflight: act, with the check named
        undelivered = [row for row in app.screen.rows if row.id in IDS[25:29]]
        assert all(row.need_kind == "preflight_failed" and "tcp" in row.need for row in undelivered)


async def test_question_mark_opens_the_boards_help(tmp_path):
    """`?` on the board too (issue 14 item 10): what the board is for, its keys, closed with Esc."""
    app = make_app(make_fleet(tmp_path, closed_port()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.screen.rows) == 30)
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        purpose = str(app.screen.query_one("#help-purpose").render())
        assert "Enter" in purpose and "help." not in purpose
        keys = " ".join(str(s.render()) for s in app.screen.query("#help-pane-keys Static"))
        assert "p " in keys and "F5" in keys
        assert "F7" in str(app.screen.query_one("#help-title").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.current_mode == "board" and type(app.screen).__name__ == "BoardScreen"


async def test_a_long_name_never_runs_into_the_next_column(tmp_path):
    """0221 Aurskog-Høland and 0106 Fredrikstad fill their column: a gap stays before the next one."""
    import io

    from rich.console import Console

    conf = tmp_path / "conf" / "config.toml"
    (conf.parent / "profiles").mkdir(mode=0o700, parents=True)
    os.chmod(conf.parent, 0o700)
    conf.write_text("")
    os.chmod(conf, 0o600)
    for kommunenr in ("0221", "0106"):
        path = conf.parent / "profiles" / f"{kommunenr}.toml"
        path.write_text(f'[profile]\nkommunenr = "{kommunenr}"\nyear = 2017\n[paths]\nsecure_dir = "{tmp_path / kommunenr}"\n')
        os.chmod(path, 0o600)
        (tmp_path / kommunenr).mkdir(mode=0o700)
    profile, path = select_profile(conf, "0221")
    app = IplosApp(profile, path, clock=lambda: FROZEN_NOW, fleet_config=conf, initial_mode="board")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(app.screen.rows) == 2)
        await pilot.pause()
        console = Console(width=80, height=24, file=io.StringIO(), record=True, legacy_windows=False)
        console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
        lines = [line for line in console.export_text().splitlines() if line[3:7] in ("0221", "0106")]
    assert len(lines) == 2 and all(line[17] == " " for line in lines), lines
