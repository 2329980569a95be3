"""docs/envelope-format.md's commands, run with the real openssl, against a generated envelope."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from iplos_tui.core import envelope
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.extract.importer import open_extract
from iplos_tui.core.extract.model import Header
from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header, write_person
from iplos_tui.sandbox import certs

DOC = Path(__file__).resolve().parent.parent / "docs" / "envelope-format.md"
NOT_BEFORE = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)

pytestmark = [
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed"),
    pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum (coreutils) not installed"),
]


def doc_blocks() -> dict[str, str]:
    """The shell blocks marked ``<!-- doc-test: NAME -->`` in the document."""
    text = DOC.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"<!-- doc-test: (\w+) -->\n```sh\n(.*?)```", text, re.S))
    assert set(blocks) == {"verify", "inspect", "ssb", "tpf"}, "the document's tested blocks changed"
    return blocks


def shell(script: str, cwd: Path) -> str:
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{script}\n--- stderr ---\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("doc")
    extract = root / "extract.xml"
    generate_file(extract, persons=250, seed=3, kommunenr="0403", year=2017)
    ca = certs.make_ca()
    ssb = certs.issue_recipient(ca, "SSB IPLOS test", not_before=NOT_BEFORE)
    tpf = certs.issue_recipient(ca, "TPF IPLOS test", not_before=NOT_BEFORE)
    work = root / "work"
    work.mkdir()
    ssb.write(work / "ssb-cert.pem", work / "ssb-key.pem")
    tpf.write(work / "tpf-cert.pem", work / "tpf-key.pem")
    result = envelope.encrypt_extract(
        extract, work / "envelope", ssb.cert, tpf.cert, envelope.EnvelopeParams(year=2017), part_size=8192
    )
    assert len(result.manifest.content_parts) > 3
    return {"work": work, "extract": extract, "result": result, "ssb": ssb, "tpf": tpf}


def test_verify_commands_print_the_manifest_hashes(workspace):
    out = shell(doc_blocks()["verify"], workspace["work"])
    manifest = workspace["result"].manifest
    fingerprints = [line.split("=", 1)[1].replace(":", "").lower() for line in out.splitlines() if "Fingerprint" in line]
    assert fingerprints == [manifest.certificates["ssb"]["sha256"], manifest.certificates["tpf"]["sha256"]]
    hashes = {line.split()[1].split("/")[-1]: line.split()[0] for line in out.splitlines() if line.endswith(".p7m")}
    assert hashes == {p.file: p.ciphertext_sha256 for p in manifest.parts}


def test_inspect_shows_algorithms(workspace):
    out = shell(doc_blocks()["inspect"], workspace["work"])
    assert "aes-256-cbc" in out
    assert "rsaEncryption" in out
    assert f"{workspace['ssb'].cert.serial_number:X}" in out.replace(":", "").upper()


def test_ssb_commands_give_back_the_content(workspace):
    work = workspace["work"]
    out = shell(doc_blocks()["ssb"], work)
    manifest = workspace["result"].manifest
    sums = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    for part in manifest.content_parts:
        assert sums[part.file.replace(".p7m", ".xml")] == part.plaintext_sha256
    assert sums["content.xml"] == manifest.content_plaintext_sha256
    # Compared with the extract itself: the same records, without person ids.
    expected = io.BytesIO()
    with open_extract(workspace["extract"]) as opened:
        fnrs = []
        for record in opened.records():
            if isinstance(record, Header):
                write_header(expected, record)
            else:
                fnrs.append(record.person_id.encode())
                write_person(expected, record, include_person_id=False)
    write_footer(expected)
    content = (work / "content.xml").read_bytes()
    assert content == expected.getvalue()
    assert b"personId" not in content and not any(f in content for f in fnrs)


def test_tpf_commands_give_back_the_identity_table(workspace):
    work = workspace["work"]
    out = shell(doc_blocks()["tpf"], work)
    identity = (work / "identity.csv").read_bytes()
    assert out.split()[0] == hashlib.sha256(identity).hexdigest() == workspace["result"].manifest.identity_part.plaintext_sha256
    with open_extract(workspace["extract"]) as opened:
        persons = [r for r in opened.records() if not isinstance(r, Header)]
    assert identity.decode() == "local_id;person_id\n" + "".join(f"{p.local_id};{p.person_id}\n" for p in persons)


def test_wrong_recipient_fails_as_documented(workspace):
    work = workspace["work"]
    result = subprocess.run(
        ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", "envelope/identity.p7m",
         "-recip", "ssb-cert.pem", "-inkey", "ssb-key.pem", "-out", "stolen.csv"],
        cwd=work, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "Error decrypting CMS" in result.stderr
    assert not (work / "stolen.csv").exists() or (work / "stolen.csv").stat().st_size == 0
