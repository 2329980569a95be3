"""`iplos submit` / `iplos status` as child processes: SIGKILL at each journal state and a restart,
disk full, a second instance, the wrong PIN three times, and the JSON/exit-code API."""

from __future__ import annotations

import json
import os
import signal

import pytest
from submit_world import World, wait_paused

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=3000)
    yield w
    w.close()


def test_submit_json_and_status(world):
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["state"] == "confirmed"
    assert data["receipt"]["receipt_id"].startswith("IPLOS-") and data["manifest"]["parts"]
    assert "▸" in done.stderr and "✓" in done.stderr
    status = world.cli("status", "--json", pin=None)
    assert status.returncode == 0
    subs = json.loads(status.stdout)["submissions"]
    assert [s["state"] for s in subs] == ["confirmed"] and "08:00" in subs[0]["waiting_for"]
    text = world.cli("status", pin=None)
    assert "bekreftet" in text.stdout
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert again.returncode == 1 and json.loads(again.stdout)["state"] == "duplicate"
    world.assert_invariants(done.stdout, done.stderr, status.stdout, text.stdout, again.stdout, again.stderr, delivered=True)


def test_without_a_terminal_it_needs_yes(world):
    done = world.cli("submit", str(world.extract), pin=None)
    assert done.returncode == 2 and "--yes" in done.stderr
    assert world.server.requests == []


def test_validation_refusal_exit_1(world):
    world.extract.write_text(world.extract.read_text("utf-8").replace("<Year>2017", "<Year>1999"), "utf-8")
    world.extract_sha = world.sha()
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["state"] == "refused"
    assert world.server.requests == []


def test_wrong_pin_three_times_cli(world):
    outputs = []
    for attempt in range(3):
        done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", pin=f"PIN-CANARY-00{attempt}9")
        assert done.returncode == 4, done.stderr
        outputs += [done.stdout, done.stderr]
    assert world.server.logins == 3
    assert "sperret" in outputs[-1]
    for text in outputs:
        assert "PIN-CANARY-00" not in text
    world.assert_invariants(*outputs, delivered=False)


@pytest.mark.parametrize(
    "point, committed_before_restart",
    [
        ("prepared", False),
        ("mid-encrypt", False),
        ("encrypted", False),
        ("sending", False),
        ("mid-upload", False),
        ("before-confirmed", True),
    ],
)
def test_sigkill_at_each_journal_state_then_restart(world, point, committed_before_restart):
    proc = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--pause-at", point))
    stderr = wait_paused(proc, point)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    stdout = proc.stdout.read()
    proc.stderr.close()
    proc.stdout.close()
    assert (len(world.server.committed()) == 1) is committed_before_restart
    states = {s.id: s.state for s in world.journal().submissions()}
    assert len(states) == 1
    # the status command (read-only) calls an orphaned "sending" interrupted
    status = json.loads(world.cli("status", "--json", pin=None).stdout)
    if point in ("sending", "mid-upload", "before-confirmed"):
        assert status["submissions"][0]["interrupted"] is True

    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["state"] == "confirmed" and data["submission_id"] in states  # the same key
    sub = world.journal().get(data["submission_id"])
    history = [state for _, _, state in sub.history]
    if point in ("sending", "mid-upload", "before-confirmed"):
        assert "ambiguous" in history  # the replay turned the interrupted sending into ambiguous
    if committed_before_restart:
        assert len([p for m, p in world.server.requests if m == "POST" and p.endswith("/commit")]) == 1
        assert not [p for m, p in world.server.requests[-3:] if m == "PUT"]  # nothing uploaded again
    assert not [p for p in (world.secure / "outbox").iterdir() if p.name.startswith(".iplos")]
    world.assert_invariants(stderr, stdout, again.stdout, again.stderr, delivered=True)


def test_disk_full_while_encrypting(world):
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--fsize", "20000"))
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["state"] == "failed-safe" and data["error"]["step"] == "encrypt"
    assert world.server.requests == []
    outbox = world.secure / "outbox"
    assert not outbox.exists() or list(outbox.iterdir()) == []
    world.assert_invariants(done.stdout, done.stderr, delivered=False)
    assert world.cli("submit", str(world.extract), "--yes", "--pin-stdin").returncode == 0


def test_journal_write_failure_blocks_the_upload(world):
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--fsize-at-sending",))
    assert done.returncode == 2, done.stderr
    assert "journal" in done.stderr.lower()
    assert [p for m, p in world.server.requests if "submissions" in p] == []  # nothing of it left
    sub = world.journal().submissions()[0]
    assert sub.state == "encrypted"
    again = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["submission_id"] == sub.id
    world.assert_invariants(done.stdout, done.stderr, delivered=True)


def test_second_instance_is_refused_while_a_run_holds_the_lock(world):
    first = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--pause-at", "sending"))
    stderr = wait_paused(first, "sending")
    requests_before = len(world.server.requests)
    second = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert second.returncode == 3
    assert "pågår" in second.stderr and str(first.pid) in second.stderr
    assert json.loads(second.stdout)["state"] == "busy"
    assert len(world.server.requests) == requests_before  # the second sent nothing
    status = json.loads(world.cli("status", "--json", pin=None).stdout)
    assert status["running"] is True and status["submissions"][0]["interrupted"] is False
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    first.stdout.close()
    first.stderr.close()
    third = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert third.returncode == 0, third.stderr
    world.assert_invariants(stderr, second.stdout, second.stderr, third.stdout, delivered=True)


def test_pin_on_stdin_without_a_terminal_and_without_yes_is_exit_2_naming_yes(world):
    """Issue 14.17: no question can be asked, so nothing is prepared and the answer says why."""
    done = world.cli("submit", str(world.extract), "--pin-stdin")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "--yes" in done.stderr and "Traceback" not in done.stderr
    assert world.server.requests == [] and not (world.secure / "journal.jsonl").exists()


def test_the_readme_headless_round_works_as_written(world):
    """The README's `iplos --config <that> submit <extract> ... < <pin file>` line, run as it stands."""
    import re
    import shlex
    import subprocess
    import sys

    from submit_world import PIN_CANARY, ROOT

    readme = (ROOT / "README.md").read_text("utf-8")
    match = re.search(r"`iplos --config <that> (submit <extract>[^`<]*)< <pin file>`", readme)
    assert match, "the README has no headless submit line"
    args = [world.extract if a == "<extract>" else a for a in shlex.split(match.group(1))]
    pin_file = world.tmp / "pin"
    pin_file.write_text(PIN_CANARY + "\n")
    pin_file.chmod(0o600)
    with open(pin_file) as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "iplos_tui", "--config", str(world.config), *map(str, args)],
            stdin=stdin, capture_output=True, text=True, timeout=120, env=world.env(), cwd=world.tmp, start_new_session=True,
        )  # fmt: skip
    pin_file.unlink()  # the operator's own file; the canary must be nowhere else
    assert done.returncode == 0, done.stderr
    world.assert_invariants(done.stdout, done.stderr, delivered=True)


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_an_unusable_extract_path_is_one_error_with_advice_that_applies(world, kind):
    """Issue 14.19: a missing path, a directory or a binary file: the reason once, and advice
    about the path or the file (not about fixing findings in the care system)."""
    target = world.secure / f"x-{kind}.xml"
    if kind == "directory":
        target.mkdir()
    elif kind == "binary":
        target.write_bytes(bytes(range(256)) * 64)
    done = world.cli("submit", str(target), "--yes", "--pin-stdin", "--json")
    assert done.returncode == (1 if kind == "binary" else 2), done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("▸")]
    reason = json.loads(done.stdout)["error"]["message"]
    assert sum(reason in line for line in lines) == 1, done.stderr  # said once
    assert "fagsystemet og lag et nytt uttrekk" not in done.stderr  # the findings advice does not apply
    assert "stien" in done.stderr if kind != "binary" else "IPLOS-uttrekk" in done.stderr
    assert world.server.requests == []


def test_an_interrupted_upload_has_one_name_in_status_and_the_start_query(world):
    """Issue 14.9 (core): a run killed while sending is "avbrutt under sending" in `iplos status`
    (text and JSON) and in the query the TUI announces on start; a run holding the lock is not."""
    from iplos_tui.core.status import unfinished_submissions

    proc = world.popen("submit", str(world.extract), "--yes", "--pin-stdin", "--json", child="submit_child.py", child_args=("--pause-at", "sending"))
    wait_paused(proc, "sending")
    assert unfinished_submissions(world.profile) == []  # a run holds it: nothing to announce
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    text = world.cli("status", pin=None)
    assert "avbrutt under sending" in text.stdout and " sender " not in text.stdout
    [item] = json.loads(world.cli("status", "--json", pin=None).stdout)["submissions"]
    assert item["label"] == "avbrutt under sending"
    [unfinished] = unfinished_submissions(world.profile)
    assert unfinished["label"] == "avbrutt under sending" and unfinished["id"][:8] in unfinished["line"]
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin")
    assert done.returncode == 0, done.stderr
    assert unfinished_submissions(world.profile) == []
