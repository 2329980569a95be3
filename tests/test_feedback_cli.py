"""`iplos feedback list|show|export|fetch` as a real process: JSON shapes, exit codes, nothing leaked or left."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys

import pytest
from zipcraft import FEEDBACK_NAME, FEILLISTE, KONTROLL, PIN, aes_zip

from iplos_tui.core import config as cfg
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.sandbox.gateway import Gateway

USER = "postmottak@hamar.kommune.no"
GW_PASSWORD = "Filsluse7pass"
FNR = "01017012345"
FILES = {"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": KONTROLL}


def iplos(config, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    return subprocess.run(
        [sys.executable, "-m", "iplos_tui", "--config", str(config), "feedback", *args],
        capture_output=True, text=True, input=stdin, timeout=60, env=env,
    )


def assert_no_leak(result, *secrets):
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr


@pytest.fixture
def feedback_zip(valid_profile):
    folder = valid_profile.secure_dir / "feedback"
    folder.mkdir(mode=0o700)
    path = folder / FEEDBACK_NAME
    path.write_bytes(aes_zip(FILES))
    return path


def test_show_json_shape(config, feedback_zip):
    result = iplos(config, "show", str(feedback_zip), "--json", "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {"zip", "kommunenr", "bydel", "date", "entries"}
    assert (out["zip"], out["kommunenr"], out["bydel"], out["date"]) == (FEEDBACK_NAME, "0403", "00", "2017-02-07")
    assert out["entries"] == [
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "rows": data.count(b"\n") - 1}
        for name, data in FILES.items()
    ]
    assert_no_leak(result, PIN, FNR)


def test_show_entry_json_is_masked_and_counted(config, feedback_zip):
    result = iplos(config, "show", str(feedback_zip), "--entry", "feilliste.csv", "--json", "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    out = json.loads(result.stdout)
    assert out["header"] == ["lokal_id", "regel", "alvorlighet", "felt", "verdi", "melding"]
    assert len(out["rows"]) == 3 and out["rows"][1][1] == "F014"
    assert out["counts"] == {"rule": {"F014": 2, "F001": 1}, "severity": {"advarsel": 2, "feil": 1}}
    assert_no_leak(result, PIN, FNR)


def test_show_human_output_with_hostile_cells(config, valid_profile):
    folder = valid_profile.secure_dir / "feedback"
    folder.mkdir(mode=0o700)
    evil = "a;b\n\"\x1b]0;pwned\x07\x1b[2J[red]x[/]\";\x9b\u202e" + "Z" * 100_000 + "\n"
    path = folder / FEEDBACK_NAME
    path.write_bytes(aes_zip({"\x1b[31mfeil.csv": evil.encode("utf-8")}))
    result = iplos(config, "show", str(path), "--entry", "\x1b[31mfeil.csv", "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    assert "\x9b" not in result.stdout and "\u202e" not in result.stdout
    assert "[red]x[/]" in result.stdout and max(len(line) for line in result.stdout.splitlines()) < 200
    assert_no_leak(result, PIN)


def test_wrong_pin_exit_4_and_one_message(config, feedback_zip):
    result = iplos(config, "show", str(feedback_zip), "--json", "--pin-stdin", stdin="feil-PIN-123\n")
    assert result.returncode == ExitCode.AUTH
    assert result.stdout == "" and "feil passord eller skadet fil" in result.stderr.lower()


def test_damaged_zip_is_the_same_message(config, feedback_zip):
    data = bytearray(feedback_zip.read_bytes())
    data[80] ^= 0xFF
    feedback_zip.write_bytes(bytes(data))
    result = iplos(config, "show", str(feedback_zip), "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.AUTH and "feil passord eller skadet fil" in result.stderr.lower()


def test_refused_zip_exit_1_before_any_pin(config, valid_profile):
    folder = valid_profile.secure_dir / "feedback"
    folder.mkdir(mode=0o700)
    bad = folder / FEEDBACK_NAME
    bad.write_bytes(aes_zip({"../../etc/x.csv": b"1"}))
    result = iplos(config, "show", str(bad), "--json")  # no --pin-stdin, no tty: never asked
    assert result.returncode == ExitCode.FAILED and "avvist" in result.stderr
    other = folder / "030100_iplos_tilbakemelding_20170207.zip"
    other.write_bytes(aes_zip(FILES))
    result = iplos(config, "show", str(other), "--json")
    assert result.returncode == ExitCode.FAILED and "0301" in result.stderr


def test_no_pin_without_tty_is_usage(config, feedback_zip):
    result = iplos(config, "show", str(feedback_zip), stdin="")
    assert result.returncode == ExitCode.USAGE and "--pin-stdin" in result.stderr


def test_missing_zip_is_usage(config, tmp_path):
    result = iplos(config, "show", str(tmp_path / FEEDBACK_NAME), "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.USAGE


def test_export_inside_only(config, feedback_zip, valid_profile, tmp_path):
    outside = tmp_path / "outside"
    result = iplos(config, "export", str(feedback_zip), "--to", str(outside), "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.USAGE and not outside.exists()
    target = valid_profile.secure_dir / "feedback" / "040300_20170207"
    result = iplos(config, "export", str(feedback_zip), "--to", str(target), "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout.split() == [str(target / name) for name in FILES]
    assert (target / "feilliste.csv").read_bytes() == FEILLISTE
    assert_no_leak(result, PIN)


def test_export_of_a_damaged_zip_writes_nothing(config, feedback_zip, valid_profile):
    data = bytearray(feedback_zip.read_bytes())
    data[len(data) // 2] ^= 0x01
    feedback_zip.write_bytes(bytes(data))
    target = valid_profile.secure_dir / "ut"
    result = iplos(config, "export", str(feedback_zip), "--to", str(target), "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode in (ExitCode.AUTH, ExitCode.FAILED)
    assert not target.exists()


def test_list_json(config, feedback_zip, valid_profile):
    (feedback_zip.parent / "030100_iplos_tilbakemelding_20170101.zip").write_bytes(b"x")
    result = iplos(config, "list", "--json")
    assert result.returncode == ExitCode.OK
    out = json.loads(result.stdout)
    assert out["dir"] == str(feedback_zip.parent)
    assert {z["name"]: z["matches_profile"] for z in out["zips"]} == {FEEDBACK_NAME: True, "030100_iplos_tilbakemelding_20170101.zip": False}
    human = iplos(config, "list")
    assert human.returncode == ExitCode.OK and FEEDBACK_NAME in human.stdout


# ---- fetch ---------------------------------------------------------------------------------------

@pytest.fixture
def gateway(gateway_server, tmp_path, valid_profile, tls, config):
    holder, running = gateway_server
    gw = Gateway(tmp_path / "gw")
    gw.add_user(USER, GW_PASSWORD)
    holder.target = gw.app
    cfg.save_profile(valid_profile.replace(gateway_url=running.url, gateway_user=USER, gateway_ca_bundle=tls.ca), config)
    return gw


def test_fetch_downloads_verifies_and_marks(config, gateway, valid_profile):
    data = aes_zip(FILES)
    gateway.put_file(USER, FEEDBACK_NAME, data)
    gateway.put_file(USER, "../../\x1b]0;x\x07evil.zip", b"not a zip")
    result = iplos(config, "fetch", "--json", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    out = json.loads(result.stdout)
    assert sorted(f["status"] for f in out["files"]) == ["downloaded", "skipped"]
    fetched = next(f for f in out["files"] if f["status"] == "downloaded")
    assert os.path.basename(fetched["path"]) == FEEDBACK_NAME and fetched["matches_profile"] is True
    assert fetched["sha1"] == hashlib.sha1(data).hexdigest()
    hostile = next(f for f in out["files"] if f["status"] == "skipped")
    assert hostile["path"] is None and hostile["reason"] == "not_feedback_name" and "\x1b" not in hostile["name"]
    folder = valid_profile.secure_dir / "feedback"
    assert (folder / FEEDBACK_NAME).read_bytes() == data
    assert [f.is_new for f in gateway.list_user_files(USER) if f.name == FEEDBACK_NAME] == [False]
    again = iplos(config, "fetch", "--json", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert again.returncode == ExitCode.OK and [f["status"] for f in json.loads(again.stdout)["files"]] == ["skipped"]
    everything = iplos(config, "fetch", "--all", "--delete", "--json", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert sorted(f["status"] for f in json.loads(everything.stdout)["files"]) == ["present", "skipped"]
    assert [f.name for f in gateway.list_user_files(USER)] == ["../../\x1b]0;x\x07evil.zip"]  # left for the operator
    shown = iplos(config, "show", str(folder / FEEDBACK_NAME), "--json", "--pin-stdin", stdin=PIN + "\n")
    assert shown.returncode == ExitCode.OK
    assert_no_leak(result, GW_PASSWORD, PIN)


def test_fetch_wrong_password_exit_4(config, gateway):
    result = iplos(config, "fetch", "--password-stdin", stdin="Wrong7pass\n")
    assert result.returncode == ExitCode.AUTH and "Wrong7pass" not in result.stderr


def test_fetch_password_change_from_second_line(config, gateway):
    gateway.add_user(USER, GW_PASSWORD, force_change_password=True)
    result = iplos(config, "fetch", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert result.returncode == ExitCode.AUTH
    weak = iplos(config, "fetch", "--password-stdin", stdin=f"{GW_PASSWORD}\nhamar1234\n")
    assert weak.returncode == ExitCode.USAGE
    ok = iplos(config, "fetch", "--password-stdin", stdin=f"{GW_PASSWORD}\nNytt9passord\n")
    assert ok.returncode == ExitCode.OK, ok.stderr
    assert_no_leak(ok, GW_PASSWORD, "Nytt9passord")


def test_fetch_unreachable_gateway_exit_3(config, valid_profile, tls):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg.save_profile(valid_profile.replace(gateway_url=f"https://127.0.0.1:{port}", gateway_user=USER, gateway_ca_bundle=tls.ca), config)
    result = iplos(config, "fetch", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert result.returncode == ExitCode.NETWORK


def test_fetch_into_a_foreign_feedback_dir_is_a_clear_error(config, gateway, valid_profile):
    gateway.put_file(USER, FEEDBACK_NAME, b"zip")
    folder = valid_profile.secure_dir / "feedback"
    folder.symlink_to(valid_profile.secure_dir.parent)  # not a private directory of ours
    result = iplos(config, "fetch", "--password-stdin", stdin=GW_PASSWORD + "\n")
    assert result.returncode == ExitCode.USAGE and "Traceback" not in result.stderr
    assert [p.name for p in valid_profile.secure_dir.parent.iterdir() if p.name.endswith(".zip")] == []


def test_list_and_fetch_agree_on_which_files_match_the_profile(config, gateway, valid_profile, gateway_server, tls):
    """One rule (issue 12 item 1): `list --json` and `fetch --json` give the same answer for the
    same file, also when the profile leaves the bydel empty (it then means "00")."""
    _holder, running = gateway_server
    gateway.put_file(USER, FEEDBACK_NAME, aes_zip(FILES))
    unset = valid_profile.replace(bydel="", gateway_url=running.url, gateway_user=USER, gateway_ca_bundle=tls.ca)
    cfg.save_profile(unset, config)
    fetched = json.loads(iplos(config, "fetch", "--all", "--json", "--password-stdin", stdin=GW_PASSWORD + "\n").stdout)
    listed = json.loads(iplos(config, "list", "--json").stdout)
    by_fetch = {os.path.basename(f["path"]): f["matches_profile"] for f in fetched["files"] if f["path"]}
    by_list = {z["name"]: z["matches_profile"] for z in listed["zips"]}
    assert by_fetch == by_list == {FEEDBACK_NAME: True}
