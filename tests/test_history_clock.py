"""Issue 14 item 18: once the receipt mail's time has passed on the console's clock (the
sandbox's after F9), the Submission pane no longer says it waits for it."""

from __future__ import annotations

from iplos_tui.app import IplosApp
from iplos_tui.core import journal as jn
from iplos_tui.core.i18n import t
from tests.support import FROZEN_NOW, wait_until

EXPECTED = "2018-01-05T08:00:00+01:00"  # before FROZEN_NOW (8 January 2018)


async def test_a_receipt_mail_time_passed_is_not_waited_for(tmp_path, valid_profile):
    journal = jn.Journal(valid_profile.secure_dir)
    journal.append("a" * 32, jn.PREPARED, kommunenr="0403", bydel="00", year=2017, persons=10)
    journal.append("a" * 32, jn.CONFIRMED, receipt={"receipt_id": "R-1", "received_at": "2018-01-04T09:00:00+01:00", "receipt_mail_expected_at": EXPECTED})
    app = IplosApp(valid_profile, tmp_path / "config.toml", clock=lambda: FROZEN_NOW, initial_mode="submission")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        waiting = t("submit.wait_receipt_mail", at=jn.short_time(EXPECTED))
        due = t("submit.wait_receipt_mail_due", at=jn.short_time(EXPECTED))
        deadlines = str(pane.query_one("#sub-deadlines").render())
        assert waiting not in deadlines and due in deadlines, deadlines
        await pilot.press("f8")
        await wait_until(pilot, lambda: pane.query_one("#sub-history").row_count == 1)
        cells = [str(cell) for cell in pane.query_one("#sub-history").get_row_at(0)]
        assert due in cells and waiting not in cells, cells
