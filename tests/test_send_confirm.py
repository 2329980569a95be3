"""The Submission pane's send confirmation (dialogs/send_confirm.py), driven by the keyboard:
issue 13 item 2 (the extract with errors is sent only by a deliberate choice, never by Enter;
a fatal extract is refused with the reason; a warning-only extract sends as usual), issue 14
item 3 (the summary first, the parts summarised and scrollable, fitting at 80x24 and 60x20) and
item 7 (a re-send names the earlier receipt and its date, and Enter does not send)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from submit_world import PIN_CANARY, World

from iplos_tui.app import IplosApp
from tests.support import wait_until as _wait

pytestmark = pytest.mark.timeout(300)


def screen_text(app) -> str:
    """What the terminal shows, as plain text (the compositor's output, as a screenshot)."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True, legacy_windows=False, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def inside(widget, app) -> bool:
    region = widget.region
    return region.width > 0 and region.height > 0 and region.right <= app.size.width and region.bottom <= app.size.height


async def _settled(pilot, app, dialog):
    """The dialog sizes its body to the terminal after mount; on a loaded machine that layout may
    come a few frames later. Wait for it (bounded), then the asserts below say what does not fit."""
    widgets = lambda: (*dialog.query("Button"), dialog.query_one("#confirm-pin"))  # noqa: E731
    try:
        await _wait(pilot, lambda: all(inside(widget, app) for widget in widgets()), limit=10.0)
    except AssertionError:
        pass  # reported by the caller's asserts, with the regions


async def _open(pilot, app, path):
    pane = app.screen
    pane.query_one("#sub-path").value = str(path)
    pane.query_one("#sub-log").focus()
    pane.last_result = None
    await pilot.press("f6")
    await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend" or pane.last_result is not None)
    await pilot.pause()
    return pane


async def _result(pilot, app, pane):
    await _wait(pilot, lambda: app.screen is pane and pane.last_result is not None and not pane.running)
    await pilot.pause(0.2)  # the drain timer flushes the log
    return pane.last_result


def _sandbox_app(session) -> IplosApp:
    return IplosApp(session.profile, session.config_path, sandbox=session, clock=session.now, initial_mode="submission")


# --- issue 13 item 2 -------------------------------------------------------------------------


async def test_the_extract_with_errors_is_sent_from_the_pane_only_after_the_deliberate_choice(tmp_path):
    from test_sandbox_accept_errors import feilliste

    from iplos_tui.core.extract.validate import validate_file
    from iplos_tui.core.journal import Journal
    from iplos_tui.core.preparation import levels_text
    from iplos_tui.sandbox.session import planted_errors, start_session

    with start_session(tmp_path / "sandbox") as session:
        path = session.extract_with_errors_path
        counts = dict(validate_file(path, year=session.profile.year).counts)
        assert counts["error"] > 0 and counts["fatal"] == 0
        app = _sandbox_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await _open(pilot, app, path)
            text = screen_text(app)
            assert levels_text(counts) in text  # counts per level
            assert "tilbakemeldingen" in text and "21.3.2018" in text, text
            assert app.focused is not None and app.focused.id == "confirm-no"  # the default does not send
            await pilot.press("enter")
            first = await _result(pilot, app, pane)
            assert first.state == "not-sent" and not first.ok

            pane = await _open(pilot, app, path)
            await pilot.press("j")  # the deliberate choice: «Send med feil»
            sent = await _result(pilot, app, pane)
            assert sent.ok and sent.state == "confirmed", sent.message
        sub = Journal(session.profile.secure_dir).get(sent.submission_id)
        assert sub is not None and sub.accepted_levels == counts  # the journal records what was accepted
        session.advance_clock()
        rows = feilliste(session.server)
        planted = planted_errors(session.server.dir)
        assert planted and {(row["lokal_id"], row["regel"]) for row in rows} == {(p.local_id, p.rule) for p in planted}


async def test_a_fatal_extract_is_refused_on_the_pane_with_the_reason(tmp_path):
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.sandbox.session import start_session

    with start_session(tmp_path / "sandbox") as session:
        other = session.profile.secure_dir / "uttrekk-annen-kommune.xml"
        generate_file(other, persons=20, kommunenr="0301", bydel="00", year=session.profile.year)
        app = _sandbox_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await _open(pilot, app, other)
            result = await _result(pilot, app, pane)
            assert not result.ok and type(app.screen).__name__ == "SubmissionScreen"  # no confirmation was offered
            log = " ".join(pane.query_one("#sub-log").lines)
            assert "0301" in log and session.profile.kommunenr in log  # the reason
        assert session.server.world.pending_deliveries() == []


async def test_a_warning_only_extract_sends_with_the_normal_confirmation(tmp_path):
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.sandbox.session import start_session

    with start_session(tmp_path / "sandbox") as session:
        profile = session.profile
        warned = profile.secure_dir / "uttrekk-advarsel.xml"
        generate_file(warned, persons=30, seed=5, kommunenr=profile.kommunenr, bydel=profile.bydel, year=profile.year,
                      orgnr=profile.orgnr, header_errors=("header.produced_at",))
        app = _sandbox_app(session)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = await _open(pilot, app, warned)
            assert "Send med feil" not in screen_text(app)
            assert app.focused is not None and app.focused.id == "confirm-send"
            await pilot.press("enter")
            result = await _result(pilot, app, pane)
            assert result.ok and result.state == "confirmed", result.message


# --- issue 14 items 3 and 7 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_parts(tmp_path_factory):
    """An extract of about 40 parts of 64 KiB (the smallest part size) and a Sendemodul."""
    w = World(tmp_path_factory.mktemp("parts"), persons=3300, part_size=64 * 1024)
    yield w
    w.close()


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_the_summary_comes_first_and_the_parts_scroll_below(many_parts, size):
    app = IplosApp(many_parts.profile, many_parts.config, initial_mode="submission", services={"sendemodul_client": many_parts.client_factory()})
    async with app.run_test(size=size) as pilot:
        pane = await _open(pilot, app, many_parts.extract)
        dialog = app.screen
        assert type(dialog).__name__ == "ConfirmSend"
        summary = dialog.request.summary
        parts = len(summary["parts"])
        assert parts >= 35
        await _settled(pilot, app, dialog)
        for widget in (*dialog.query("Button"), dialog.query_one("#confirm-pin")):
            assert inside(widget, app), (widget.id, widget.region, size)
        text = screen_text(app)
        assert "Kommune 0403" in text and f"{parts} krypterte deler" in text  # the parts in one line
        last = summary["parts"][-1][0]
        assert last not in text  # the list is below the summary ...
        if size == (80, 24):  # ... and at 80x24 every fact of the summary shows at once
            assert "Mottaker SSB" in text and "Mottaker TPF" in text and "Sendes til" in text, text
        body = dialog.query_one("#send-body")
        body.scroll_end(animate=False)
        await _wait(pilot, lambda: last in screen_text(app))  # ... and scrolls to its end
        await pilot.press("escape")
        assert (await _result(pilot, app, pane)).state == "not-sent"


async def test_a_re_send_names_the_earlier_receipt_and_its_date_and_enter_does_not_send(tmp_path):
    from iplos_tui.core.journal import short_time

    world = World(tmp_path, persons=60)
    try:
        first = world.run(PIN_CANARY)
        assert first.state == "confirmed"
        receipt = first.receipt["receipt_id"]
        app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.screen
            pane.query_one("#sub-path").value = str(world.extract)
            pane.query_one("#sub-log").focus()
            for attempt in ("enter", "j"):
                pane.last_result = None
                pane.action_send_again()  # the palette's «Send på nytt likevel»
                await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
                await pilot.pause()
                text = screen_text(app)
                summary = app.screen.query_one("#send-summary")
                assert receipt in text and inside(summary, app), text  # the earlier receipt, on screen at once
                assert short_time(first.receipt["received_at"]) in " ".join(str(summary.render()).split())  # and its date
                await pilot.press(*PIN_CANARY, "enter")  # the PIN, then Enter: never a send
                if attempt == "enter":
                    await pilot.press("enter")
                    result = await _result(pilot, app, pane)
                    assert result.state == "not-sent"
                else:
                    await pilot.press("j")  # the deliberate choice
                    result = await _result(pilot, app, pane)
                    assert result.ok and result.state == "confirmed" and result.receipt["receipt_id"] != receipt
        assert len(world.server.committed()) == 2
    finally:
        world.close()


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_errors_are_sent_by_tabbing_to_send_with_errors_and_the_dialog_fits(tmp_path, size):
    """The deliberate choice by Tab and Enter on «Send med feil» (not only its letter), at both sizes."""
    from iplos_tui.core.journal import Journal

    world = World(tmp_path, persons=60)
    try:
        text = world.extract.read_text("utf-8").replace('hoursPerWeek="', 'hoursPerWeek="9', 3)
        world.extract.write_text(text, "utf-8")
        app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})
        async with app.run_test(size=size) as pilot:
            pane = await _open(pilot, app, world.extract)
            dialog = app.screen
            await _settled(pilot, app, dialog)
            for widget in (*dialog.query("Button"), dialog.query_one("#confirm-pin")):
                assert inside(widget, app), (widget.id, widget.region, size)
            assert "Send med feil" in screen_text(app)
            await pilot.press(*PIN_CANARY, "enter")  # Enter takes the PIN and moves to «Ikke send»
            assert app.screen is dialog and app.focused.id == "confirm-no"
            await pilot.press("tab")
            assert "Send med feil" in str(app.focused.label)
            await pilot.press("enter")
            result = await _result(pilot, app, pane)
            assert result.ok and result.state == "confirmed", result.message
            sub = Journal(world.secure).get(result.submission_id)
            assert sub is not None and sub.accepted_levels == sub.levels and sub.levels["error"] > 0
            assert PIN_CANARY not in screen_text(app)
    finally:
        world.close()


async def test_in_english_a_re_send_with_errors_says_so_in_english_and_enter_does_not_send(tmp_path):
    from iplos_tui.core import i18n

    world = World(tmp_path, persons=60)
    try:
        assert world.run(PIN_CANARY).state == "confirmed"
        text = world.extract.read_text("utf-8").replace('hoursPerWeek="', 'hoursPerWeek="9', 3)
        world.extract.write_text(text, "utf-8")
        i18n.set_language("en")
        app = IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})
        async with app.run_test(size=(80, 24)) as pilot:
            pane = app.screen
            pane.query_one("#sub-path").value = str(world.extract)
            pane.query_one("#sub-log").focus()
            pane.last_result = None
            pane.action_send_again()
            await _wait(pilot, lambda: type(app.screen).__name__ == "ConfirmSend")
            await pilot.pause()
            shown = " ".join(screen_text(app).split())
            for words in ("Send again anyway?", "The period was already delivered", "corrections are due by", "Send again with errors",
                          "Do not send", "Enter does not send"):
                assert words in shown, (words, shown)
            assert not any(word in shown for word in ("Ikke send", "Kommune", "Perioden", "feil"))
            await pilot.press(*PIN_CANARY, "enter", "enter")
            assert (await _result(pilot, app, pane)).state == "not-sent"
        assert len(world.server.committed()) == 1
    finally:
        world.close()
