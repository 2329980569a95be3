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
