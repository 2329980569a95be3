"""`iplos sandbox serve` / `advance-clock` as real processes, the in-process session, the clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.sandbox_upload import client_for, send_envelope, session
from tests.support import ctrl_c_as_at_a_terminal

pytestmark = pytest.mark.timeout(120)


def _iplos(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iplos_tui", *args], capture_output=True, text=True, timeout=60, **kwargs)


class _Remote:
    """What a test needs of a server in another process (the fields sandbox_upload uses)."""

    def __init__(self, info: dict, directory: Path) -> None:
        from iplos_tui.core.secrets import Secret
        from iplos_tui.sandbox.layout import SandboxDir

        self.info = info
        self.sendemodul_url = info["sendemodul_url"]
        self.ca_bundle = Path(info["ca_bundle"])
        sdir = SandboxDir(directory)
        self.account = sdir.account()
        self.pin = Secret(sdir.pin_file.read_text().strip())


def _envelope(tmp_path: Path, directory: Path, persons: int = 20) -> Path:
    from iplos_tui.core.config import load_profile
    from iplos_tui.core.envelope import EnvelopeParams, encrypt_extract

    profile = load_profile(directory / "config.toml")
    out = tmp_path / f"envelope-{uuid.uuid4().hex[:6]}"
    encrypt_extract(profile.secure_dir / "uttrekk-2017.xml", out, profile.ssb_certificate, profile.tpf_certificate,
                    EnvelopeParams.from_profile(profile))
    return out


def test_serve_prints_one_json_line_and_never_the_pin(tmp_path):
    directory = tmp_path / "sb"
    errors = tmp_path / "serve.err"
    with open(errors, "w") as err_file:
        process = subprocess.Popen([sys.executable, "-m", "iplos_tui", "sandbox", "serve", "--dir", str(directory)],
                                   stdout=subprocess.PIPE, stderr=err_file, text=True, preexec_fn=ctrl_c_as_at_a_terminal)
    try:
        line = process.stdout.readline()
        assert line, errors.read_text()
        info = json.loads(line)
        assert set(info) >= {"sendemodul_url", "gateway_url", "ca_bundle", "certificates", "account", "profile", "pin_file"}
        assert info["sendemodul_url"].startswith("https://127.0.0.1:") and info["sendemodul_url"].endswith("/Sendemodul/")
        assert info["account"] == {"kommunenr": "0403", "bydel": "00", "orgnr": info["account"]["orgnr"], "name": "Hamar kommune (sandkasse)"}
        pin_file = Path(info["pin_file"])
        assert stat.S_IMODE(pin_file.stat().st_mode) == 0o600
        pin = pin_file.read_text().strip()
        assert pin not in line

        from iplos_tui.core.config import load_profile

        profile = load_profile(Path(info["profile"]))
        # The profile names the Sendemodul (the sandbox's DNS answers the name) and connects to
        # the address it listens on.
        assert profile.sendemodul_url == info["sendemodul_url"].replace("127.0.0.1", info["sendemodul_name"])
        assert profile.sendemodul_connect_address == "127.0.0.1" and profile.preflight_nameservers == [info["dns_server"]]
        assert profile.sendemodul_ca_bundle == Path(info["ca_bundle"])
        assert profile.ssb_certificate == Path(info["certificates"]["ssb"])
        assert (profile.secure_dir / "uttrekk-2017.xml").exists()

        remote = _Remote(info, directory)
        key = str(uuid.uuid4())
        with client_for(remote) as client:
            send_envelope(client, session(client, remote), key, _envelope(tmp_path, directory))

        # Another process moves the clock; the serving process delivers.
        deadline = time.monotonic() + 30
        while not (directory / "ssb" / key / "result.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        moved = _iplos("sandbox", "advance-clock", "--dir", str(directory), "--json")
        assert moved.returncode == 0, moved.stderr
        outcome = json.loads(moved.stdout)
        assert outcome["server_running"] is True
        assert [d["key"] for d in outcome["delivered"]] == [key]
        assert outcome["clock"].startswith("2018-01-09T08:00")
        assert len(list((directory / "mail").glob("*.eml"))) == 2
    finally:
        signals = " ".join(line for line in Path(f"/proc/{process.pid}/status").read_text().splitlines() if line.startswith(("SigIgn", "SigBlk")))
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=60)  # a bound against a hung test, not a speed
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise AssertionError(f"sandbox serve did not stop on Ctrl-C ({signals}); its stderr: {errors.read_text()[-2000:]}") from None
    err = errors.read_text()
    assert process.returncode == 0, err
    assert pin not in out + err
    assert not (directory / "server.json").exists()


def test_advance_clock_without_a_server_processes_and_delivers(tmp_path):
    from iplos_tui.sandbox.server import SandboxServer

    directory = tmp_path / "sb"
    with SandboxServer(directory, process=False) as server:  # committed, but nobody processes it
        from iplos_tui.sandbox.session import ensure_extracts

        ensure_extracts(server.dir)
        key = str(uuid.uuid4())
        with client_for(server) as client:
            send_envelope(client, session(client, server), key, _envelope(tmp_path, directory))
    moved = _iplos("sandbox", "advance-clock", "--dir", str(directory), "--json")
    assert moved.returncode == 0, moved.stderr
    outcome = json.loads(moved.stdout)
    assert outcome["server_running"] is False
    assert [d["key"] for d in outcome["delivered"]] == [key]
    from iplos_tui.sandbox.gateway import Gateway

    files = Gateway(directory / "gateway").list_user_files(server.gateway_username)
    assert [f.name for f in files] == [outcome["delivered"][0]["feedback_zip"]]
    again = _iplos("sandbox", "advance-clock", "--dir", str(directory), "--hours", "1", "--json")
    assert json.loads(again.stdout)["delivered"] == []


def test_advance_clock_refuses_a_directory_without_a_sandbox(tmp_path):
    moved = _iplos("sandbox", "advance-clock", "--dir", str(tmp_path / "nothing"))
    assert moved.returncode == 2
    assert "iplos sandbox serve" in moved.stderr


def test_session_runs_in_process_with_profile_extract_and_pin(tmp_path):
    from iplos_tui.core.config import load_profile
    from iplos_tui.core.extract.validate import validate_file
    from iplos_tui.core.secrets import Secret
    from iplos_tui.sandbox.session import start_session

    session_ = start_session(tmp_path / "sb")
    try:
        assert isinstance(session_.pin, Secret) and "***" in repr(session_.pin)
        profile = load_profile(session_.config_path)
        assert profile.sendemodul_url == session_.profile.sendemodul_url
        assert session_.extract_path.parent == profile.secure_dir
        report = validate_file(session_.extract_path, year=2017, profile_kommunenr="0403", profile_bydel="00")
        assert report.ok and report.persons == 1000 and report.counts["error"] == report.counts["warning"] == 0
        assert not validate_file(session_.extract_with_errors_path, year=2017).ok
        assert session_.advance_clock() == []
        assert session_.now().hour == 8
    finally:
        session_.stop()
    # Stopped: the clock stands still, and a restart on the same directory reuses everything.
    frozen = json.loads((tmp_path / "sb" / "clock.json").read_text())
    assert frozen["running"] is False
    stopped_at = session_.now()
    time.sleep(0.05)
    assert session_.now() == stopped_at
    again = start_session(tmp_path / "sb")
    try:
        assert again.pin == session_.pin
        assert again.now() >= stopped_at
    finally:
        again.stop()


def test_session_default_directory_is_under_user_data(isolated_home):
    from iplos_tui.sandbox.layout import default_dir

    assert str(default_dir()).startswith(str(isolated_home))
    assert default_dir().name == "sandbox"


# --- the clock ---------------------------------------------------------------------------------


def test_next_working_day_skips_weekends_and_holidays():
    from iplos_tui.sandbox.clock import OSLO, is_working_day, next_working_day_at, public_holidays

    assert next_working_day_at(dt.datetime(2018, 1, 8, 9, 31, tzinfo=OSLO)) == dt.datetime(2018, 1, 9, 8, 0, tzinfo=OSLO)
    assert next_working_day_at(dt.datetime(2018, 1, 12, 15, 0, tzinfo=OSLO)).date() == dt.date(2018, 1, 15)  # Fri -> Mon
    assert next_working_day_at(dt.datetime(2017, 12, 29, 12, 0, tzinfo=OSLO)).date() == dt.date(2018, 1, 2)  # New Year
    assert next_working_day_at(dt.datetime(2018, 3, 28, 12, 0, tzinfo=OSLO)).date() == dt.date(2018, 4, 3)  # Easter 2018
    assert dt.date(2018, 5, 17) in public_holidays(2018) and dt.date(2018, 5, 10) in public_holidays(2018)  # Ascension
    assert not is_working_day(dt.date(2018, 5, 21))  # Whit Monday
    assert next_working_day_at(dt.datetime(2018, 1, 8, 23, 59, tzinfo=dt.timezone.utc)).date() == dt.date(2018, 1, 10)


def test_clock_state_is_shared_through_its_file(tmp_path):
    from iplos_tui.sandbox.clock import SandboxClock

    first = SandboxClock(tmp_path / "clock.json")
    second = SandboxClock(tmp_path / "clock.json")
    before = second.now()
    first.advance(3600)
    assert 3599 <= (second.now() - before).total_seconds() <= 3601
    with pytest.raises(ValueError):
        first.advance(-1)
    os.chmod(tmp_path / "clock.json", 0o600)


def test_an_old_sandbox_renews_its_certificates(tmp_path):
    from iplos_tui.sandbox.layout import SandboxDir

    sdir = SandboxDir(tmp_path / "sb").ensure()
    pin, tls, ca = sdir.pin_file.read_text(), sdir.tls_cert.read_bytes(), sdir.ca_bundle.read_bytes()
    SandboxDir(tmp_path / "sb").ensure()
    assert sdir.tls_cert.read_bytes() == tls  # nothing changes while young
    old = time.time() - 301 * 86400
    os.utime(sdir.tls_cert, (old, old))
    SandboxDir(tmp_path / "sb").ensure()
    assert sdir.tls_cert.read_bytes() != tls
    assert sdir.ca_bundle.read_bytes() == ca and sdir.pin_file.read_text() == pin
