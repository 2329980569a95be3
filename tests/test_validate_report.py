"""`iplos validate --report`: the human report on stdout, the text and CSV report in
<secure_dir>/reports/, counts that match --json, and never a person id."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.support import FNR_CANARY
from extractcraft import bad_check, base_persons, render, write
from iplos_tui.core import config as cfg
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.report import CSV_COLUMNS, DEFAULT_PER_RULE

pytestmark = pytest.mark.timeout(300)


def iplos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iplos_tui", *args], capture_output=True, text=True, env=dict(os.environ), timeout=240)


@pytest.fixture(scope="module")
def with_errors(tmp_path_factory) -> Path:
    """The sandbox's own uttrekk-2017-med-feil.xml."""
    from iplos_tui.sandbox.layout import SandboxDir
    from iplos_tui.sandbox.session import ensure_extracts

    sdir = SandboxDir(tmp_path_factory.mktemp("sb") / "sandbox").ensure()
    _, path = ensure_extracts(sdir)
    assert path.name == "uttrekk-2017-med-feil.xml"
    return path


@pytest.fixture
def config(tmp_path, valid_profile, secure_dir) -> Path:
    path = tmp_path / "config.toml"
    cfg.save_profile(valid_profile, path)
    return path


def _reports(secure_dir: Path) -> tuple[Path, Path]:
    texts = sorted((secure_dir / "reports").glob("validering-*.txt"))
    csvs = sorted((secure_dir / "reports").glob("validering-*.csv"))
    assert len(texts) == len(csvs) == 1, (texts, csvs)
    return texts[0], csvs[0]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8"), newline=""), delimiter=";"))
    assert rows and list(rows[0]) == list(CSV_COLUMNS)
    return rows


def test_report_of_the_sandbox_extract_with_errors_matches_json(with_errors, config, secure_dir):
    as_json = iplos("--config", str(config), "validate", str(with_errors), "--json", "--all")
    assert as_json.returncode == ExitCode.FAILED, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["needs_acceptance"] is True and data["blocks_sending"] is False
    assert sum(data["counts"].values()) == sum(data["by_rule"].values()) == len(data["findings"])

    result = iplos("--config", str(config), "validate", str(with_errors), "--report")
    assert result.returncode == ExitCode.FAILED, result.stderr
    text_path, csv_path = _reports(secure_dir)
    assert str(text_path) in result.stderr and str(csv_path) in result.stderr
    assert stat.S_IMODE(os.stat(secure_dir / "reports").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(text_path).st_mode) == stat.S_IMODE(os.stat(csv_path).st_mode) == 0o600
    text = text_path.read_text(encoding="utf-8")
    assert result.stdout == text  # the same human report on stdout

    # the header: who, what and how
    digest = hashlib.sha256(with_errors.read_bytes()).hexdigest()
    for expected in ("0403 Hamar", "Bydel:", "Rapporteringsår: 2017", "iplos-tui sandbox 1", with_errors.name, digest,
                     f"{with_errors.stat().st_size} byte", f"{data['persons']} (tjenester", "regelkatalog 3", "Dato:"):
        assert expected in text, expected
    assert data["sha256"] == digest and data["size"] == with_errors.stat().st_size
    levels = data["counts"]
    assert f"kritisk {levels['fatal']}, feil {levels['error']}, advarsel {levels['warning']}, info {levels['info']}" in text
    # every rule that fired, with its true count
    for rule, count in data["by_rule"].items():
        assert f" {rule} – " in text and f" – {count} funn" in text, rule

    # the CSV parses back and agrees with --json
    rows = _csv_rows(csv_path)
    per_rule = Counter(row["regel"] for row in rows)
    assert set(per_rule) == set(data["by_rule"])
    for row in rows:
        assert int(row["antall"]) == data["by_rule"][row["regel"]]
        assert row["kommunenr"] == "0403" and row["år"] == "2017" and row["uttrekk_sha256"] == digest
        assert row["nivå"] in ("kritisk", "feil", "advarsel", "info") and row["hva_rette"] and row["melding"]
    for rule, count in data["by_rule"].items():
        assert per_rule[rule] == min(count, DEFAULT_PER_RULE), rule
    json_person_findings = {(f["local_id"], f["rule"], f["line"]) for f in data["findings"] if f["local_id"]}
    csv_person_findings = {(row["lokal_id"], row["regel"], int(row["linje"])) for row in rows if row["lokal_id"]}
    assert csv_person_findings <= json_person_findings and csv_person_findings


def test_stdout_is_the_report_and_all_shows_every_finding(with_errors, tmp_path, valid_profile):
    config = tmp_path / "config.toml"
    cfg.save_profile(valid_profile.replace(secure_dir=with_errors.parent), config)  # the extract lies where it should
    short = iplos("--config", str(config), "validate", str(with_errors))
    everything = iplos("--config", str(config), "validate", str(with_errors), "--all")
    assert short.returncode == everything.returncode == ExitCode.FAILED
    assert short.stderr == "" and everything.stderr == ""  # no diagnostics when nothing goes wrong
    data = json.loads(iplos("--config", str(config), "validate", str(with_errors), "--json", "--all").stdout)
    shown = [line for line in everything.stdout.splitlines() if line.startswith("  - ")]
    assert len(shown) == sum(data["counts"].values())
    assert "--all" in short.stdout and "--all viser alle" not in everything.stdout


def test_no_person_id_in_any_report(tmp_path, config, secure_dir):
    """The canary, as a person id that is valid, mistyped, and duplicated; and in English."""
    persons = base_persons()
    persons[0].person_id = FNR_CANARY
    persons[0].services[0].hours_per_week = "170"  # an error on the canary person
    persons[1].person_id = bad_check(FNR_CANARY)
    third = base_persons()[0]
    third.local_id, third.person_id = "C3", FNR_CANARY  # a duplicate of the canary
    persons.append(third)
    path = write(tmp_path / "canary.xml", render(None, persons))
    outputs = []
    for language in ("nb", "en"):
        for extra in ((), ("--json",)):
            result = iplos("--config", str(config), "--lang", language, "validate", str(path), "--report", "--all", *extra)
            assert result.returncode == ExitCode.FAILED, result.stderr
            outputs += [result.stdout, result.stderr]
    reports = [p.read_bytes().decode("utf-8") for p in (secure_dir / "reports").iterdir()]
    assert len(reports) == 8
    everything = "\n".join(outputs + reports)
    assert "person.duplicate" in everything and "person.id_checksum" in everything
    assert FNR_CANARY not in everything and bad_check(FNR_CANARY) not in everything
    assert FNR_CANARY[:6] + "*****" in everything  # masked, enough to find the record


def test_report_needs_a_profile_and_a_secure_dir(tmp_path, valid_profile, with_errors):
    result = iplos("validate", str(with_errors), "--report")  # no profile set up
    assert result.returncode == ExitCode.USAGE and "iplos config init" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    config = tmp_path / "config.toml"
    cfg.save_profile(valid_profile.replace(secure_dir=tmp_path / "missing"), config)
    result = iplos("--config", str(config), "validate", str(with_errors), "--report")
    assert result.returncode == ExitCode.USAGE and "finnes ikke" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "missing").exists()


def test_an_unreadable_file_gets_a_report_too(tmp_path, config, secure_dir):
    cut = write(tmp_path / "cut.xml", render()[:400])
    result = iplos("--config", str(config), "validate", str(cut), "--report")
    assert result.returncode == ExitCode.USAGE
    text_path, csv_path = _reports(secure_dir)
    text = text_path.read_text(encoding="utf-8")
    assert "kan ikke sendes" in text and "file.truncated" in text and "avkortet" in text
    assert hashlib.sha256(cut.read_bytes()).hexdigest() in text  # the whole file, though reading stopped
    assert [row["regel"] for row in _csv_rows(csv_path)] == ["file.truncated"]


def test_the_pane_writes_the_same_report(with_errors, valid_profile, secure_dir):
    """The Submission pane's key calls core: the same files as `iplos validate --report`."""
    import datetime as dt

    from iplos_tui.core.extract.report import report_for_profile

    made_at = dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    report, written = report_for_profile(with_errors, valid_profile.replace(secure_dir=secure_dir), made_at=made_at)
    assert written.text_path.parent == secure_dir / "reports" and written.text_path.name == "validering-040300-2017-20180108-093000.txt"
    text = written.text_path.read_text(encoding="utf-8")
    assert "0403 Hamar" in text and "Dato:            2018-01-08 09:30 +0100" in text and report.sha256 in text
    rows = _csv_rows(written.csv_path)
    assert {row["regel"] for row in rows} == set(report.by_rule)
    again = report_for_profile(with_errors, valid_profile.replace(secure_dir=secure_dir), made_at=made_at)[1]
    assert again.text_path.name == "validering-040300-2017-20180108-093000-2.txt"  # never overwritten
