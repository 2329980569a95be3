"""The Submission pane's two extract keys, driven by the keyboard: `s` writes the vendor report of
the extract in the path field, `m` compares it with the extract last sent (both call core)."""

from __future__ import annotations

import pytest
from submit_world import PIN_CANARY, World

from iplos_tui.app import IplosApp
from tests.support import wait_until as _wait

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=120)
    yield w
    w.close()


def _app(world: World) -> IplosApp:
    return IplosApp(world.profile, world.config, initial_mode="submission", services={"sendemodul_client": world.client_factory()})


def _log(pane) -> str:
    return "\n".join(pane.query_one("#sub-log").lines)


async def _key_on(pilot, pane, path, key: str) -> None:
    pane.query_one("#sub-path").value = str(path)
    pane.query_one("#sub-log").focus()  # letters type into the path field while it has the focus
    await pilot.press(key)


async def test_s_writes_the_report_into_the_secure_folder(world):
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        await _key_on(pilot, pane, world.extract, "s")
        await _wait(pilot, lambda: "Rapporten er skrevet" in _log(pane))
        texts = list((world.secure / "reports").glob("validering-040300-2017-*.txt"))
        csvs = list((world.secure / "reports").glob("validering-040300-2017-*.csv"))
        assert len(texts) == len(csvs) == 1 and str(texts[0]) in _log(pane).replace("\n", "")
        report = texts[0].read_text(encoding="utf-8")
        assert "0403 Hamar" in report and "Resultat: kan sendes" in report
        assert not any(fnr in report for fnr in world.fnrs)  # person ids never in the report
        assert not pane.running  # a report is no run: F5/F6 stay free


async def test_m_compares_with_the_extract_last_sent(world):
    from iplos_tui.core.extract.generator import generate_file

    corrected = world.secure / "uttrekk-rettet.xml"
    generate_file(corrected, persons=120, kommunenr="0403", year=2017, error_rate=0.2, seed=4)
    app = _app(world)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        await _key_on(pilot, pane, corrected, "m")
        await _wait(pilot, lambda: "Ingen tidligere bekreftet innsending" in _log(pane))
        assert world.run(PIN_CANARY).state == "confirmed"  # the first extract is sent
        await _key_on(pilot, pane, corrected, "m")
        await _wait(pilot, lambda: "Sammenligning: uttrekk-rettet.xml" in _log(pane))
        await pilot.pause(0.3)
        log = _log(pane)
        assert world.extract.name in log and "Nye (" in log and "Fortsatt" in log
        # the first extract had no errors, the corrected one has: every error row says "before 0"
        rows = [line.split() for line in pane.query_one("#sub-log").lines if " feil " in line and line.split()[1:2] == ["feil"]]
        assert rows and all(row[2] == "0" and int(row[3]) > 0 for row in rows)
        assert max(len(line) for line in pane.query_one("#sub-log").lines) <= 78  # fits the log at 80 columns
