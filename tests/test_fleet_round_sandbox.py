"""The whole fleet round on one machine: 30 municipality profiles against one sandbox with 30
accounts (`iplos sandbox serve --accounts 30`). A mixed round: most confirmed, one with errors
accepted, one locked by wrong PINs (and not tried again), one left ambiguous by a SIGKILL of a real
`iplos submit` child in the middle of its upload. Then: the board says so, in that order; every
journal holds its own municipality only and no run touched another's; no municipality's PIN or
person ids are in any file or capture; each feedback file went to its own gateway user."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from submit_world import wait_paused

from iplos_tui.core.fleet import submit_round as sr
from iplos_tui.core.journal import Journal
from iplos_tui.core.secrets import Secret
from tests.support.fleet import own_person_ids

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parent.parent
COUNT = 30
PERSONS = 12


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
               XDG_DATA_HOME=str(tmp / "home" / ".local" / "share"), IPLOS_LANG="nb",
               PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    return env


def _journals(entries) -> dict[str, str]:
    out = {}
    for entry in entries:
        path = Path(entry.profile.secure_dir) / "journal.jsonl"
        out[entry.id] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""
    return out


class Round:
    """One sandbox, 30 profiles, an extract per municipality in its own secure directory."""

    def __init__(self, tmp: Path) -> None:
        from iplos_tui.core.extract.generator import generate_file
        from iplos_tui.core.profiles import load_fleet
        from iplos_tui.sandbox.server import SandboxServer

        self.tmp = tmp
        self.server = SandboxServer(tmp / "sandbox", accounts=COUNT).start()
        self.conf = self.server.config_path
        self.entries = load_fleet(self.conf).usable()
        assert len(self.entries) == COUNT
        self.ids = [entry.id for entry in self.entries]
        self.pins = {e.id: self.server.accounts.get(e.profile.kommunenr, e.profile.bydel).pin.reveal() for e in self.entries}
        self.errors, self.locked, self.killed = self.ids[3], self.ids[7], self.ids[11]
        self.extracts: dict[str, Path] = {}
        self.fnrs: dict[str, list[str]] = {}
        for number, entry in enumerate(self.entries):
            extract = Path(entry.profile.secure_dir) / f"uttrekk-{entry.id}.xml"
            persons = 200 if entry.id == self.killed else PERSONS  # three content parts: killed between two
            generate_file(extract, persons=persons, kommunenr=entry.profile.kommunenr, year=2017,
                          orgnr=entry.profile.orgnr, error_rate=0.3 if entry.id == self.errors else 0.0, seed=number)
            self.fnrs[entry.id] = own_person_ids(extract, offset=1000 * (number + 1))
            self.extracts[entry.id] = extract
        self.captured: list[str] = []

    def close(self) -> None:
        self.server.stop()

    def submit(self, ids, pins: dict[str, str], accept: tuple[str, ...] = ()):
        jobs, skipped = sr.plan([e for e in self.entries if e.id in ids], self.extracts, dt.datetime.now().astimezone())
        events: list = []
        queue = sr.FleetSubmit(
            jobs, skipped=skipped, emit=events.append,
            approve=lambda checked: {c.id: sr.Approval(True, accept_errors=c.id in accept) for c in checked},
            pin_for=lambda job: Secret(pins[job.id]) if job.id in pins else None,
            check_concurrency=4,
        )
        outcomes = {o.id: o for o in queue.run()}
        self.captured.append(repr(events) + repr(outcomes))
        return outcomes

    def kill_mid_upload(self, kid: str) -> None:
        from iplos_tui.core.config import load_profile, save_profile

        path = self.conf.parent / "profiles" / f"{kid}.toml"
        save_profile(load_profile(path).replace(part_size=64 * 1024), path)
        argv = [sys.executable, str(ROOT / "tests" / "submit_child.py"), "--pause-at", "mid-upload", "--",
                "--config", str(self.conf), "--profile", kid, "submit", str(self.extracts[kid]), "--yes", "--pin-stdin", "--json"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=_env(self.tmp), cwd=self.tmp, start_new_session=True)
        proc.stdin.write(self.pins[kid] + "\n")
        proc.stdin.close()
        stderr = wait_paused(proc, "mid-upload")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.captured.append(stderr + proc.stderr.read() + proc.stdout.read())
        proc.stderr.close()
        proc.stdout.close()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "iplos_tui", "--config", str(self.conf), *args], capture_output=True,
                              text=True, timeout=60, env=_env(self.tmp), cwd=self.tmp, start_new_session=True, stdin=subprocess.DEVNULL)
        self.captured.append(done.stdout + done.stderr)
        return done


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    world = Round(tmp_path_factory.mktemp("fleet-round"))
    try:
        wrong = dict(world.pins, **{world.locked: "Wrong-pin-1"})
        others = [i for i in world.ids if i != world.killed]
        first = world.submit(others, wrong, accept=(world.errors,))
        before_lock = _journals(world.entries)
        second = [world.submit([world.locked], wrong) for _ in range(2)]  # the third wrong PIN locks
        world.kill_mid_upload(world.killed)
        after = _journals(world.entries)
        retry = world.submit([world.locked], world.pins)  # the right PIN now: the lock is respected
        world.server.advance_clock()  # 08:00 the next working day: receipts and feedback delivered
        status = world.cli("fleet", "status", "--json")
        yield world, first, second, retry, before_lock, after, status
    finally:
        world.close()


def test_mixed_round_outcomes_and_the_lock_respected(played):
    world, first, second, retry, *_ = played
    confirmed = [i for i in world.ids if i not in (world.locked, world.killed)]
    assert {i: first[i].state for i in confirmed} == dict.fromkeys(confirmed, "confirmed")
    assert first[world.locked].state == "failed-safe" and first[world.locked].exit_code == 4
    assert second[-1][world.locked].state == "failed-safe"
    assert retry[world.locked].state == "skipped"  # locked a moment ago: not tried
    assert all(world.server.stored_count(first[i].submission_id) == 1 for i in confirmed)
    assert world.server.stats.failed_logins == 3


def test_the_board_after_the_round(played):
    from iplos_tui.core.fleet.board import build_board
    from iplos_tui.core.profiles import load_fleet

    world, first, *_, status = played
    rows = build_board(load_fleet(world.conf), dt.datetime.now().astimezone())
    by_id = {row.id: row for row in rows}
    assert [row.id for row in rows[:2]] == [world.killed, world.locked]  # what needs a person first
    assert by_id[world.killed].level == "act" and by_id[world.killed].need_kind == "unresolved"
    assert by_id[world.locked].level == "act" and by_id[world.locked].need_kind == "locked"
    assert by_id[world.errors].submission == "confirmed" and by_id[world.errors].accepted.get("error", 0) > 0
    for kid in world.ids:
        if kid not in (world.locked, world.killed):
            assert by_id[kid].submission == "confirmed" and by_id[kid].receipt_id == first[kid].receipt_id
            assert by_id[kid].need_kind != "unresolved"
    assert status.returncode == 1, status.stderr  # something needs action
    listed = json.loads(status.stdout)
    assert [row["id"] for row in listed["profiles"]] == [row.id for row in rows]
    assert listed["counts"]["act"] == 2 and listed["counts"]["watch"] + listed["counts"]["done"] == COUNT - 2


def test_no_journal_touched_by_another_municipality(played):
    world, _, _, _, before_lock, after, _ = played
    changed = {kid for kid in world.ids if before_lock[kid] != after[kid]}
    assert changed == {world.locked, world.killed}  # the runs of these two touched their own only
    for entry in world.entries:
        subs = Journal(entry.profile.secure_dir).submissions()
        assert subs and {(s.kommunenr, s.bydel) for s in subs} == {(entry.profile.kommunenr, entry.profile.bydel)}


def test_each_feedback_went_to_its_own_gateway_user(played):
    world, first, *_ = played
    for entry in world.entries:
        member = world.server.accounts.get(entry.profile.kommunenr, entry.profile.bydel)
        files = world.server.gateway.list_user_files(member.account.postmottak)
        if entry.id in (world.locked, world.killed):
            assert files == []
        else:
            assert [f.name[:6] for f in files] == [member.account.code]


def test_no_pin_or_person_id_of_any_municipality_in_any_file_or_capture(played):
    world = played[0]
    sandbox = world.server.dir.root
    secrets_kept = {sandbox / "pin", sandbox / "gateway-password"}
    secrets_kept |= {p for p in (sandbox / "accounts").rglob("*") if p.name in ("pin", "gateway-password")}
    captured = "\n".join(world.captured)
    for kid in world.ids:
        assert world.pins[kid] not in captured, kid
        assert not any(fnr in captured for fnr in world.fnrs[kid]), kid
    own_dirs = {e.id: Path(e.profile.secure_dir) for e in world.entries}
    for path in world.tmp.rglob("*"):
        if not path.is_file() or path.is_symlink() or path in secrets_kept:
            continue
        data = path.read_bytes()
        for kid in world.ids:
            assert world.pins[kid].encode() not in data, (path, kid)
            if own_dirs[kid] not in path.parents:  # plaintext only in its own secure directory
                assert not any(fnr.encode() in data for fnr in world.fnrs[kid]), (path, kid)
