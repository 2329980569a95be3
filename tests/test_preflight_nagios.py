"""`iplos preflight --format nagios`: one status line with performance data and the monitoring
plugin's exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), against real loopback peers."""

from __future__ import annotations

import os
import re

import pytest

from iplos_tui.cli import main
from iplos_tui.core.config import save_profile
from iplos_tui.sandbox.certs import issue_tls_server
from tests.preflight_servers import TlsHttpServer, closed_port, make_test_ca

PERF = re.compile(r"^[a-z_]+=[0-9.]+s?;;;0$")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_test_ca(tmp_path_factory.mktemp("nagios-pki"), "nagios test CA")


def run_plugin(tmp_path, profile, capsys, *only):
    config = tmp_path / "conf" / "config.toml"
    save_profile(profile, config)
    code = main(["--config", str(config), "preflight", "--format", "nagios", "--only", *only])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 1, captured.out  # one status line
    text, _, perf = lines[0].partition(" | ")
    assert all(PERF.match(item) for item in perf.split()), perf
    assert captured.err == ""  # nothing else: a plugin's stderr can end up as its output
    return code, text, dict(item.split("=", 1) for item in perf.split())


def https_profile(base, ca_pem, port, **changes):
    return base.replace(
        sendemodul_url=f"https://127.0.0.1:{port}/Sendemodul/", sendemodul_address="127.0.0.1", sendemodul_ca_bundle=ca_pem,
        preflight_timeout=2.0, **changes,
    )


def test_pass_is_ok_0(tmp_path, valid_profile, ca, capsys):
    issued, ca_pem = ca
    with TlsHttpServer(issue_tls_server(issued, ["localhost"], ["127.0.0.1"]), tmp_path / "srv") as server:
        code, text, perf = run_plugin(tmp_path, https_profile(valid_profile, ca_pem, server.port), capsys, "tcp", "tls", "http", "clock")
    assert code == 0
    assert text.startswith("IPLOS PREFLIGHT OK - ") and "alle 4" in text
    assert perf["ok"] == "4;;;0" and perf["fail"] == "0;;;0"
    assert set(perf) >= {"time", "tcp", "tls", "http", "clock"}


def test_warning_is_1(tmp_path, valid_profile, ca, capsys):
    issued, ca_pem = ca
    with TlsHttpServer(issue_tls_server(issued, ["localhost"], ["127.0.0.1"]), tmp_path / "srv", status=403, reason="Forbidden") as server:
        code, text, perf = run_plugin(tmp_path, https_profile(valid_profile, ca_pem, server.port), capsys, "http", "spam_allowlist")
    assert code == 1
    assert text.startswith("IPLOS PREFLIGHT WARNING - ")
    assert "1 advarsel: http" in text and "1 ikke avkrysset: spam_allowlist" in text and "403" in text
    assert perf["warn"] == "1;;;0" and perf["manual"] == "1;;;0"


def test_failure_is_critical_2(tmp_path, valid_profile, ca, capsys):
    _, ca_pem = ca
    code, text, perf = run_plugin(tmp_path, https_profile(valid_profile, ca_pem, closed_port()), capsys, "tcp", "tls", "profile")
    assert code == 2
    assert text.startswith("IPLOS PREFLIGHT CRITICAL - 1 feil: tcp")
    assert "avvist" in text and "|" not in text
    assert perf["fail"] == "1;;;0" and perf["skip"] == "1;;;0"


def test_nothing_tested_is_unknown_3(tmp_path, valid_profile, ca, capsys):
    """The URL holds an IP address: the dns row has nothing to test; no proxy: neither has proxy."""
    _, ca_pem = ca
    code, text, perf = run_plugin(tmp_path, https_profile(valid_profile, ca_pem, 443), capsys, "dns", "proxy")
    assert code == 3
    assert text.startswith("IPLOS PREFLIGHT UNKNOWN - 2 ikke testet: dns, proxy")
    assert perf["skip"] == "2;;;0"


def test_a_broken_profile_is_unknown_3_on_stdout(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile\n")
    os.chmod(bad, 0o600)
    code = main(["--config", str(bad), "preflight", "--format", "nagios"])
    out = capsys.readouterr().out
    assert code == 3
    assert out.startswith("IPLOS PREFLIGHT UNKNOWN - ") and "bad.toml" in out and len(out.splitlines()) == 1
    assert main(["--config", str(bad), "preflight"]) == 2  # the other formats: a config error as always


def test_json_flag_and_format_json_are_the_same(tmp_path, valid_profile, capsys):
    import json

    config = tmp_path / "conf" / "config.toml"
    save_profile(valid_profile.replace(postmottak_routing_confirmed=True), config)
    main(["--config", str(config), "preflight", "--json", "--only", "postmottak_routing"])
    first = json.loads(capsys.readouterr().out)
    main(["--config", str(config), "preflight", "--format", "json", "--only", "postmottak_routing"])
    second = json.loads(capsys.readouterr().out)
    assert [c["status"] for c in first["checks"]] == [c["status"] for c in second["checks"]] == ["pass"]
