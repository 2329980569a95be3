"""The submission's one read on every core (issue 15 item 2): one worker and several give the
same findings in the same order, the same envelope plaintext (each part's and the whole's
hashes), ciphertext that `openssl cms -decrypt` opens; a file the pool cannot cut cleanly or
cannot read is read again the ordinary way; the workers are hardened like the console."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from iplos_tui.core import pass_pool
from iplos_tui.core.events import LogLine
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.extract.validate import Validator
from iplos_tui.core.extract_pass import read_extract
from iplos_tui.core.i18n import t
from iplos_tui.core.pipeline import SubmissionPipeline
from iplos_tui.core.run_result import RunResult
from iplos_tui.sandbox import certs
from iplos_tui.sandbox.demo import DEMO_PROFILE

PART = 64 * 1024


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    ca = certs.make_ca("recipients CA")
    start = dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
    certs.issue_recipient(ca, "SSB IPLOS", start, end).write(root / "ssb.pem", root / "ssb-key.pem")
    certs.issue_recipient(ca, "TPF", start, end).write(root / "tpf.pem", root / "tpf-key.pem")
    return root


def _extract(directory: Path, *, sendable: bool = False) -> Path:
    """3,000 persons (~2.3 MB, ~36 chunks of 64 KiB) with findings of every level, and duplicate
    ids far apart (in different chunks); ``sendable``: no duplicate local id (the envelope
    refuses one)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "uttrekk.xml"
    generate_file(path, persons=3000, seed=7, kommunenr="0403", year=2017, error_rate=0.2)
    text = path.read_text("utf-8")
    if sendable:
        numbers = iter(range(1, 10**6))
        text = re.sub(r'localId="[^"]*"', lambda _: f'localId="L{next(numbers):06d}"', text)
    local_ids = re.findall(r'localId="([^"]+)"', text)
    person_ids = re.findall(r'personId="(\d{11})"', text)
    if not sendable:
        text = text.replace(f'localId="{local_ids[2900]}"', f'localId="{local_ids[5]}"', 1)
    text = text.replace(f'personId="{person_ids[2950]}"', f'personId="{person_ids[40]}"', 1)
    path.write_text(text, "utf-8")
    return path


def _sequential(path: Path, **validator) -> tuple[dict, str]:
    checker = Validator(2017, **validator)
    passed = read_extract(path, checker.feed)
    return checker.finish().to_dict(), passed.sha256


def _parallel(path: Path, workers: int = 2, **validator) -> tuple[dict, str]:
    checker = Validator(2017, **validator)

    def header(record):
        checker.feed(record)
        return {"year": checker.year, "rewrite": True, "validator": validator}

    with pass_pool.PassPool(workers) as pool:
        passed = pass_pool.read_extract_parallel(path, pool, header, lambda done: checker.merge(done.state), chunk_size=PART)
    return checker.finish().to_dict(), passed.sha256


@pytest.mark.parametrize("max_findings", [100_000, 40])
def test_the_pool_finds_what_one_read_finds_in_the_same_order(tmp_path, max_findings):
    path = _extract(tmp_path)
    one, one_sha = _sequential(path, max_findings=max_findings)
    many, many_sha = _parallel(path, max_findings=max_findings)
    assert one["counts"]["error"] > 0 and one["counts"]["warning"] > 0 and one["counts"]["info"] > 0
    assert one["by_rule"]["person.duplicate"] >= 2
    assert (one["findings_omitted"] > 0) == (max_findings == 40)
    assert many == one
    assert many_sha == one_sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_cut_inside_a_comment_is_read_again_the_ordinary_way(tmp_path):
    path = _extract(tmp_path)
    path.write_text(path.read_text("utf-8").replace("</Person>\n", "</Person>\n<!-- </Person> -->\n"), "utf-8")
    with pytest.raises(pass_pool.Fallback):
        _parallel(path)


def _profile(keys: Path, secure: Path, workers: int):
    return DEMO_PROFILE.replace(secure_dir=secure, ssb_certificate=keys / "ssb.pem", tpf_certificate=keys / "tpf.pem", part_size=PART, workers=workers)


def _prepare(keys: Path, secure: Path, extract: Path, workers: int):
    events: list = []
    with SubmissionPipeline(_profile(keys, secure, workers), emit=events.append) as pipeline:
        prepared = pipeline.prepare(extract)
    logs = [e.text for e in events if isinstance(e, LogLine)]
    return prepared, logs


def _decrypt(part: Path, keys: Path, who: str) -> bytes:
    out = subprocess.run(
        ["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(part), "-recip", str(keys / f"{who}.pem"), "-inkey", str(keys / f"{who}-key.pem")],
        capture_output=True, timeout=120, check=True,
    )
    return out.stdout


def test_a_submission_with_two_workers_equals_one_with_one(tmp_path, keys):
    results = {}
    for workers in (1, 2):
        secure = tmp_path / f"secure-{workers}"
        prepared, logs = _prepare(keys, secure, _extract(secure, sendable=True), workers)
        assert not isinstance(prepared, RunResult), prepared.message
        assert (t("submit.log_workers", workers=2) in logs) == (workers == 2)
        results[workers] = prepared
    one, two = results[1].manifest, results[2].manifest
    assert two.persons == one.persons == 3000 and results[2].levels == results[1].levels
    assert results[2].levels["error"] > 0
    plain = [(p.role, p.file, p.index, p.plaintext_size, p.plaintext_sha256) for p in one.parts]
    assert len(plain) > 20
    assert [(p.role, p.file, p.index, p.plaintext_size, p.plaintext_sha256) for p in two.parts] == plain
    assert (two.content_plaintext_size, two.content_plaintext_sha256) == (one.content_plaintext_size, one.content_plaintext_sha256)
    envelope = results[2].envelope_dir
    content = b"".join(_decrypt(envelope / part.file, keys, "ssb") for part in two.content_parts)
    assert hashlib.sha256(content).hexdigest() == two.content_plaintext_sha256
    assert b"personId" not in content
    identity = _decrypt(envelope / two.identity_part.file, keys, "tpf")
    assert hashlib.sha256(identity).hexdigest() == two.identity_part.plaintext_sha256 == one.identity_part.plaintext_sha256
    for part in two.parts:
        assert hashlib.sha256((envelope / part.file).read_bytes()).hexdigest() == part.ciphertext_sha256


def _bogus_element(text: str) -> str:
    at = text.index("<Person", len(text) // 2)
    return text[:at] + "<Bogus/>" + text[at:]


def _local_id_twice(text: str) -> str:
    ids = re.findall(r'localId="([^"]+)"', text)
    return text.replace(f'localId="{ids[2500]}"', f'localId="{ids[100]}"', 1)


def _no_local_id(text: str) -> str:
    ids = re.findall(r'localId="([^"]+)"', text)
    return text.replace(f' localId="{ids[1500]}"', "", 1)


@pytest.mark.parametrize(("damage", "pooled", "named"), [(_bogus_element, False, "Bogus"), (_local_id_twice, True, ""), (_no_local_id, True, "")])
def test_a_refused_file_is_refused_with_the_same_reason(tmp_path, keys, damage, pooled, named):
    """Unreadable in the middle: read again the ordinary way; refused by the envelope (a local id
    twice, at the end; a person without one, in a chunk): the pool's reason is one read's."""
    refusals = {}
    for workers in (1, 2):
        secure = tmp_path / f"secure-{workers}"
        extract = _extract(secure, sendable=True)
        extract.write_text(damage(extract.read_text("utf-8")), "utf-8")
        refused, logs = _prepare(keys, secure, extract, workers)
        assert isinstance(refused, RunResult) and refused.state in ("refused", "failed-safe")
        assert (t("submit.log_workers", workers=2) in logs) == (pooled and workers == 2)
        refusals[workers] = (refused.state, refused.message)
    assert refusals[2] == refusals[1] and named in refusals[1][1]


def test_the_workers_are_hardened_like_the_console():
    import os

    with pass_pool.PassPool(2) as pool:
        facts = pool.facts()
    assert {(core, dumpable) for core, dumpable, _ in facts} == {(0, 0)}
    assert os.getpid() not in {pid for _, _, pid in facts}


def test_the_worker_count_comes_from_the_cpus_unless_configured():
    assert pass_pool.worker_count(0) == pass_pool.cpu_count() >= 1
    assert pass_pool.worker_count(1) == 1 and pass_pool.worker_count(5) == 5
