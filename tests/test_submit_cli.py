"""`iplos submit` / `iplos status` as child processes: SIGKILL at each journal state and a restart,
disk full, a second instance, the wrong PIN three times, and the JSON/exit-code API."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from submit_world import World

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=3000)
    yield w
    w.close()


def _wait_paused(proc, point: str, timeout: float = 60) -> str:
    """Read the child's stderr until it says it paused at ``point``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(f"PAUSED {point}"):
            return "".join(seen)
    proc.kill()
    raise AssertionError(f"child never paused at {point}: {''.join(seen)} {proc.stdout.read()}")


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
    stderr = _wait_paused(proc, point)
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
    stderr = _wait_paused(first, "sending")
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
