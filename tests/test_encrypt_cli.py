"""`iplos encrypt` and `iplos keys show` as an API: stdout data, stderr messages, exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from iplos_tui.core import envelope
from iplos_tui.core.config import Profile, save_profile
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.sandbox import certs

NOT_BEFORE = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)


def iplos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iplos_tui", "--lang", "en", *args],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=120,
    )


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    ca = certs.make_ca()
    ssb = certs.issue_recipient(ca, "SSB IPLOS test", not_before=NOT_BEFORE)
    tpf = certs.issue_recipient(ca, "TPF IPLOS test", not_before=NOT_BEFORE)
    ssb.write(root / "ssb.pem")
    (root / "tpf.der").write_bytes(tpf.cert_der())
    extract = root / "extract.xml"
    generate_file(extract, persons=120, seed=2, kommunenr="0403", year=2017)
    return {"root": root, "ssb": ssb, "tpf": tpf, "extract": extract}


@pytest.fixture
def config(tmp_path, secure_dir, material):
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(mode=0o700)
    profile = Profile(
        kommunenr="0403",
        bydel="00",
        year=2017,
        contact_email="iplos@hamar.kommune.no",
        contact_mobile="91234567",
        secure_dir=secure_dir,
        ssb_certificate=material["root"] / "ssb.pem",
        tpf_certificate=material["root"] / "tpf.der",
        part_size=4096,
    )
    save_profile(profile, path)
    return path


def test_encrypt_with_profile_defaults(config, secure_dir, material):
    result = iplos("--config", str(config), "encrypt", str(material["extract"]))
    assert result.returncode == ExitCode.OK, result.stderr
    manifest_path = Path(result.stdout.strip())
    assert manifest_path.name == "manifest.json"
    assert manifest_path.parent.parent == secure_dir / "envelopes"
    manifest = envelope.load_manifest(manifest_path.parent)
    assert len(manifest.content_parts) > 3  # the profile's part size
    assert manifest.contact_email == "iplos@hamar.kommune.no"
    assert envelope.verify_envelope(manifest_path.parent) == []
    assert "120 persons" in result.stderr


def test_encrypt_json_prints_the_manifest(config, tmp_path, material):
    out = tmp_path / "env"
    result = iplos("--config", str(config), "encrypt", str(material["extract"]), "--out", str(out), "--part-size", "1M", "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads((out / "manifest.json").read_text())
    assert data["content"]["parts"] == 1
    assert data["certificates"]["tpf"]["sha256"] == material["tpf"].fingerprint_sha256()


def test_encrypt_without_config_uses_arguments_and_header(tmp_path, material):
    out = tmp_path / "env"
    result = iplos(
        "encrypt", str(material["extract"]), "--out", str(out),
        "--ssb-cert", str(material["root"] / "ssb.pem"), "--tpf-cert", str(material["root"] / "tpf.der"),
    )
    assert result.returncode == ExitCode.OK, result.stderr
    assert envelope.load_manifest(out).year == 2017


@pytest.mark.parametrize(
    "extra, code, fragment",
    [
        (["--part-size", "12x"], ExitCode.USAGE, "not a size"),
        (["--part-size", "10"], ExitCode.USAGE, "part size"),
        (["--ssb-cert", "/nonexistent.pem"], ExitCode.USAGE, "does not exist"),
    ],
)
def test_encrypt_usage_errors(config, tmp_path, material, extra, code, fragment):
    result = iplos("--config", str(config), "encrypt", str(material["extract"]), "--out", str(tmp_path / "env"), *extra)
    assert result.returncode == code
    assert fragment in result.stderr and result.stdout == ""
    assert not (tmp_path / "env").exists()


def test_encrypt_refuses_bad_certificate(config, tmp_path, material):
    ca = certs.make_ca()
    old = certs.issue_recipient(ca, "old", not_before=NOT_BEFORE, not_after=dt.datetime(2017, 12, 31, tzinfo=dt.timezone.utc))
    old.write(tmp_path / "old.pem")
    result = iplos("--config", str(config), "encrypt", str(material["extract"]), "--out", str(tmp_path / "env"), "--ssb-cert", str(tmp_path / "old.pem"))
    assert result.returncode == ExitCode.FAILED
    assert "expired" in result.stderr and "clock" in result.stderr
    assert not (tmp_path / "env").exists()


def test_encrypt_broken_extract(config, tmp_path, material):
    broken = tmp_path / "broken.xml"
    broken.write_bytes(material["extract"].read_bytes()[:3000])
    result = iplos("--config", str(config), "encrypt", str(broken), "--out", str(tmp_path / "env"))
    assert result.returncode == ExitCode.FAILED
    assert not (tmp_path / "env").exists()
    missing = iplos("--config", str(config), "encrypt", str(tmp_path / "nope.xml"), "--out", str(tmp_path / "env"))
    assert missing.returncode == ExitCode.USAGE


def test_keys_show(config, material):
    result = iplos("--config", str(config), "keys", "show")
    assert result.returncode == ExitCode.OK, result.stderr
    assert "SSB" in result.stdout and "TPF" in result.stdout
    assert "RSA 2048" in result.stdout
    assert "Usable for encryption for 2017." in result.stdout
    data = json.loads(iplos("--config", str(config), "keys", "show", "--json").stdout)
    assert data["ok"] is True and [c["role"] for c in data["certificates"]] == ["ssb", "tpf"]
    assert data["certificates"][1]["certificate"]["sha256"] == material["tpf"].fingerprint_sha256()


def test_keys_show_problems_exit_1(config, tmp_path, material):
    (tmp_path / "two.pem").write_bytes(material["ssb"].cert_pem() * 2)
    result = iplos("--config", str(config), "keys", "show", "--tpf-cert", str(tmp_path / "two.pem"), "--json")
    assert result.returncode == ExitCode.FAILED
    data = json.loads(result.stdout)
    assert data["certificates"][0]["ok"] is True
    assert "2 certificates" in data["certificates"][1]["error"]
    result = iplos("--config", str(config), "keys", "show", "--year", "2030")
    assert result.returncode == ExitCode.FAILED
    assert "submission window 2031-01-02 – 2031-01-15" in result.stdout


def test_keys_show_without_certificates(tmp_path):
    result = iplos("keys", "show")
    assert result.returncode == ExitCode.USAGE
    assert "--ssb-cert" in result.stderr


def test_the_default_folder_of_two_runs_in_the_same_second_never_collides(config, secure_dir, material):
    """Issue 14.20: the second run of the same second gets its own folder, not exit 2."""
    from iplos_tui.commands.encrypt import default_out_dir
    from iplos_tui.core.config import load_profile

    profile = load_profile(config)
    now = dt.datetime(2018, 1, 8, 8, 30, 0, tzinfo=dt.timezone.utc)
    first = default_out_dir(profile, now)
    first.mkdir(parents=True)
    (first / "manifest.json").write_text("{}")
    second = default_out_dir(profile, now)
    assert second != first and not second.exists() and second.parent == first.parent
    results = [iplos("--config", str(config), "encrypt", str(material["extract"])) for _ in range(2)]
    assert [r.returncode for r in results] == [ExitCode.OK, ExitCode.OK], [r.stderr for r in results]
    assert results[0].stdout != results[1].stdout
