"""The one read on every core (issue 15 item 2), for a submission, `iplos validate` (and the
Submission pane's validate) and `iplos encrypt`: one worker and several give the same findings
in the same order, the same counts and caps, the same `--json`, the same envelope plaintext (each
part's and the whole's hashes), ciphertext that `openssl cms -decrypt` opens; a file the pool
cannot cut cleanly or cannot read is read again the ordinary way; the workers are hardened like
the console; progress and cancellation work with the pool."""

from __future__ import annotations

import contextlib

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from iplos_tui.core import pass_pool
from iplos_tui.core.config import save_profile
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.events import LogLine
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.extract.validate import Validator
from iplos_tui.core.extract_pass import read_extract
from iplos_tui.core.i18n import t
from iplos_tui.core.pipeline import SubmissionPipeline
from iplos_tui.core.run_result import RunResult
from iplos_tui.sandbox import certs
from iplos_tui.sandbox.demo import DEMO_PROFILE
from tests.support import ctrl_c_as_at_a_terminal

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


def _extract(directory: Path, *, sendable: bool = False, error_rate: float = 0.2) -> Path:
    """3,000 persons (~2.3 MB, ~36 chunks of 64 KiB) with findings of every level, and duplicate
    ids far apart (in different chunks); ``sendable``: no duplicate local id (the envelope
    refuses one)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "uttrekk.xml"
    generate_file(path, persons=3000, seed=7, kommunenr="0403", year=2017, error_rate=error_rate)
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


@pytest.mark.parametrize(("max_findings", "max_per_rule"), [(100_000, None), (40, None), (100_000, 3), (40, 3), (500, 30)])
def test_the_pool_finds_what_one_read_finds_in_the_same_order(tmp_path, max_findings, max_per_rule):
    path = _extract(tmp_path)
    one, one_sha = _sequential(path, max_findings=max_findings, max_per_rule=max_per_rule)
    many, many_sha = _parallel(path, max_findings=max_findings, max_per_rule=max_per_rule)
    assert one["counts"]["error"] > 0 and one["counts"]["warning"] > 0 and one["counts"]["info"] > 0
    assert one["by_rule"]["person.duplicate"] >= 2
    assert (one["findings_omitted"] > 0) == (max_findings == 40 or max_per_rule is not None)
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


# --- `iplos validate` and `iplos encrypt` on every core, through the real CLI -----------------


def _config(tmp_path: Path, keys: Path) -> Path:
    """A profile whose part size (the pool's chunk size) cuts the 3,000 persons into ~36 chunks."""
    config = tmp_path / "config" / "config.toml"
    save_profile(_profile(keys, tmp_path / "secure", 0), config)
    return config


def _iplos(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iplos_tui", "--config", str(config), "--lang", "en", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(config.parent.parent)},
    )  # fmt: skip


def _late_fatal(text: str) -> tuple[str, int]:
    """An element the reader refuses in one of the last chunks, and its line."""
    at = text.index("<Person", int(len(text) * 0.9))
    return text[:at] + "<Bogus/>\n" + text[at:], text[:at].count("\n") + 1


@pytest.mark.parametrize("options", [[], ["--all"], ["--max-findings", "40"], ["--per-rule", "2"]], ids=["default", "all", "max-findings", "per-rule"])
def test_iplos_validate_with_two_workers_says_what_one_says(tmp_path, keys, options):
    config = _config(tmp_path, keys)
    extract = _extract(tmp_path / "secure", error_rate=0.05)
    one = _iplos(config, "validate", str(extract), "--json", "--workers", "1", *options)
    two = _iplos(config, "validate", str(extract), "--json", "--workers", "2", *options)
    assert one.returncode == two.returncode == ExitCode.FAILED, two.stderr
    assert "processes at once" not in one.stderr and "validated by 2 processes at once" in two.stderr
    assert two.stdout == one.stdout
    report = json.loads(one.stdout)
    assert report["persons"] == 3000 and report["counts"]["error"] > 0 and report["by_rule"]["person.duplicate"] >= 2
    assert [f["local_id"] for f in report["findings"] if f["rule"] == "person.duplicate"][:1] != [None]  # the second pass named them
    assert (report["findings_omitted"] > 0) == (options != ["--all"])


def test_iplos_validate_reads_a_late_fatal_error_again_and_names_the_same_line(tmp_path, keys):
    config = _config(tmp_path, keys)
    extract = _extract(tmp_path / "secure", error_rate=0.05)
    damaged, line = _late_fatal(extract.read_text("utf-8"))
    extract.write_text(damaged, "utf-8")
    one = _iplos(config, "validate", str(extract), "--json", "--workers", "1")
    two = _iplos(config, "validate", str(extract), "--json", "--workers", "2")
    assert one.returncode == two.returncode == ExitCode.USAGE, two.stderr
    assert "processes at once" not in two.stderr  # the pool gave up: the ordinary read decided
    assert two.stdout == one.stdout
    fatal = json.loads(two.stdout)["fatal"]
    assert fatal["line"] == line and "Bogus" in fatal["message"]


def test_a_small_file_and_a_bad_count_keep_the_ordinary_read(tmp_path, keys):
    config = _config(tmp_path, keys)
    small = tmp_path / "secure" / "small.xml"
    small.parent.mkdir(mode=0o700)
    generate_file(small, persons=1, seed=1, kommunenr="0403", year=2017)
    result = _iplos(config, "validate", str(small), "--json", "--workers", "2")
    assert result.returncode == ExitCode.OK and "processes at once" not in result.stderr
    for command in ("validate", "encrypt"):
        bad = _iplos(config, command, str(small), "--workers", "many")
        assert bad.returncode == ExitCode.USAGE and "'many' is not a number of processes" in bad.stderr, bad.stderr


def _envelope(config: Path, extract: Path, out: Path, workers: int) -> tuple[subprocess.CompletedProcess, object]:
    from iplos_tui.core.envelope import load_manifest

    result = _iplos(config, "encrypt", str(extract), "--out", str(out), "--json", "--workers", str(workers))
    assert result.returncode == ExitCode.OK, result.stderr
    return result, load_manifest(out)


def test_iplos_encrypt_with_two_workers_makes_the_envelope_one_makes(tmp_path, keys):
    config = _config(tmp_path, keys)
    extract = _extract(tmp_path / "secure", sendable=True, error_rate=0.05)
    run_one, one = _envelope(config, extract, tmp_path / "one", 1)
    run_two, two = _envelope(config, extract, tmp_path / "two", 2)
    assert "processes at once" not in run_one.stderr and "encrypted by 2 processes at once" in run_two.stderr
    plain = [(p.role, p.file, p.index, p.plaintext_size, p.plaintext_sha256) for p in one.parts]
    assert len(plain) > 20 and two.persons == one.persons == 3000
    assert [(p.role, p.file, p.index, p.plaintext_size, p.plaintext_sha256) for p in two.parts] == plain
    assert (two.content_plaintext_size, two.content_plaintext_sha256) == (one.content_plaintext_size, one.content_plaintext_sha256)
    content = b"".join(_decrypt(tmp_path / "two" / part.file, keys, "ssb") for part in two.content_parts)
    assert hashlib.sha256(content).hexdigest() == two.content_plaintext_sha256 and b"personId" not in content
    identity = _decrypt(tmp_path / "two" / two.identity_part.file, keys, "tpf")
    assert hashlib.sha256(identity).hexdigest() == two.identity_part.plaintext_sha256


def test_iplos_encrypt_reads_a_late_fatal_error_again_and_says_the_same(tmp_path, keys):
    config = _config(tmp_path, keys)
    extract = _extract(tmp_path / "secure", sendable=True)
    extract.write_text(_late_fatal(extract.read_text("utf-8"))[0], "utf-8")
    one = _iplos(config, "encrypt", str(extract), "--out", str(tmp_path / "one"), "--workers", "1")
    two = _iplos(config, "encrypt", str(extract), "--out", str(tmp_path / "two"), "--workers", "2")
    assert one.returncode == two.returncode == ExitCode.FAILED
    assert two.stderr == one.stderr and "Bogus" in two.stderr
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()


# --- in core: the validate pane's flow, progress and cancellation ---------------------------


def test_the_validate_pane_flow_uses_the_profile_s_workers(tmp_path, keys):
    from iplos_tui.core.submission import validate_step

    extract = _extract(tmp_path / "secure", error_rate=0.05)
    lines = {}
    for workers in (1, 2):
        events: list = []
        validate_step(extract, _profile(keys, tmp_path / "secure", workers), emit=events.append)
        lines[workers] = [e.text for e in events if isinstance(e, LogLine)]
    pooled = t("validate.log_workers", workers=2)
    assert pooled in lines[2] and pooled not in lines[1]
    assert [line for line in lines[2] if line != pooled] == lines[1] and len(lines[1]) > 5


def test_a_pooled_validation_reports_progress_and_can_be_cancelled(tmp_path):
    from iplos_tui.core.validation import validate_file

    path = _extract(tmp_path)
    seen: list[tuple[int, int]] = []
    report = validate_file(path, year=2017, workers=2, chunk_size=PART, progress=lambda done, total: seen.append((done, total)))
    assert report.workers == 2 and len(seen) >= 5 and seen == sorted(seen)
    assert seen[-1] == (path.stat().st_size, path.stat().st_size)
    cancel = threading.Event()
    with pytest.raises(Cancelled):
        validate_file(path, year=2017, workers=2, chunk_size=PART, cancel=cancel, progress=lambda done, total: cancel.set())


def test_a_pooled_encryption_can_be_cancelled_and_leaves_nothing(tmp_path, keys):
    from iplos_tui.core.encryption import encrypt_extract
    from iplos_tui.core.envelope import EnvelopeParams

    path = _extract(tmp_path / "secure", sendable=True)
    cancel = threading.Event()
    events: list = []

    def progress(event):
        events.append(event.phase)
        cancel.set()

    with pytest.raises(Cancelled):
        encrypt_extract(path, tmp_path / "out", keys / "ssb.pem", keys / "tpf.pem", EnvelopeParams(), PART, workers=2, cancel=cancel, progress=progress)
    assert events and not (tmp_path / "out").exists()


def _signal_masks(pid: int) -> str:
    """The signals ``pid`` ignores and blocks, as /proc shows them (SIGINT is bit 2)."""
    try:
        return " ".join(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(("SigIgn", "SigBlk")))
    except OSError:
        return "gone"


def _descendants(pid: int) -> set[int]:
    """The processes under ``pid`` (the forkserver, the resource tracker, the workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = {child for child, of in parents.items() if of == parent}
        found |= children
        todo.extend(children)
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_ctrl_c_stops_a_pooled_iplos_validate_and_its_workers(tmp_path, keys):
    import pty
    import select
    import signal
    import time

    config = _config(tmp_path, keys)
    extract = tmp_path / "secure" / "big.xml"
    extract.parent.mkdir(mode=0o700)
    generate_file(extract, persons=20_000, seed=3, kommunenr="0403", year=2017)
    leader, follower = pty.openpty()  # the percentage is shown on a terminal only
    child = subprocess.Popen(
        [sys.executable, "-m", "iplos_tui", "--config", str(config), "--lang", "en", "validate", str(extract), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=follower, env={**os.environ, "HOME": str(tmp_path)}, preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    os.close(follower)
    shown, workers = b"", set()
    deadline = time.monotonic() + 120  # a bound against a hung test, not a speed
    try:
        while b"%" not in shown and time.monotonic() < deadline:
            if select.select([leader], [], [], 1.0)[0]:
                shown += os.read(leader, 4096)
        workers = _descendants(child.pid)
        assert b"%" in shown and len(workers) >= 3, shown  # the forkserver and two workers at least
        # The workers are held while Ctrl-C arrives, so the run cannot end first however fast it is.
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            assert child.poll() is None, "validate ended before Ctrl-C"
            signals = _signal_masks(child.pid)  # said if it fails: a Ctrl-C ignored or blocked from the start
            child.send_signal(signal.SIGINT)
        finally:
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        assert child.wait(timeout=120) == ExitCode.INTERRUPTED, signals
    finally:
        if child.poll() is None:
            child.kill()
        os.close(leader)
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_the_report_and_compare_keys_use_the_pool_and_say_the_same(tmp_path, keys):
    from iplos_tui.core.validation import compare_files, report_for_profile

    secure = tmp_path / "secure"
    extract = _extract(secure, error_rate=0.05)
    old = secure / "old.xml"
    generate_file(old, persons=3000, seed=8, kommunenr="0403", year=2017, error_rate=0.05)
    made_at = dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)
    reports, texts, comparisons = {}, {}, {}
    for workers in (1, 2):
        report, written = report_for_profile(extract, _profile(keys, secure, workers), made_at=made_at)
        reports[workers], texts[workers] = report, (written.text_path.read_bytes(), written.csv_path.read_bytes())
        comparisons[workers] = compare_files(extract, old, year=2017, workers=workers, chunk_size=PART).to_dict()
    assert (reports[1].workers, reports[2].workers) == (1, 2)
    assert reports[2].to_dict() == reports[1].to_dict() and texts[2] == texts[1]
    assert comparisons[2] == comparisons[1] and comparisons[1]["new"]["counts"]["error"] > 0
