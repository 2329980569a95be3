"""One sandbox, many municipalities (sandbox/accounts.py, `iplos sandbox serve --accounts N`):
each logs in with its own PIN only, wrong PINs lock only that one, each has its own gateway user,
and the profiles written beside the sandbox's config.toml are a fleet the console reads."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys

import httpx
import pytest

from tests.sandbox_upload import client_for

pytestmark = pytest.mark.timeout(120)


def _login(client, account, pin: str) -> httpx.Response:
    return client.post("login", json={"kommunenr": account.kommunenr, "bydel": account.bydel, "orgnr": account.orgnr, "pin": pin})


def _gateway_token(server, username: str, password: str) -> int:
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    with httpx.Client(base_url=server.gateway_url + "/api/v1/", verify=context, trust_env=False, timeout=30.0) as client:
        return client.post("token", data={"grant_type": "password", "username": username, "password": password}).status_code


def test_each_account_logs_in_with_its_own_pin_and_wrong_pins_lock_only_it(tmp_path):
    from iplos_tui.core.profiles import load_fleet
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sandbox", accounts=4) as server:
        members = list(server.accounts)
        assert len(members) == 4 and len({m.account.kommunenr for m in members}) == 4
        assert len({m.pin.reveal() for m in members}) == 4
        first, second, third, _ = members
        with client_for(server) as client:
            for member in members:
                assert _login(client, member.account, member.pin.reveal()).status_code == 200
            assert _login(client, second.account, first.pin.reveal()).status_code == 401  # another's PIN
            for _ in range(2):
                assert _login(client, third.account, "wrong-pin-1").status_code == 401
            locked = _login(client, third.account, "wrong-pin-1")
            assert locked.status_code == 423 and locked.json()["error"] == "locked"
            assert _login(client, third.account, third.pin.reveal()).status_code == 423  # locked stays locked
            assert _login(client, second.account, second.pin.reveal()).status_code == 200  # the others go on
        for member in members:
            assert _gateway_token(server, member.account.postmottak, member.gateway_password.reveal()) == 200
        assert _gateway_token(server, second.account.postmottak, first.gateway_password.reveal()) == 400

        fleet = load_fleet(server.config_path)
        assert sorted(e.id for e in fleet.usable()) == sorted(m.account.kommunenr for m in members)
        secure_dirs = {str(e.profile.secure_dir) for e in fleet.usable()}
        assert len(secure_dirs) == 4
        for entry in fleet.usable():
            member = server.accounts.get(entry.profile.kommunenr, entry.profile.bydel)
            assert entry.profile.orgnr == member.account.orgnr
            assert entry.profile.gateway_username == member.account.postmottak
        # no PIN in any profile file or in what `serve` prints
        written = b"".join(p.read_bytes() for p in (tmp_path / "sandbox" / "profiles").iterdir())
        written += json.dumps(server.info()).encode()
        for member in members:
            assert member.pin.reveal().encode() not in written


def test_serve_refuses_a_bad_account_count(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "iplos_tui", "sandbox", "serve", "--dir", str(tmp_path / "sb"), "--accounts", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "--accounts" in done.stderr and "Traceback" not in done.stderr
