"""`iplos validate` and `iplos sandbox generate` as an API: JSON on stdout, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from extractcraft import PID_A, bad_check, base_persons, render, write
from iplos_tui.core import config as cfg
from iplos_tui.core.exitcodes import ExitCode

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "uttrekk-eksempel.xml"
KEYS = {"ok", "blocks_sending", "needs_acceptance", "persons", "services", "refusals", "counts", "by_rule", "findings", "findings_omitted", "fatal"}
FINDING_KEYS = {"rule", "level", "local_id", "line", "field", "value", "message"}


def iplos(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iplos_tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_clean_extract_exits_0(tmp_path):
    result = iplos("validate", str(EXAMPLE), "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    report = json.loads(result.stdout)
    assert KEYS <= set(report)
    assert report["ok"] is True and report["counts"]["error"] == 0 and report["fatal"] is None
    assert {f["level"] for f in report["findings"]} <= {"info"}
    assert (report["persons"], report["services"], report["refusals"]) == (5, 9, 2)
    assert "kan sendes" in result.stderr  # the verdict as a diagnostic beside the JSON
    human = iplos("validate", str(EXAMPLE))
    assert human.returncode == ExitCode.OK and "Resultat" not in human.stderr  # stderr: only where the file lies
    assert "Resultat: kan sendes" in human.stdout and "Funn: kritisk 0, feil 0, advarsel 0, info 11" in human.stdout


def test_errors_exit_1_with_capped_findings(tmp_path):
    path = tmp_path / "errors.xml"
    made = iplos("sandbox", "generate", "--persons", "400", "--seed", "9", "--error-rate", "0.25",
                 "-o", str(path), "--planted", str(tmp_path / "planted.jsonl"), "--json")
    assert made.returncode == ExitCode.OK, made.stderr
    summary = json.loads(made.stdout)
    planted = [json.loads(line) for line in (tmp_path / "planted.jsonl").read_text().splitlines()]
    assert summary["planted"] == len(planted) > 0

    result = iplos("validate", str(path), "--json", "--max-findings", "5")
    assert result.returncode == ExitCode.FAILED, result.stderr
    report = json.loads(result.stdout)
    counts = report["counts"]
    assert report["ok"] is False and report["needs_acceptance"] is True and report["blocks_sending"] is False
    assert len(report["findings"]) == 5
    assert report["findings_omitted"] == sum(counts.values()) - 5
    assert sum(report["by_rule"].values()) == sum(counts.values())
    assert counts["error"] + counts["warning"] == len(planted) and counts["fatal"] == 0
    for finding in report["findings"]:
        assert set(finding) == FINDING_KEYS and finding["level"] == "error"  # the most serious kept
    assert "--accept-errors" in result.stderr
    human = iplos("validate", str(path))
    assert human.returncode == ExitCode.FAILED and "--accept-errors" in human.stdout and "[FEIL]" in human.stdout

    everything = json.loads(iplos("validate", str(path), "--json", "--max-findings", "100000").stdout)
    found = sorted((f["local_id"], f["rule"]) for f in everything["findings"] if f["level"] != "info")
    assert found == sorted((p["local_id"], p["rule"]) for p in planted)


def test_warnings_only_exit_0(tmp_path):
    persons = base_persons()
    persons[0].services[0].decision_date = "2016-12-05"  # after start: a warning
    result = iplos("validate", str(write(tmp_path / "w.xml", render(None, persons))), "--json")
    assert result.returncode == ExitCode.OK
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["counts"]["warning"] == 1 and report["counts"]["error"] == 0
    assert [f["rule"] for f in report["findings"] if f["level"] == "warning"] == ["service.decision_after_start"]


def test_unreadable_exits_2(tmp_path):
    truncated = write(tmp_path / "cut.xml", render()[:400])
    result = iplos("validate", str(truncated), "--json")
    assert result.returncode == ExitCode.USAGE
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["fatal"]["rule"] == "file.truncated"
    assert "avkortet" in result.stderr

    missing = iplos("validate", str(tmp_path / "nope.xml"))
    assert missing.returncode == ExitCode.USAGE and "finnes ikke" in missing.stderr and missing.stdout == ""

    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    assert iplos("validate", str(fifo)).returncode == ExitCode.USAGE  # and does not hang


def test_usage_errors_exit_2(tmp_path):
    assert iplos("validate").returncode == ExitCode.USAGE
    bad_year = iplos("validate", str(EXAMPLE), "--year", "1999")
    assert bad_year.returncode == ExitCode.USAGE and "1999" in bad_year.stderr and "Traceback" not in bad_year.stderr
    assert iplos("sandbox", "generate", "--persons", "3").returncode == ExitCode.USAGE  # no -o
    assert iplos("sandbox", "generate", "--persons", "3", "--kommunenr", "0000", "-o", str(tmp_path / "x.xml")).returncode == ExitCode.USAGE
    assert iplos("sandbox", "generate", "--persons", "3", "--error-rate", "2", "-o", str(tmp_path / "x.xml")).returncode == ExitCode.USAGE
    assert iplos("sandbox").returncode == ExitCode.USAGE


def test_year_option(tmp_path):
    result = iplos("validate", str(EXAMPLE), "--json", "--year", "2018")
    assert result.returncode == ExitCode.FAILED
    assert "header.year" in json.loads(result.stdout)["by_rule"]


def test_profile_kommunenr_must_match(tmp_path, valid_profile):
    config = tmp_path / "config.toml"
    valid_profile.kommunenr = "0301"
    cfg.save_profile(valid_profile, config)
    result = iplos("--config", str(config), "validate", str(EXAMPLE), "--json")
    assert result.returncode == ExitCode.FAILED
    report = json.loads(result.stdout)
    assert report["blocks_sending"] is True and report["counts"]["fatal"] == report["by_rule"]["header.kommunenr_profile"] == 1
    assert "kan ikke sendes" in result.stderr
    valid_profile.kommunenr = "0403"
    cfg.save_profile(valid_profile, config)
    assert iplos("--config", str(config), "validate", str(EXAMPLE)).returncode == ExitCode.OK


def test_generate_uses_the_profile(tmp_path, valid_profile):
    config = tmp_path / "config.toml"
    valid_profile.kommunenr, valid_profile.bydel = "0301", "03"
    cfg.save_profile(valid_profile, config)
    out = tmp_path / "oslo.xml"
    made = iplos("--config", str(config), "sandbox", "generate", "--persons", "50", "-o", str(out), "--json")
    assert made.returncode == ExitCode.OK, made.stderr
    assert json.loads(made.stdout)["kommunenr"] == "0301"
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert iplos("--config", str(config), "validate", str(out)).returncode == ExitCode.OK


def test_person_ids_never_printed_in_full(tmp_path):
    persons = base_persons()
    persons[0].person_id = bad_check(PID_A)
    persons[1].person_id = PID_A
    persons.append(base_persons()[0])  # PID_A again: a duplicate
    path = write(tmp_path / "ids.xml", render(None, persons))
    result = iplos("validate", str(path), "--json")
    assert result.returncode == ExitCode.FAILED
    output = result.stdout + result.stderr
    assert not re.search(r"\d{11}", output)
    assert PID_A[:6] + "*****" in output


def test_english(tmp_path):
    result = iplos("--lang", "en", "validate", str(EXAMPLE))
    assert result.returncode == ExitCode.OK and "can be sent" in result.stdout and "What to fix" in result.stdout
