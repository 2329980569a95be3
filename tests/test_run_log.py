"""The Submission pane's live log at 80 columns (issue 14 items 1 and 2): long lines wrap with an
indented continuation and lose nothing; the log keeps following new lines after a terminal resize
unless the operator scrolled up on purpose."""

from __future__ import annotations

from textual.app import App, ComposeResult

from iplos_tui.widgets.run_log import CONTINUATION, RunLog

LONG = "✗ " + " ".join(f"ord{n:03d}" for n in range(60)) + " /sikker/mappe/uttrekk-2017-med-feil.xml"


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunLog(max_lines=500, id="log")


async def test_a_long_line_wraps_with_an_indented_continuation():
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(RunLog)
        log.write_lines([LONG, "✓ kort linje"])
        await pilot.pause()
        shown = log.shown_lines
        width = log.scrollable_content_region.width
        assert len(shown) > 2 and all(len(line) <= width for line in shown), shown
        assert shown[0].startswith("✗ ord000") and all(line.startswith(CONTINUATION) for line in shown[1:-1])
        assert " ".join(line.strip() for line in shown[:-1]) == LONG.strip()  # nothing lost
        assert shown[-1] == "✓ kort linje"
        assert log.lines == [LONG, "✓ kort linje"]  # what was written, unwrapped
        await pilot.resize_terminal(120, 24)
        await pilot.pause()
        assert len(log.shown_lines) < len(shown)  # wrapped anew for the wider log
        assert " ".join(line.strip() for line in log.shown_lines[:-1]) == LONG.strip()


async def test_the_log_keeps_following_after_a_resize():
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(RunLog)
        log.write_lines([f"linje {n}" for n in range(100)])
        await pilot.pause()
        assert log.is_vertical_scroll_end
        await pilot.resize_terminal(80, 12)  # smaller: the end moved down
        await pilot.pause()
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.resize_terminal(80, 20)
        await pilot.pause()
        log.write_lines(["kvittering IPLOS-2018-000001"])
        await pilot.pause()
        assert log.is_vertical_scroll_end and log.scroll_y > 0
        assert log.shown_lines[-1] == "kvittering IPLOS-2018-000001"


async def test_the_log_stays_where_the_operator_scrolled_to():
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(RunLog)
        log.write_lines([f"linje {n}" for n in range(100)])
        await pilot.pause()
        log.scroll_to(y=10, animate=False, immediate=True)
        await pilot.pause()
        await pilot.resize_terminal(80, 16)
        await pilot.pause()
        log.write_lines(["ny linje"])
        await pilot.pause()
        assert not log.is_vertical_scroll_end and log.scroll_y == 10
        log.scroll_end(animate=False, immediate=True)  # back at the end: it follows again
        await pilot.pause()
        log.write_lines(["enda en"])
        await pilot.pause()
        assert log.is_vertical_scroll_end
