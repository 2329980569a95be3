"""The Preflight pane driven with the keyboard against loopback peers, and its 80x24 snapshot."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from iplos_tui.app import IplosApp
from iplos_tui.core import preflight as pf
from iplos_tui.core.config import load_profile
from iplos_tui.core.i18n import t
from iplos_tui.screens.preflight import demo_results
from iplos_tui.screens.preflight_detail import CheckDetailScreen
from iplos_tui.screens.preflight_detail import detail_text as box_text
from iplos_tui.sandbox.certs import issue_tls_server
from tests.support import FROZEN_NOW
from tests.preflight_servers import LOCAL_NAMES, BlackHole, TlsHttpServer, point_at, resolver_seam, make_test_ca


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("pane-pki"), "pane test CA")


def make_app(tmp_path, profile, **options) -> IplosApp:
    services = {"preflight": {"resolver": resolver_seam(LOCAL_NAMES), "temp_roots": (), **options}}
    return IplosApp(profile, tmp_path / "conf" / "config.toml", clock=lambda: FROZEN_NOW, initial_mode="preflight", services=services)


def cell(screen, row: str, column: str) -> str:
    return str(screen.table.get_cell(row, column))


def detail_text(screen) -> str:
    return box_text(screen.query_one("#preflight-detail-box"))


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def test_run_all_fills_rows_and_details(tmp_path, valid_profile, ca):
    issued, ca_pem = ca
    with TlsHttpServer(issue_tls_server(issued, ["iplos.test", "filsluse.test"]), tmp_path / "srv") as server:
        app = make_app(tmp_path, point_at(valid_profile, ca_pem, server.port))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert "Trykk r" in str(screen.query_one("#preflight-status").render())
            assert cell(screen, "dns", "mark") == "[  ]"
            await pilot.press("r")
            await settle(app, pilot)
            assert not screen.running
            for check_id in ("dns", "tcp", "tls", "http", "clock", "feedback_gateway"):
                assert cell(screen, check_id, "mark") == "[OK]", (check_id, screen.results[check_id])
            assert cell(screen, "spam_allowlist", "mark") == "[??]"
            assert cell(screen, "ssb_certificate", "mark") == "[FEIL]"  # none configured
            assert cell(screen, "dns", "age") == "nå nettopp"
            assert "127.0.0.1" in detail_text(screen)  # the first row is selected
            await pilot.press("down", "down", "down")  # tls
            await pilot.pause()
            assert screen.selected_id() == "tls"
            text = detail_text(screen)
            assert "Bevis:" in text and "subject=" in text and "SNI og navnesjekk: iplos.test" in text
            status = str(screen.query_one("#preflight-status").render())
            assert "feil" in status and "sist kjørt" in status


async def test_rerun_one_only_touches_that_row(tmp_path, valid_profile, ca):
    issued, ca_pem = ca
    with TlsHttpServer(issue_tls_server(issued, ["iplos.test", "filsluse.test"]), tmp_path / "srv") as server:
        clock = {"now": FROZEN_NOW}
        app = make_app(tmp_path, point_at(valid_profile, ca_pem, server.port))
        app._clock = lambda: clock["now"]
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await pilot.press("r")
            await settle(app, pilot)
            handshakes = server.handshakes
            clock["now"] = FROZEN_NOW + dt.timedelta(minutes=10)
            screen._tick_ages()
            assert cell(screen, "tls", "age") == "10 min siden"
            await pilot.press("down", "down", "down", "e")  # re-run tls only
            await settle(app, pilot)
            assert server.handshakes == handshakes + 1
            assert cell(screen, "tls", "age") == "nå nettopp"
            assert cell(screen, "dns", "age") == "10 min siden"  # results stay and keep their age
            await pilot.press("enter")  # Enter shows the whole check; it runs nothing
            await pilot.pause()
            assert isinstance(app.screen, CheckDetailScreen)
            assert server.handshakes == handshakes + 1


async def test_cancel_stops_a_run_into_a_black_hole(tmp_path, valid_profile, ca):
    timeout = 30.0  # the configured check timeout; a broken cancel would wait it out
    _, ca_pem = ca
    with BlackHole() as hole:
        app = make_app(tmp_path, point_at(valid_profile, ca_pem, hole.port, preflight_timeout=timeout))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await pilot.press("r")
            await pilot.pause(0.3)
            assert screen.running and cell(screen, "tcp", "mark") == "[..]"
            assert "c avbryter" in str(screen.query_one("#preflight-status").render())
            await pilot.press("r")  # a second run is refused while one is going
            cancelled = time.monotonic()
            await pilot.press("c")
            await settle(app, pilot)
            # The run ended on the cancel, not on the timeout: well inside it (a generous margin
            # under load), the worker gone, the unfinished rows marked cancelled.
            assert time.monotonic() - cancelled < timeout / 2
            assert not screen.running and screen._cancel is None
            assert not [w for w in app.workers if w.group == "preflight" and not w.is_finished]
            assert screen.results["tcp"].detail == "Avbrutt."
            assert cell(screen, "tcp", "mark") == "[--]"
            assert cell(screen, "profile", "mark") in ("[OK]", "[!!]")  # local checks had finished


async def test_tick_a_manual_item_saves_the_profile(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for _ in range(pf.CHECK_IDS.index("spam_allowlist")):
            await pilot.press("down")
        assert screen.selected_id() == "spam_allowlist"
        await pilot.press("x")
        await pilot.pause()
        assert cell(screen, "spam_allowlist", "mark") == "[OK]"
        assert app.profile.spam_allowlist_confirmed is True
        assert load_profile(tmp_path / "conf" / "config.toml").spam_allowlist_confirmed is True
        await pilot.press("x")
        await pilot.pause()
        assert cell(screen, "spam_allowlist", "mark") == "[??]"
        assert load_profile(tmp_path / "conf" / "config.toml").spam_allowlist_confirmed is False
        await pilot.press("up", "x")  # not a manual item: nothing changes
        await pilot.pause()
        assert app.profile.spam_allowlist_confirmed is False


async def test_report_is_saved_into_the_secure_directory(tmp_path, valid_profile, secure_dir):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.press("s")  # nothing run yet
        await pilot.pause()
        assert not (secure_dir / "reports").exists()
        screen.start(["profile", "secure_dir", "spam_allowlist"])
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        reports = list((secure_dir / "reports").iterdir())
        assert len(reports) == 1
        text = reports[0].read_text(encoding="utf-8")
        assert "[??]   spam_allowlist" in text and "[--]   dns" in text and "Ikke kjørt ennå." in text
        assert any(str(reports[0]) in str(n.message) for n in app._notifications)


async def test_enter_shows_the_whole_check_wrapped_at_80x24(tmp_path, valid_profile):
    """The new rows at 80x24: Enter on a row shows every evidence line and hand command of it,
    wrapped (nothing cut with an ellipsis); Esc goes back to the pane."""
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        screen.show_results(demo_results(), FROZEN_NOW)
        for check_id in ("dns", "tcp"):
            screen.table.move_cursor(row=pf.CHECK_IDS.index(check_id))
            await pilot.press("enter")
            await pilot.pause()
            detail = app.screen
            assert isinstance(detail, CheckDetailScreen)
            text = box_text(detail.query_one("#check-detail-box"))
            result = screen.results[check_id]
            for line in [result.detail, *result.evidence, *result.commands]:
                assert line in text
            assert "…" not in text
            lines = detail.query(".check-line")
            assert all(widget.size.width <= 80 for widget in lines)
            assert any(widget.size.height > 1 for widget in lines) or check_id == "tcp"  # long lines wrap
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is screen
        assert "mtr -T -P 443 91.186.94.110" in " ".join(screen.results["tcp"].commands)


async def test_palette_has_the_pane_actions(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for key in ("run_all", "run_one", "details", "cancel", "tick", "report"):
            assert t(f"preflight.pane.{key}") in titles
        assert not any("creenshot" in title for title in titles)


def test_snapshot_80x24(snap_compare, tmp_path, valid_profile):
    app = IplosApp(valid_profile, tmp_path / "config.toml", clock=lambda: FROZEN_NOW, initial_mode="preflight")

    async def inject(pilot):
        screen = pilot.app.screen
        screen.show_results(demo_results(), FROZEN_NOW - dt.timedelta(minutes=2))  # fixed: no ports, no timings
        await pilot.press("down", "down")  # the failing tcp row: its hint and evidence below
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=inject)
