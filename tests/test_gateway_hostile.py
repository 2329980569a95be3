"""A hostile gateway on loopback TLS against `iplos feedback fetch` as a real process (issue 11:
items 5, 6, 8, 9 and the download half of 12): bombs, drips, floods, lying ids and names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from fault_gateway import FOLDER
from tests.support.cli import child_env, iplos_command, run_iplos, run_measured
from tests.support.gateway import DripServer, wait_for, write_gateway_config

from iplos_tui.core.exitcodes import ExitCode

MiB = 1024 * 1024
PASSWORD = "Anything1x"


@pytest.fixture
def config_for(tmp_path, valid_profile, tls):
    def make(url: str, **changes: object) -> Path:
        return write_gateway_config(tmp_path / "conf" / "config.toml", valid_profile, url, tls, **changes)

    return make


def fetch(config: Path, *args: str, measured: bool = False, timeout: float = 60):
    runner = run_measured if measured else run_iplos
    return runner(config, "feedback", "fetch", "--password-stdin", *args, stdin=PASSWORD + "\n", timeout=timeout)


def one_clear_line(result) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, result.stderr  # the message and perhaps a hint, nothing else
    return result.stderr


def name_for(day: int, kommune: str = "0403") -> str:
    return f"{kommune}00_iplos_tilbakemelding_201702{day:02d}.zip"


# ---- item 5: decompression bomb ------------------------------------------------------------------

def test_a_gzip_bomb_token_answer_is_refused_without_decoding_it(faults, config_for):
    faults.token_mode = "bomb"
    result = fetch(config_for(faults.url), measured=True)
    assert result.returncode == ExitCode.NETWORK
    text = one_clear_line(result)
    assert "gzip" in text
    assert result.peak_rss < 150 * MiB, f"the child peaked at {result.peak_rss // MiB} MiB"
    assert faults.calls["accept-encoding:identity"] == 1  # asked for no encoding at all


# ---- item 6: deadlines -------------------------------------------------------------------------

def test_a_dripping_token_answer_hits_the_request_deadline(faults, config_for):
    faults.token_mode = "drip"
    result = fetch(config_for(faults.url, gateway_request_timeout=2.0), timeout=40)
    assert result.returncode == ExitCode.NETWORK
    assert "2 s" in one_clear_line(result)
    assert faults.calls["drip"] < 60  # stopped after ~2 s of drip, not at the 60 s child timeout


def test_dripping_headers_hit_the_request_deadline(tls, config_for):
    server = DripServer(tls, b"HTTP/1.1 200 OK\r\n", b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", interval=0.2)
    try:
        result = fetch(config_for(server.url, gateway_request_timeout=2.0), timeout=40)
    finally:
        server.close()
    assert result.returncode == ExitCode.NETWORK
    one_clear_line(result)
    assert server.bytes_sent < 60


def test_the_whole_fetch_has_a_deadline_and_says_what_it_got(faults, config_for):
    for day in (1, 2, 3, 4):
        faults.add(str(day), name_for(day), b"z" * 20, fault="slow")  # ~1 s each
    result = fetch(config_for(faults.url, gateway_fetch_timeout=2.5), "--json", timeout=40)
    assert result.returncode == ExitCode.NETWORK
    out = json.loads(result.stdout)
    statuses = [f["status"] for f in out["files"]]
    assert "downloaded" in statuses and statuses.count("downloaded") < 4
    assert "2.5 s" in result.stderr or "2,5 s" in result.stderr
    assert "Traceback" not in result.stderr


# ---- item 8: only our names, caps per fetch -----------------------------------------------------

def test_junk_and_other_municipalities_files_are_not_stored(faults, config_for, valid_profile):
    for number in range(300):
        faults.add(str(1000 + number), f"junk-{number}.bin", os.urandom(64))
    faults.add("2000", name_for(7, kommune="0301"), b"another municipality")
    faults.add("2001", name_for(7), b"ours")
    result = fetch(config_for(faults.url), "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    out = json.loads(result.stdout)
    assert [f["name"] for f in out["files"] if f["status"] == "downloaded"] == [name_for(7)]
    assert sorted(os.listdir(valid_profile.secure_dir / "feedback")) == [name_for(7)]
    skipped = [f for f in out["files"] if f["status"] == "skipped"]
    assert len(skipped) == 301 and all(f["reason"] for f in skipped)
    assert faults.calls["download"] == 1 and faults.calls["patch"] == 1  # the others stay new there
    human = fetch(config_for(faults.url))
    assert "301" in human.stderr  # a person is told how many were left, and why


def test_files_and_bytes_per_fetch_are_capped(faults, config_for, valid_profile):
    for day in (1, 2, 3):
        faults.add(str(day), name_for(day), bytes([day]) * 1000)
    out = json.loads(fetch(config_for(faults.url, gateway_max_files=2), "--json").stdout)
    assert [f["status"] for f in out["files"]].count("downloaded") == 2
    assert [f["reason"] for f in out["files"] if f["status"] == "skipped"] == ["max_files"]
    for path in (valid_profile.secure_dir / "feedback").iterdir():
        path.unlink()
    out = json.loads(fetch(config_for(faults.url, gateway_max_bytes=1500), "--all", "--json").stdout)
    assert [f["status"] for f in out["files"]].count("downloaded") == 1
    assert {f["reason"] for f in out["files"] if f["status"] == "skipped"} == {"max_bytes"}


# ---- item 9: a whole string is checked as a whole -----------------------------------------------

def test_a_trailing_newline_in_an_id_or_a_name_is_refused_and_the_rest_still_fetched(faults, config_for, valid_profile):
    faults.add("3", name_for(3), b"good one")
    faults.extra_items.append({"id": "1000\n", "name": name_for(4), "size": 5, "folderID": FOLDER, "isNew": True})
    faults.add("5", name_for(5) + "\n", b"newline name")
    result = fetch(config_for(faults.url), "--json")
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert [f["name"] for f in out["files"] if f["status"] == "downloaded"] == [name_for(3)]
    assert sorted(os.listdir(valid_profile.secure_dir / "feedback")) == [name_for(3)]
    assert faults.files["5"].is_new  # never marked as seen: the operator still gets to see it


# ---- item 12: SIGKILL during a download ---------------------------------------------------------

def test_sigkill_during_a_download_leaves_no_temp_file_after_the_next_run(faults, config_for, valid_profile):
    faults.add("9", name_for(9), b"y" * 400, fault="slow")  # 20 s of drip
    config = config_for(faults.url)
    folder = valid_profile.secure_dir / "feedback"
    child = subprocess.Popen(iplos_command(config, "feedback", "fetch", "--password-stdin"), stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    child.stdin.write(f"{PASSWORD}\n".encode())
    child.stdin.close()
    try:
        wait_for(lambda: folder.is_dir() and any(p.name.startswith(".iplos-tmp") for p in folder.iterdir()))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    listed = run_iplos(config, "feedback", "list", "--json")
    assert listed.returncode == ExitCode.OK
    assert os.listdir(folder) == []
