"""The board's data (core/fleet/board.py) and `iplos fleet status`: per municipality the
preflight, the last submission and its receipt, accepted findings, the receipt mail, feedback and
the deadline, sorted so that what needs a person comes first. Journals, reports and records are
real files written by the console's own writers."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from iplos_tui import cli
from iplos_tui.core import journal as jn
from iplos_tui.core.fleet import seen
from iplos_tui.core.fleet.board import ACT, DONE, SOON, WATCH, build_board, cells
from iplos_tui.core.profiles import load_fleet

TZ = dt.timezone(dt.timedelta(hours=1))
IN_WINDOW = dt.datetime(2018, 1, 8, 9, 30, tzinfo=TZ)  # 7 days left of the 2017 window


class Result:
    """What record_preflight reads of a result (the preflight's CheckResult has these too)."""

    def __init__(self, check_id: str, status: str) -> None:
        self.id, self.status = check_id, status


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, 0o600)


def make_fleet(tmp_path: Path, ids: list[str]) -> Path:
    conf = tmp_path / "conf" / "config.toml"
    _write(conf, f'[paths]\nsecure_dir = "{tmp_path / "template"}"\n')
    for kommunenr in ids:
        _write(conf.parent / "profiles" / f"{kommunenr}.toml", f'[profile]\nkommunenr = "{kommunenr}"\nyear = 2017\n[paths]\nsecure_dir = "{tmp_path / ("s" + kommunenr)}"\n')
        (tmp_path / ("s" + kommunenr)).mkdir(mode=0o700)
    return conf


def journal(tmp_path: Path, kommunenr: str) -> jn.Journal:
    return jn.Journal(tmp_path / ("s" + kommunenr))


def submit(j: jn.Journal, sub_id: str, kommunenr: str, *states: tuple[str, dict]) -> None:
    j.append(sub_id, jn.PREPARED, kommunenr=kommunenr, bydel="00", year=2017, persons=5000, extract_sha256="ab" * 32)
    for state, fields in states:
        j.append(sub_id, state, **fields)


def confirmed(receipt_id: str, mail_at: str = "2018-01-09T08:00:00+01:00") -> tuple[str, dict]:
    return jn.CONFIRMED, {"receipt": {"receipt_id": receipt_id, "received_at": "2018-01-08T09:00:00+01:00", "receipt_mail_expected_at": mail_at}}


def rows_by_id(conf: Path, now: dt.datetime = IN_WINDOW) -> dict:
    return {row.id: row for row in build_board(load_fleet(conf), now)}


def test_a_mixed_fleet_is_sorted_what_needs_a_person_first(tmp_path):
    conf = make_fleet(tmp_path, ["0402", "0403", "0412", "0415", "0417", "0418", "0419", "0420", "0423"])
    submit(journal(tmp_path, "0403"), "a" * 32, "0403", (jn.ENCRYPTED, {}), (jn.SENDING, {}))  # killed while sending
    submit(journal(tmp_path, "0412"), "b" * 32, "0412", (jn.FAILED_SAFE, {"reason": "sperret til 10:15", "reason_code": "locked"}))
    submit(journal(tmp_path, "0415"), "c" * 32, "0415", confirmed("R-0415"))
    submit(journal(tmp_path, "0417"), "d" * 32, "0417", confirmed("R-0417", mail_at="2018-01-05T08:00:00+01:00"))
    seen.record_preflight(tmp_path / "s0418", [Result("tcp", "fail"), Result("dns", "pass")], IN_WINDOW - dt.timedelta(hours=2))
    seen.record_gateway(tmp_path / "s0419", 2, IN_WINDOW - dt.timedelta(hours=1))
    submit(journal(tmp_path, "0419"), "e" * 32, "0419", confirmed("R-0419"))
    submit(journal(tmp_path, "0420"), "f" * 32, "0420", (jn.FAILED_SAFE, {"reason": "avvist", "reason_code": "rejected"}))
    # 0423 has nothing at all; 0402: its profile file is broken
    (conf.parent / "profiles" / "0402.toml").write_text("[profile\n")
    rows = build_board(load_fleet(conf), IN_WINDOW)
    order = [row.id for row in rows]
    by_id = {row.id: row for row in rows}
    assert by_id["0402"].level == ACT and by_id["0402"].need_kind == "profile" and "0402.toml" in by_id["0402"].problem
    assert by_id["0403"].level == ACT and by_id["0403"].need_kind == "unresolved" and by_id["0403"].unresolved == 1
    assert by_id["0412"].need_kind == "locked" and "10:15" in by_id["0412"].need
    assert by_id["0420"].need_kind == "not_sent_failed" and by_id["0420"].level == SOON
    assert by_id["0423"].need_kind == "not_sent" and by_id["0423"].level == SOON and by_id["0423"].days_left == 7
    assert by_id["0418"].need_kind == "preflight_failed" and by_id["0418"].preflight_failed == ["tcp"]
    assert by_id["0419"].need_kind == "feedback_new" and by_id["0419"].feedback_gateway_new == 2
    assert by_id["0417"].need_kind == "receipt_mail_overdue" and by_id["0417"].receipt_id == "R-0417"
    assert by_id["0415"].level == WATCH and by_id["0415"].need_kind == "receipt_mail"
    assert order == ["0402", "0403", "0412", "0418", "0420", "0423", "0419", "0417", "0415"]
    # every level sorted before the next: what needs a person comes first
    levels = [row.level for row in rows]
    assert levels == sorted(levels, key=[ACT, SOON, WATCH, DONE].index)


def test_nothing_sent_with_three_days_left_is_act_and_after_the_window_too(tmp_path):
    conf = make_fleet(tmp_path, ["0403"])
    assert rows_by_id(conf, dt.datetime(2018, 1, 12, 9, 0, tzinfo=TZ))["0403"].level == ACT
    late = rows_by_id(conf, dt.datetime(2018, 2, 1, 9, 0, tzinfo=TZ))["0403"]
    assert (late.level, late.deadline, late.deadline_date) == (ACT, "corrections", "2018-03-21")
    early = rows_by_id(conf, dt.datetime(2017, 12, 4, 9, 0, tzinfo=TZ))["0403"]
    assert (early.deadline, early.need_kind, early.level) == ("window_opens", "preflight_first", WATCH)
    seen.record_preflight(tmp_path / "s0403", [Result("tcp", "pass")], dt.datetime(2017, 12, 3, 7, 0, tzinfo=TZ))
    ready = rows_by_id(conf, dt.datetime(2017, 12, 4, 9, 0, tzinfo=TZ))["0403"]
    assert (ready.need_kind, ready.preflight, ready.preflight_age_days) == ("waiting_window", "pass", 1)


def test_preflight_state_and_age_come_from_the_newest_saved_report(tmp_path):
    from iplos_tui.core import preflight as pf
    from iplos_tui.core.config import Profile

    conf = make_fleet(tmp_path, ["0403"])
    profile = Profile(kommunenr="0403", secure_dir=tmp_path / "s0403")
    results = [
        pf.CheckResult("dns", "DNS", pf.PASS, "ok"),
        pf.CheckResult("tcp", "TCP", pf.FAIL, "timeout"),
        pf.CheckResult("tls", "TLS", pf.SKIP, "-"),
    ]
    pf.write_report(results[:1], profile, generated_at=IN_WINDOW - dt.timedelta(days=5), host="h")
    pf.write_report(results, profile, generated_at=IN_WINDOW - dt.timedelta(days=2), host="h")
    row = rows_by_id(conf)["0403"]
    assert (row.preflight, row.preflight_age_days, row.preflight_failed) == ("fail", 2, ["tcp"])
    # a later run's record wins over an older report
    seen.record_preflight(tmp_path / "s0403", [Result("tcp", "pass")], IN_WINDOW - dt.timedelta(hours=1))
    assert rows_by_id(conf)["0403"].preflight == "pass"


def test_reports_in_english_are_read_back_too(tmp_path):
    from iplos_tui.core import i18n
    from iplos_tui.core import preflight as pf
    from iplos_tui.core.config import Profile

    conf = make_fleet(tmp_path, ["0403"])
    i18n.set_language("en")
    pf.write_report([pf.CheckResult("tcp", "TCP", pf.WARN, "slow")], Profile(kommunenr="0403", secure_dir=tmp_path / "s0403"), generated_at=IN_WINDOW, host="h")
    i18n.set_language("nb")
    assert rows_by_id(conf)["0403"].preflight == "warn"


def test_accepted_findings_and_the_receipt_are_shown(tmp_path):
    conf = make_fleet(tmp_path, ["0403"])
    submit(journal(tmp_path, "0403"), "a" * 32, "0403", (jn.ENCRYPTED, {"accepted_levels": {"error": 12, "warning": 30}}), confirmed("R-1"))
    row = rows_by_id(conf)["0403"]
    assert row.receipt_id == "R-1" and row.persons == 5000
    cell = cells(row)
    assert cell["submission"] and cell["deadline"] == "7d"
    assert row.accepted == {"error": 12, "warning": 30}
    assert "12" in cell["accepted"] and "30" in cell["accepted"]


def test_a_journal_of_another_period_does_not_count(tmp_path):
    conf = make_fleet(tmp_path, ["0403"])
    j = journal(tmp_path, "0403")
    j.append("x" * 32, jn.PREPARED, kommunenr="0403", bydel="00", year=2016)
    j.append("x" * 32, jn.CONFIRMED, receipt={"receipt_id": "R-2016"})
    row = rows_by_id(conf)["0403"]
    assert row.submission == "none" and row.receipt_id == ""


def test_an_unreadable_journal_is_that_rows_problem_the_others_go_on(tmp_path):
    conf = make_fleet(tmp_path, ["0403", "0417"])
    submit(journal(tmp_path, "0403"), "a" * 32, "0403", confirmed("R-1"))
    os.chmod(tmp_path / "s0403" / jn.JOURNAL_FILE, 0o644)
    rows = rows_by_id(conf)
    assert rows["0403"].level == ACT and rows["0403"].problem
    assert rows["0417"].problem == ""


def test_a_record_tampered_with_is_ignored_not_trusted(tmp_path):
    conf = make_fleet(tmp_path, ["0403"])
    path = seen.record_gateway(tmp_path / "s0403", 1, IN_WINDOW)
    path.write_text(json.dumps({"at": "2018-01-08T09:00:00+01:00", "new_files": True}))
    assert rows_by_id(conf)["0403"].feedback_gateway_new is None
    path.write_text("[" * 100000)
    assert rows_by_id(conf)["0403"].feedback_gateway_new is None


def test_fleet_status_prints_the_board_and_exits_1_when_something_needs_action(tmp_path, capsys, monkeypatch):
    conf = make_fleet(tmp_path, ["0403", "0417"])
    submit(journal(tmp_path, "0417"), "a" * 32, "0417", (jn.SENDING, {}))
    code = cli.main(["--config", str(conf), "fleet", "status", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [row["id"] for row in data["profiles"]][0] == "0417"
    assert data["profiles"][0]["level"] == "act" and data["counts"]["act"] >= 1
    assert cli.main(["--config", str(conf), "fleet", "status"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 2 and lines[0].split()[1] == "0417"
    assert "2" in captured.err  # the summary line counts the municipalities
    assert cli.main(["--config", str(conf), "--profile", "0403", "fleet", "status", "--json"]) == 0  # the 2017 round is over: nothing to do
    assert [row["id"] for row in json.loads(capsys.readouterr().out)["profiles"]] == ["0403"]


@pytest.mark.parametrize("lang", ["nb", "en"])
def test_fleet_status_text_lines_fit_their_columns(tmp_path, capsys, lang):
    conf = make_fleet(tmp_path, ["0403"])
    submit(journal(tmp_path, "0403"), "a" * 32, "0403", confirmed("R-1"))
    cli.main(["--lang", lang, "--config", str(conf), "fleet", "status"])
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(("· ", "✓ ")) and "0403" in line and "R-1" not in line[:60]


def test_fleet_status_as_a_monitoring_plugin(tmp_path, capsys):
    conf = make_fleet(tmp_path, ["0403", "0417", "0418"])
    # nothing needs a person (the 2017 round is over in real time): OK
    assert cli.main(["--config", str(conf), "fleet", "status", "--format", "nagios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("IPLOS FLEET OK - ") and "profiles=3;;;0" in out[0]
    seen.record_gateway(tmp_path / "s0418", 1, dt.datetime.now().astimezone())
    assert cli.main(["--config", str(conf), "fleet", "status", "--format", "nagios"]) == 1
    assert capsys.readouterr().out.startswith("IPLOS FLEET WARNING - 1")
    submit(journal(tmp_path, "0417"), "a" * 32, "0417", (jn.SENDING, {"reason": "x | y"}))
    assert cli.main(["--config", str(conf), "fleet", "status", "--format", "nagios"]) == 2
    line = capsys.readouterr().out.strip()
    assert line.startswith("IPLOS FLEET CRITICAL - 1") and "0417" in line
    text, perf = line.split(" | ")  # exactly one "|": the perfdata
    assert "act=1;;;0" in perf and "soon=1;;;0" in perf
    (conf.parent / "profiles").chmod(0o755)  # the fleet cannot be read: UNKNOWN, on stdout
    assert cli.main(["--config", str(conf), "fleet", "status", "--format", "nagios"]) == 3
    captured = capsys.readouterr()
    assert captured.out.startswith("IPLOS FLEET UNKNOWN - ") and "chmod 700" in captured.out


def test_a_whole_preflight_run_of_the_cli_is_what_the_board_shows(tmp_path, capsys):
    from tests.preflight_servers import closed_port

    conf = make_fleet(tmp_path, ["0403"])
    port = closed_port()  # loopback only: the checks fail fast, nothing leaves this machine
    with open(conf.parent / "profiles" / "0403.toml", "a") as handle:
        handle.write(
            f'[sendemodul]\nurl = "https://127.0.0.1:{port}/Sendemodul/"\nexpected_address = "127.0.0.1"\n'
            f'[feedback]\ngateway_url = "https://127.0.0.1:{port}/"\n[preflight]\nsystem_resolver = false\n'
        )
    code = cli.main(["--config", str(conf), "--profile", "0403", "preflight", "--format", "nagios", "--timeout", "0.5"])
    assert code in (1, 2)  # no real Sendemodul here: a failing check, never an error
    row = rows_by_id(conf, dt.datetime.now().astimezone())["0403"]
    assert row.preflight in ("fail", "warn") and row.preflight_age_days == 0
    assert os.stat(tmp_path / "s0403" / "fleet" / "preflight.json").st_mode & 0o777 == 0o600
