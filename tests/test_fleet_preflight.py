"""The preflight for every profile at once (core/fleet/preflight_round.py): against real loopback
TLS servers, the network checks of profiles with the same setup run once and are reused, each
profile's own checks run for each, concurrency is bounded, and the board sees every result."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from iplos_tui.core.config import Profile
from iplos_tui.core.fleet import preflight_round as fp
from iplos_tui.core.fleet.seen import last_preflight
from iplos_tui.core.profiles import ProfileEntry
from iplos_tui.sandbox.certs import issue_tls_server, make_ca
from tests.preflight_servers import TlsHttpServer, closed_port, point_at

LOCAL = {"iplos.test": ["127.0.0.1"], "filsluse.test": ["127.0.0.1"]}


def resolve(host: str) -> list[str]:
    import socket

    if host not in LOCAL:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return LOCAL[host]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    authority = make_ca("fleet preflight test CA")
    authority.write(directory / "ca.pem")
    return authority, directory / "ca.pem"


def entries(tmp_path: Path, ca_pem: Path, ports: list[int], count: int) -> list[ProfileEntry]:
    """``count`` profiles, spread over the servers at ``ports`` (one setup per port)."""
    out = []
    for number in range(count):
        kommunenr = f"{3000 + number:04d}"
        secure = tmp_path / f"s{kommunenr}"
        secure.mkdir(mode=0o700)
        base = Profile(kommunenr=kommunenr, orgnr="974550571", year=2017, secure_dir=secure, preflight_system_resolver=False)
        out.append(ProfileEntry(kommunenr, tmp_path / f"{kommunenr}.toml", point_at(base, ca_pem, ports[number % len(ports)])))
    return out


def test_shared_network_checks_run_once_per_setup_and_every_profile_gets_them(tmp_path, ca):
    authority, ca_pem = ca
    with TlsHttpServer(issue_tls_server(authority, ["iplos.test", "filsluse.test"]), tmp_path / "a") as one, \
            TlsHttpServer(issue_tls_server(authority, ["iplos.test", "filsluse.test"]), tmp_path / "b") as two:
        # what one checklist's network checks cost the server: the yardstick
        (tmp_path / "solo").mkdir()
        solo = entries(tmp_path / "solo", ca_pem, [one.port], 1)
        fp.FleetPreflight(solo, check_options={"resolver": resolve}).run()
        per_run = one.handshakes
        assert per_run >= 2
        fleet = entries(tmp_path, ca_pem, [one.port, two.port], 30)
        events: list = []
        outcome = fp.FleetPreflight(fleet, concurrency=4, emit=events.append, check_options={"resolver": resolve}).run()
        assert one.handshakes == 2 * per_run and two.handshakes == per_run  # once per setup, not 15 times
    assert [item.id for item in outcome] == [entry.id for entry in fleet]
    started = [e for e in events if isinstance(e, fp.RoundStarted)]
    assert started == [fp.RoundStarted(30, 2)]
    shared = [e for e in events if isinstance(e, fp.SharedDone)]
    assert sorted(len(e.members) for e in shared) == [15, 15]
    for item in outcome:
        by_id = {r.id: r for r in item.results}
        assert by_id["tcp"].status == "pass" and by_id["tls"].status == "pass"
        assert by_id["secure_dir"].status in ("pass", "warn")  # its own directory, checked for it
        assert item.status != "unusable"
        seen = last_preflight(Path(fleet[int(item.id) - 3000].profile.secure_dir))
        assert seen is not None and seen.source == "run"
    assert sum(1 for item in outcome if not item.shared_from) == 2


def test_an_unusable_profile_is_reported_and_the_others_go_on(tmp_path, ca):
    _, ca_pem = ca
    port = closed_port()
    fleet = entries(tmp_path, ca_pem, [port], 3)
    from iplos_tui.core.config import ConfigError

    fleet[1] = ProfileEntry(fleet[1].id, fleet[1].path, None, ConfigError("broken on purpose"))
    outcome = fp.FleetPreflight(fleet, check_options={"resolver": resolve}).run()
    statuses = {item.id: item.status for item in outcome}
    assert statuses == {"3000": "fail", "3001": "unusable", "3002": "fail"}  # closed port: tcp fails
    assert "broken on purpose" in outcome[1].problem


def test_concurrency_is_bounded(tmp_path, ca, monkeypatch):
    _, ca_pem = ca
    fleet = entries(tmp_path, ca_pem, [closed_port()], 12)
    running, peak, lock = [0], [0], threading.Lock()
    real = fp.FleetPreflight._checks

    def counting(self, profile, only):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return real(self, profile, only)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(fp.FleetPreflight, "_checks", counting)
    fp.FleetPreflight(fleet, concurrency=3, check_options={"resolver": resolve}).run()
    assert 1 <= peak[0] <= 3


def test_cancel_stops_the_round_with_the_one_cancellation(tmp_path, ca):
    from iplos_tui.core.errors import Cancelled

    _, ca_pem = ca
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        fp.FleetPreflight(entries(tmp_path, ca_pem, [closed_port()], 2), cancel=cancel).run()
    assert last_preflight(tmp_path / "s3000") is None


def test_network_key_separates_what_the_answers_depend_on():
    base = Profile(kommunenr="0403")
    assert fp.network_key(base) == fp.network_key(base.replace(kommunenr="0417", orgnr="1", secure_dir=Path("/x")))
    for change in ({"proxy": "http://127.0.0.1:3128"}, {"sendemodul_ca_bundle": Path("/ca.pem")}, {"preflight_timeout": 9.0}, {"gateway_url": "https://x.test"}):
        assert fp.network_key(base) != fp.network_key(base.replace(**change))
    assert set(fp.NETWORK_CHECKS) | set(fp.LOCAL_CHECKS) == set(__import__("iplos_tui.core.preflight.ids", fromlist=["x"]).CHECK_IDS)


def test_the_clock_of_the_record_is_the_rounds(tmp_path, ca):
    _, ca_pem = ca
    when = dt.datetime(2018, 1, 8, 7, 0, tzinfo=dt.timezone.utc)
    fleet = entries(tmp_path, ca_pem, [closed_port()], 1)
    fp.FleetPreflight(fleet, now=lambda: when, check_options={"resolver": resolve}).run()
    assert last_preflight(tmp_path / "s3000").at == when


def test_iplos_fleet_preflight_prints_each_municipality_and_exits_1_on_a_failure(tmp_path, capsys):
    import json
    import os

    from iplos_tui import cli

    port = closed_port()
    conf = tmp_path / "conf" / "config.toml"
    (conf.parent / "profiles").mkdir(mode=0o700, parents=True)
    os.chmod(conf.parent, 0o700)
    conf.write_text("")  # a named config file must exist (a typo never means "the defaults")
    os.chmod(conf, 0o600)
    for kommunenr in ("0403", "0417"):
        path = conf.parent / "profiles" / f"{kommunenr}.toml"
        path.write_text(
            f'[profile]\nkommunenr = "{kommunenr}"\n[paths]\nsecure_dir = "{tmp_path / kommunenr}"\n'
            f'[sendemodul]\nurl = "https://127.0.0.1:{port}/Sendemodul/"\nexpected_address = "127.0.0.1"\n'
            f'[feedback]\ngateway_url = "https://127.0.0.1:{port}/"\n[preflight]\nsystem_resolver = false\ntimeout = 1.0\n'
        )
        os.chmod(path, 0o600)
    assert cli.main(["--config", str(conf), "fleet", "preflight", "--concurrency", "2"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert sorted(line.split()[1] for line in lines) == ["0403", "0417"]
    assert "1" in captured.err  # "the network checks of one stand for 1 other"
    assert cli.main(["--config", str(conf), "fleet", "preflight", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and {p["id"] for p in data["profiles"]} == {"0403", "0417"}
    with pytest.raises(SystemExit) as usage:
        cli.main(["--config", str(conf), "fleet", "preflight", "--concurrency", "99"])
    assert usage.value.code == 2
