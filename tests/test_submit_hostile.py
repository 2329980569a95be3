"""Issue 11 against the submission: a hostile Sendemodul, a broken journal or secure directory,
an extract swapped while it is read. Real loopback servers, real child processes."""

from __future__ import annotations

import json

import pytest
from sendemodul_fake import Fault
from submit_world import World

pytestmark = pytest.mark.timeout(180)

COMMIT = r"submissions/[0-9a-f-]+/commit"


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=300)
    yield w
    w.close()


def _one_clear_error(done, code: int) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr and "Error:" not in done.stderr, done.stderr


# --- 11.7: deeply nested JSON -----------------------------------------------------------------


@pytest.mark.parametrize("method, path", [("POST", "login"), ("POST", COMMIT)])
def test_deeply_nested_json_is_one_clear_error_exit_3(world, method, path):
    world.server.faults.append(Fault(method, path, "nested", depth=100_000))
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    _one_clear_error(done, 3)
    data = json.loads(done.stdout)
    assert data["ok"] is False and data["error"]["message"]
    assert world.server.committed() == []
    world.assert_invariants(done.stdout, done.stderr, delivered=False)
    if path == COMMIT:  # nothing was stored twice, and the next run finishes it
        again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
        assert again.returncode == 0, again.stderr
        world.assert_invariants(again.stdout, again.stderr, delivered=True)


# --- 11.4: the journal past 64 MiB ------------------------------------------------------------


def _pad_journal_before_its_records(world, size: int) -> None:
    """Rewrite the journal as ``size`` bytes of valid operator-event records, then its own
    records: what a long-lived journal looks like to the reader."""
    path = world.secure / "journal.jsonl"
    own = path.read_bytes()
    note = "x" * (200 * 1024)
    lines = []
    total = 0
    seq = 10_000
    while total < size:
        line = (json.dumps({"seq": seq, "at": "2018-01-01T00:00:00+01:00", "id": "event:padding", "state": "note", "note": note}) + "\n").encode()
        lines.append(line)
        total += len(line)
        seq += 1
    path.write_bytes(b"".join(lines) + own)
    path.chmod(0o600)


def test_a_journal_past_64_mib_is_refused_naming_the_file(world):
    first = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert first.returncode == 0, first.stderr
    _pad_journal_before_its_records(world, 64 * 1024 * 1024)
    journal = str(world.secure / "journal.jsonl")

    status = world.cli("status", "--json", pin=None)
    _one_clear_error(status, 2)
    assert journal in status.stderr and status.stdout == ""
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    _one_clear_error(again, 2)
    assert journal in again.stderr
    assert len(world.server.committed()) == 1  # never sent a second time
    assert [p for m, p in world.server.requests if "submissions" in p and m != "GET"][-1].endswith("/commit")


# --- 11.13: an unsafe secure directory or journal ---------------------------------------------


@pytest.mark.parametrize("command", ["submit", "status"])
def test_a_journal_others_can_read_is_one_clear_line(world, command):
    first = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert first.returncode == 0, first.stderr
    journal = world.secure / "journal.jsonl"
    journal.chmod(0o644)
    args = ("submit", str(world.extract), "--yes", "--pin-stdin") if command == "submit" else ("status",)
    done = world.cli(*args)
    _one_clear_error(done, 2)
    assert str(journal) in done.stderr and "0644" in done.stderr and "chmod 600" in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) <= 3
    assert len(world.server.committed()) == 1


@pytest.mark.parametrize("command", ["submit", "status"])
def test_a_secure_directory_that_is_a_symlink_is_one_clear_line(world, command, tmp_path):
    from iplos_tui.core.config import save_profile

    real = world.secure
    link = tmp_path / "secure-link"
    link.symlink_to(real, target_is_directory=True)
    extract = real / world.extract.name
    world.profile = world.profile.replace(secure_dir=link)
    save_profile(world.profile, world.config)
    args = ("submit", str(extract), "--yes", "--pin-stdin") if command == "submit" else ("status",)
    done = world.cli(*args)
    _one_clear_error(done, 2)
    assert str(link) in done.stderr
    assert world.server.requests == []


# --- 11.2: the file validated is the file sent --------------------------------------------------


def test_a_file_renamed_over_the_extract_while_it_is_checked_is_refused(tmp_path):
    """Another extract is renamed over the one being validated (by a thread, mid-validation):
    the run refuses, and nothing of either file is sent."""
    import os
    import threading

    from iplos_tui.core.events import StepProgress
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.secrets import Secret
    from iplos_tui.core.submission import Decision, SubmitRun
    from submit_world import PIN_CANARY

    world = World(tmp_path, persons=3000)  # about 1.5 MB: read in several chunks
    try:
        other = world.secure / "other.xml"
        generate_file(other, persons=200, kommunenr="0403", year=2017, seed=7)
        swapped = []

        def emit(event):
            if isinstance(event, StepProgress) and event.step == "validate" and 0 < event.done < event.total and not swapped:
                swapped.append(event.done)
                mover = threading.Thread(target=os.replace, args=(other, world.extract))
                mover.start()
                mover.join()

        run = SubmitRun(world.profile, emit=emit, client_factory=world.client_factory())
        result = run.run(world.extract, lambda request: Decision(True, Secret(PIN_CANARY)))
        assert swapped, "the validation never reported progress mid-file"
        assert not result.ok and result.state == "refused", (result.state, result.message)
        assert "endret" in result.message or "changed" in result.message
        assert world.server.requests == []
        outbox = world.secure / "outbox"
        assert not outbox.exists() or [p for p in outbox.iterdir() if not p.name.startswith(".")] == []
    finally:
        world.close()


# --- 11.3: never twice after a crash once the server committed -------------------------------


def _kill_after_commit(world):
    """Run submit in a child and SIGKILL it after the Sendemodul committed, before the journal
    says so (the journal still says ``sending``)."""
    import os
    import signal

    from submit_world import wait_paused

    proc = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--pause-at", "before-confirmed"))
    wait_paused(proc, "before-confirmed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    assert len(world.server.committed()) == 1
    [sub] = world.journal().submissions()
    assert sub.state == "sending"
    return sub


def _commits(world) -> int:
    return sum(world.server.commits.values())


def test_re_exported_extract_after_a_crash_is_not_sent_twice(world):
    """Only ProducedAt differs in the new export: the interrupted submission is looked up and
    found delivered; nothing is committed again."""
    first = _kill_after_commit(world)
    text = world.extract.read_text("utf-8")
    assert "<ProducedAt>" in text
    import re

    world.extract.write_text(re.sub(r"<ProducedAt>[^<]*</ProducedAt>", "<ProducedAt>2018-01-08T10:15:00+01:00</ProducedAt>", text), "utf-8")
    world.extract_sha = world.sha()
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    data = json.loads(again.stdout)
    assert data["state"] in ("confirmed", "duplicate"), again.stderr
    assert _commits(world) == 1 and len(world.server.committed()) == 1
    states = {s.id: s.state for s in world.journal().submissions()}
    assert states[first.id] == "confirmed"
    world.assert_invariants(again.stdout, again.stderr, delivered=True)


def test_lost_outbox_after_a_crash_is_resolved_by_look_up_not_resent(world):
    import shutil

    first = _kill_after_commit(world)
    shutil.rmtree(world.secure / "outbox")
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    data = json.loads(again.stdout)
    assert again.returncode == 1 and data["state"] == "duplicate", again.stderr
    receipt = world.server.submissions[first.id]["receipt"]["receipt_id"]
    assert receipt in data["error"]["message"]  # the refusal names the earlier receipt
    assert world.journal().get(first.id).state == "confirmed"
    assert _commits(world) == 1


def test_following_the_hint_while_unresolved_never_sends_twice(world):
    """The look-up cannot be answered at first: the run says the period is unresolved and does
    not suggest --again; doing what it says (running again once the Sendemodul answers) finds
    the delivered one."""
    import shutil

    from sendemodul_fake import Fault

    first = _kill_after_commit(world)
    shutil.rmtree(world.secure / "outbox")
    world.server.faults.append(Fault("GET", r"submissions/[0-9a-f-]+", "drop", times=50))
    unresolved = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    data = json.loads(unresolved.stdout)
    assert not data["ok"] and unresolved.returncode == 3, unresolved.stderr
    assert "--again" not in unresolved.stderr and "--again" not in json.dumps(data)
    assert _commits(world) == 1
    world.server.faults.clear()
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert json.loads(again.stdout)["state"] == "duplicate"
    assert world.journal().get(first.id).state == "confirmed"
    assert _commits(world) == 1


def test_another_extract_for_a_delivered_period_needs_the_receipt_named(world):
    first = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    receipt = json.loads(first.stdout)["receipt"]["receipt_id"]
    import re

    world.extract.write_text(re.sub(r'hoursPerWeek="[^"]*"', 'hoursPerWeek="10"', world.extract.read_text("utf-8"), count=1), "utf-8")
    world.extract_sha = world.sha()
    refused = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["state"] == "duplicate"
    assert f"--again {receipt}" in refused.stderr
    bare = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--again")
    assert bare.returncode == 2
    wrong = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--again", "IPLOS-2018-999999")
    assert wrong.returncode == 1 and receipt in wrong.stderr
    assert _commits(world) == 1
    forced = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json", "--again", receipt)
    assert forced.returncode == 0, forced.stderr
    assert _commits(world) == 2  # the operator named the earlier receipt: a second submission


# --- I19: a receipt that does not match what was sent -------------------------------------------


@pytest.mark.parametrize("forged", ["manifest_sha256", "key", "parts", "receipt_id"])
def test_a_receipt_that_does_not_match_is_never_confirmed(world, forged):
    """The commit's answer and the look-up's both carry a receipt that differs from what was sent
    in one field (another manifest, another key, a part's hash, no receipt id): the submission
    stays ambiguous and the message names the field; once the Sendemodul answers truly, it is
    confirmed, committed once."""
    from iplos_tui.core.exitcodes import ExitCode

    world.server.faults.append(Fault("POST", COMMIT, "forge_receipt", field=forged))
    world.server.faults.append(Fault("GET", r"submissions/[0-9a-f-]+", "forge_receipt", times=10, field=forged))
    result = world.run()
    assert not result.ok and result.state == "ambiguous" and result.exit_code == ExitCode.NETWORK
    assert forged in result.message
    entry = world.journal().get(result.submission_id)
    assert entry.state == "ambiguous" and not entry.receipt
    world.server.faults.clear()
    again = world.run()
    assert again.ok and again.submission_id == result.submission_id
    assert _commits(world) == 1
    world.assert_invariants(delivered=True)
