"""The guide's rule end to end: data are sent even when incomplete. The sandbox's extract with
planted errors is sent from the CLI after the explicit --accept-errors, and SSB's feedback lists
exactly the planted findings; a fatal extract is still refused with the reason; a warning-only
extract sends with the normal confirmation."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import ssl
import subprocess
import sys

import httpx
import pytest

pytest.importorskip("uvicorn")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def sandbox(tmp_path):
    """A fresh sandbox per test: a period once delivered is settled, whatever comes next."""
    from iplos_tui.sandbox.server import SandboxServer
    from iplos_tui.sandbox.session import ensure_extracts

    with SandboxServer(tmp_path / "sandbox") as server:
        server.extracts = ensure_extracts(server.dir)
        yield server


def submit(server, extract, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "iplos_tui", "--config", str(server.config_path), "submit", str(extract), "--pin-stdin", "--json", *args]
    return subprocess.run(argv, input=server.pin.reveal() + "\n", capture_output=True, text=True, timeout=240, env=dict(os.environ))


@contextlib.contextmanager
def gateway(server):
    """A logged-in client of the sandbox gateway's REST API and the files in its home folder."""
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    with contextlib.closing(httpx.Client(base_url=server.gateway_url + "/api/v1/", verify=context, trust_env=False, timeout=30.0)) as client:
        token = client.post("token", data={"grant_type": "password", "username": server.gateway_username,
                                           "password": server.gateway_password.reveal()})
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        home = client.get("users/self").json()["homeFolderID"]
        yield client, client.get(f"folders/{home}/files").json()["items"]


def feilliste(server) -> list[dict[str, str]]:
    """The error list of the one feedback zip in the gateway."""
    from iplos_tui.core.feedback.reader import open_feedback

    with gateway(server) as (client, items):
        assert len(items) == 1, items
        data = client.get(f"files/{items[0]['id']}/download").content
    archive = open_feedback(data, server.pin, name=items[0]["name"], kommunenr=server.account.kommunenr, bydel=server.account.bydel)
    raw = archive.entry("feilliste.csv").data
    return list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))


def test_the_extract_with_errors_is_sent_after_the_explicit_accept(sandbox):
    from iplos_tui.sandbox.session import planted_errors

    _, with_errors = sandbox.extracts
    refused = submit(sandbox, with_errors, "--yes")
    assert refused.returncode == 1, refused.stderr
    assert "--accept-errors" in refused.stderr and "Traceback" not in refused.stderr

    sent = submit(sandbox, with_errors, "--yes", "--accept-errors")
    assert sent.returncode == 0, sent.stderr
    result = json.loads(sent.stdout)
    assert result["state"] == "confirmed"
    sandbox.advance_clock()
    rows = feilliste(sandbox)
    planted = planted_errors(sandbox.dir)
    assert planted and {(row["lokal_id"], row["regel"]) for row in rows} == {(p.local_id, p.rule) for p in planted}
    assert len(rows) == len(planted)
    assert {row["alvorlighet"] for row in rows} <= {"feil", "advarsel"}


def test_a_fatal_extract_is_refused_with_the_reason(sandbox):
    from iplos_tui.core.extract.generator import generate_file

    other = sandbox.profile.secure_dir / "uttrekk-annen-kommune.xml"
    generate_file(other, persons=20, kommunenr="0301", bydel="00", year=sandbox.account.year)
    for extra in ((), ("--accept-errors",)):
        refused = submit(sandbox, other, "--yes", *extra)
        assert refused.returncode == 1, refused.stderr
        assert "0301" in refused.stderr and sandbox.account.kommunenr in refused.stderr  # the reason
        assert "Traceback" not in refused.stderr
    sandbox.advance_clock()
    with gateway(sandbox) as (_, items):
        assert items == []  # nothing was sent, so SSB has nothing to answer


def test_a_warning_only_extract_sends_with_the_normal_confirmation(sandbox):
    from iplos_tui.core.extract.generator import generate_file

    warned = sandbox.profile.secure_dir / "uttrekk-advarsel.xml"
    generate_file(warned, persons=30, seed=5, kommunenr=sandbox.account.kommunenr, bydel=sandbox.account.bydel,
                  year=sandbox.account.year, orgnr=sandbox.account.orgnr, header_errors=("header.produced_at",))
    sent = submit(sandbox, warned, "--yes")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["state"] == "confirmed"
    sandbox.advance_clock()
    assert [(row["regel"], row["alvorlighet"]) for row in feilliste(sandbox)] == [("header.produced_at", "advarsel")]
