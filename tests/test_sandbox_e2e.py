"""The whole round on loopback: generate -> encrypt -> upload (httpx) -> TPF -> SSB -> feedback zip
in the gateway -> downloaded through the MOVEit REST subset -> opened with the PIN."""

from __future__ import annotations

import contextlib
import csv
import email
import hashlib
import io
import shutil
import ssl
import subprocess
import uuid
from email import policy

import httpx
import pytest

from tests.sandbox_upload import client_for, send_envelope, session

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sandbox, one extract with planted errors, sent and processed."""
    from iplos_tui.core.envelope import EnvelopeParams, encrypt_extract
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.sandbox.server import SandboxServer

    root = tmp_path_factory.mktemp("e2e")
    with SandboxServer(root / "sandbox") as server:
        extract = root / "uttrekk.xml"
        planted = generate_file(extract, persons=150, seed=11, error_rate=0.5, orgnr=server.account.orgnr)
        envelope = root / "envelope"
        encrypt_extract(extract, envelope, server.ssb_certificate, server.tpf_certificate,
                        EnvelopeParams.from_profile(server.profile), part_size=8 * 1024)
        key = str(uuid.uuid4())
        with client_for(server) as client:
            receipt = send_envelope(client, session(client, server), key, envelope)
        summary = server.wait_processed(key)
        yield {"server": server, "planted": planted, "receipt": receipt, "summary": summary, "key": key, "extract": extract}


def _gateway(server) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    return httpx.Client(base_url=server.gateway_url + "/api/v1/", verify=context, trust_env=False, timeout=30.0)


def _gateway_files(server) -> tuple[httpx.Client, list[dict]]:
    client = _gateway(server)
    token = client.post("token", data={"grant_type": "password", "username": server.gateway_username,
                                       "password": server.gateway_password.reveal()})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    me = client.get("users/self").json()
    listing = client.get(f"folders/{me['homeFolderID']}/files")
    assert listing.status_code == 200, listing.text
    return client, listing.json()["items"]


def test_nothing_is_delivered_before_eight_the_next_working_day(world):
    server = world["server"]
    assert world["summary"]["persons"] == 150
    assert server.world.pending_deliveries()
    assert server.world.deliver_due() == []  # the clock has not moved
    client, items = _gateway_files(server)
    client.close()
    assert items == []
    assert not list(server.mail_dir.glob("*.eml"))


def test_feedback_arrives_and_names_exactly_the_planted_errors(world, tmp_path):
    from iplos_tui.core.feedback.reader import open_feedback

    server, planted, receipt = world["server"], world["planted"], world["receipt"]
    delivered = server.advance_clock()
    assert [item["key"] for item in delivered] == [world["key"]]
    assert server.clock.now().hour == 8

    client, items = _gateway_files(server)
    with contextlib.closing(client):
        assert len(items) == 1
        item = items[0]
        assert item["name"] == f"040300_iplos_tilbakemelding_{receipt['receipt_mail_expected_at'][:10].replace('-', '')}.zip"
        details = client.get(f"files/{item['id']}").json()
        download = client.get(f"files/{item['id']}/download")
        assert download.status_code == 200
        data = download.content
    assert hashlib.sha1(data).hexdigest() == details["hash"]

    archive = open_feedback(data, server.pin, name=item["name"], kommunenr="0403", bydel="00")
    assert {e.name for e in archive.entries} == {"feilliste.csv", "kontrolltabeller.csv"}
    raw = archive.entry("feilliste.csv").data
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw[3:].decode("utf-8")), delimiter=";"))
    found = {(row["lokal_id"], row["regel"]) for row in rows}
    expected = {(p.local_id, p.rule) for p in planted}
    from iplos_tui.core.extract.generator import PLANTABLE

    assert {p.rule for p in planted} == set(PLANTABLE)  # every plantable rule, person.duplicate too
    assert found == expected
    assert len(rows) == len(planted)  # one row per finding, nothing else
    assert {row["alvorlighet"] for row in rows} <= {"feil", "advarsel"}
    assert all(row["melding"] for row in rows)
    # No person number in the error list (SSB never sees them; TPF's values are masked).
    from iplos_tui.core.person_id import contains as has_fnr

    assert not has_fnr(raw.decode("utf-8"))

    table = archive.table("kontrolltabeller.csv")
    assert [h.strip("\ufeff") for h in table.header] == ["tjenestekode", "tjeneste", "aldersgruppe", "brukere", "timer_per_uke", "døgn"]

    # A wrong PIN does not open it.
    from iplos_tui.core.feedback.errors import WrongPinOrDamaged

    with pytest.raises(WrongPinOrDamaged):
        open_feedback(data, "wrong-pin-0", name=item["name"], kommunenr="0403", bydel="00")

    # The mails: a receipt to the contact and a "new file" notice to postmottak, at 08:00.
    mails = sorted(server.mail_dir.glob("*.eml"))
    assert len(mails) == 2
    parsed = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in mails]
    receipt_mail = next(m for m in parsed if "Kvittering" in m["Subject"])
    notice = next(m for m in parsed if m["Subject"] == "IPLOS-tilbakemelding: Ny fil for nedlasting")
    assert receipt["receipt_id"] in receipt_mail.get_content()
    assert receipt_mail["To"] == "iplos-0403@sandbox.example"
    assert notice["To"] == server.gateway_username
    assert f"Tracking ID: {item['id']}" in notice.get_content()
    assert "08:00:00" in notice["Date"]
    assert server.pin.reveal() not in "".join(p.read_text(encoding="utf-8") for p in mails)
    # Delivered once: advancing again delivers nothing new.
    assert server.advance_clock() == []


def test_control_table_counts_users_per_service(world):
    from iplos_tui.core.extract.importer import open_extract
    from iplos_tui.core.extract.model import Person
    from iplos_tui.core.feedback.reader import open_feedback

    server = world["server"]
    server.world.deliver_due()
    client, items = _gateway_files(server)
    with contextlib.closing(client):
        data = client.get(f"files/{items[0]['id']}/download").content
    archive = open_feedback(data, server.pin, name=items[0]["name"], kommunenr="0403", bydel="00")
    raw = archive.entry("kontrolltabeller.csv").data[3:].decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw), delimiter=";"))
    users = {row["tjenestekode"]: int(row["brukere"]) for row in rows if row["aldersgruppe"] == "alle"}
    expected: dict[str, int] = {}
    from iplos_tui.core import refdata

    codes = refdata.service_codes(2017)
    with open_extract(world["extract"]) as opened:
        for record in opened.records():
            if isinstance(record, Person):
                for code in {s.code for s in record.services if s.code in codes}:
                    expected[code] = expected.get(code, 0) + 1
    assert users == expected
    by_group = {}
    for row in rows:
        if row["aldersgruppe"] != "alle":
            by_group[row["tjenestekode"]] = by_group.get(row["tjenestekode"], 0) + int(row["brukere"])
    assert by_group == expected  # the age groups add up to "alle"


def test_the_zip_opens_with_7z(world, tmp_path):
    seven = shutil.which("7z") or shutil.which("7za")
    if seven is None:
        pytest.skip("7z is not installed")
    server = world["server"]
    server.world.deliver_due()
    client, items = _gateway_files(server)
    with contextlib.closing(client):
        data = client.get(f"files/{items[0]['id']}/download").content
    path = tmp_path / items[0]["name"]
    path.write_bytes(data)
    listing = subprocess.run([seven, "l", "-slt", str(path)], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "Method = AES-256" in listing.stdout
    out = subprocess.run([seven, "x", "-so", f"-p{server.pin.reveal()}", str(path), "feilliste.csv"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(b"\xef\xbb\xbflokal_id;regel;alvorlighet;felt;verdi;melding")
    wrong = subprocess.run([seven, "t", "-pwrong-pin", str(path)], capture_output=True, timeout=60)
    assert wrong.returncode != 0


def test_parts_ssb_cannot_decrypt_give_one_clear_row(tmp_path):
    """Encrypted to the wrong SSB certificate: stored (the Sendemodul cannot tell), then SSB says so."""
    import datetime as dt

    from iplos_tui.core.envelope import EnvelopeParams, encrypt_extract
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.feedback.reader import open_feedback
    from iplos_tui.sandbox.certs import issue_recipient, make_ca
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sb") as server:
        wrong = tmp_path / "wrong-ssb.pem"
        issue_recipient(make_ca("someone else's CA"), "SSB IPLOS 2017 (wrong)",
                        not_before=dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)).write(wrong)
        extract = tmp_path / "uttrekk.xml"
        generate_file(extract, persons=5, orgnr=server.account.orgnr)
        envelope = tmp_path / "envelope"
        encrypt_extract(extract, envelope, wrong, server.tpf_certificate, EnvelopeParams.from_profile(server.profile))
        key = str(uuid.uuid4())
        with client_for(server) as client:
            send_envelope(client, session(client, server), key, envelope)
        summary = server.wait_processed(key)
        assert summary["fatal"] and summary["persons"] == 0
        server.advance_clock()
        client, items = _gateway_files(server)
        with contextlib.closing(client):
            data = client.get(f"files/{items[0]['id']}/download").content
        archive = open_feedback(data, server.pin, name=items[0]["name"], kommunenr="0403", bydel="00")
        rows = list(csv.DictReader(io.StringIO(archive.entry("feilliste.csv").data[3:].decode("utf-8")), delimiter=";"))
        assert [(r["regel"], r["alvorlighet"], r["felt"]) for r in rows] == [("file.format", "feil", "content")]
        assert "SSB" in rows[0]["melding"]
