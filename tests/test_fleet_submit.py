"""Queued submissions (core/fleet/submit_round.py): every municipality checked first, then sent
one after another, each with its own PIN, journal and receipt; a wrong PIN stops only that one.
Each municipality has its own loopback Sendemodul here (tests/sendemodul_fake.py) with its own
account and PIN."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sendemodul_fake import Account, FakeSendemodul

from iplos_tui.core.fleet import submit_round as sr
from iplos_tui.core.journal import Journal
from iplos_tui.core.profiles import ProfileEntry
from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.demo import DEMO_PROFILE
from tests.support import PIN_CANARY
from tests.support.fleet import own_person_ids

IDS = ("0403", "0412", "0415", "0417")


def pin_of(kommunenr: str) -> str:
    return f"{PIN_CANARY}-{kommunenr}"  # a canary per municipality


class Fleet:
    def __init__(self, tmp_path: Path, ids=IDS, persons: int = 40) -> None:
        from iplos_tui.core.extract.generator import generate_file
        from iplos_tui.sandbox import certs

        self.tmp = tmp_path
        keys = tmp_path / "keys"
        keys.mkdir(parents=True)
        ca = certs.make_ca("recipients CA")
        start = dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
        certs.issue_recipient(ca, "SSB IPLOS", start, end).write(keys / "ssb.pem")
        certs.issue_recipient(ca, "TPF", start, end).write(keys / "tpf.pem")
        self.servers: dict[str, FakeSendemodul] = {}
        self.entries: list[ProfileEntry] = []
        self.extracts: dict[str, Path] = {}
        self.fnrs: dict[str, list[str]] = {}
        for kommunenr in ids:
            secure = tmp_path / f"secure-{kommunenr}"
            secure.mkdir(mode=0o700)
            server = FakeSendemodul(tmp_path / f"server-{kommunenr}", account=Account(kommunenr=kommunenr, pin=pin_of(kommunenr), name=kommunenr))
            server.start()
            self.servers[kommunenr] = server
            extract = secure / f"uttrekk-{kommunenr}.xml"
            generate_file(extract, persons=persons, kommunenr=kommunenr, year=2017)
            self.fnrs[kommunenr] = own_person_ids(extract, offset=10000 * (len(self.servers)))
            self.extracts[kommunenr] = extract
            profile = DEMO_PROFILE.replace(
                kommunenr=kommunenr, secure_dir=secure, ssb_certificate=keys / "ssb.pem", tpf_certificate=keys / "tpf.pem",
                sendemodul_url=server.url, sendemodul_ca_bundle=server.ca_bundle, part_size=64 * 1024,
            )
            self.entries.append(ProfileEntry(kommunenr, tmp_path / f"{kommunenr}.toml", profile))

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()

    def client_factory(self, profile):
        from iplos_tui.core.sendemodul import RetryPolicy, SendemodulClient, Timeouts

        return SendemodulClient.from_profile(
            profile, timeouts=Timeouts(connect=2, read=2, write=2, pool=2, total_base=5), retry=RetryPolicy(attempts=3, first_delay=0.05, max_elapsed=2)
        )

    def round(self, pins: dict[str, str], approve=None, **kwargs):
        events: list = []
        jobs, skipped = sr.plan(self.entries, self.extracts, dt.datetime.now().astimezone())
        given: list[Secret] = []

        def pin_for(job):
            secret = Secret(pins[job.id]) if job.id in pins else None
            if secret is not None:
                given.append(secret)
            return secret

        queue = sr.FleetSubmit(
            jobs, skipped=skipped, approve=approve or (lambda checked: {c.id: sr.Approval(True) for c in checked}),
            pin_for=pin_for, emit=events.append, client_factory=self.client_factory, **kwargs,
        )
        outcomes = queue.run()
        return {o.id: o for o in outcomes}, events, given


@pytest.fixture
def fleet(tmp_path):
    world = Fleet(tmp_path)
    yield world
    world.close()


def test_check_all_then_send_one_after_another_a_wrong_pin_stops_only_that_one(fleet):
    pins = {kommunenr: pin_of(kommunenr) for kommunenr in IDS}
    pins["0412"] = pin_of("0412") + "-wrong"
    outcomes, events, given = fleet.round(pins, check_concurrency=2)
    assert {key: o.state for key, o in outcomes.items()} == {"0403": "confirmed", "0412": "failed-safe", "0415": "confirmed", "0417": "confirmed"}
    assert outcomes["0412"].exit_code == 4  # auth: the others went on
    assert fleet.servers["0412"].logins <= 1 and fleet.servers["0412"].account.failures == 1  # tried once, not again
    for kommunenr in ("0403", "0415", "0417"):
        assert outcomes[kommunenr].receipt_id and len(fleet.servers[kommunenr].committed()) == 1
    # every municipality was checked before the first was sent, and only one was sent at a time
    kinds = [(type(e).__name__, getattr(e, "id", "")) for e in events if not isinstance(e, sr.JobEvent)]
    first_send = next(i for i, (kind, _) in enumerate(kinds) if kind == "JobSending")
    assert sum(1 for kind, _ in kinds[:first_send] if kind == "JobChecked") == 4
    sending = 0
    for kind, _ in kinds[first_send:]:
        sending += {"JobSending": 1, "JobFinished": -1}.get(kind, 0)
        assert sending <= 1
    # each PIN only for its own run, cleared after it
    assert all(not secret.is_set for secret in given)


def test_every_journal_holds_only_its_own_municipality_and_no_pin_or_fnr_anywhere(fleet):
    outcomes, events, _ = fleet.round({k: pin_of(k) for k in IDS})
    assert all(o.state == "confirmed" for o in outcomes.values())
    for entry in fleet.entries:
        subs = Journal(entry.profile.secure_dir).submissions()
        assert subs and {(s.kommunenr, s.bydel) for s in subs} == {(entry.id, "00")}
    captured = repr(events) + repr(outcomes)
    for path in fleet.tmp.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for kommunenr in IDS:
                assert pin_of(kommunenr).encode() not in data, path
                if f"secure-{kommunenr}" not in str(path):  # plaintext only in its own secure dir
                    for fnr in fleet.fnrs[kommunenr]:
                        assert fnr.encode() not in data, (path, kommunenr)
    for kommunenr in IDS:
        assert pin_of(kommunenr) not in captured
        assert not any(fnr in captured for fnr in fleet.fnrs[kommunenr])


def test_only_the_approved_are_sent_and_no_pin_means_nothing_sent(fleet):
    outcomes, _, _ = fleet.round(
        {"0403": pin_of("0403"), "0415": pin_of("0415")},
        approve=lambda checked: {"0403": sr.Approval(True), "0412": sr.Approval(True), "0415": sr.Approval(True)},
    )
    assert outcomes["0403"].state == outcomes["0415"].state == "confirmed"
    assert outcomes["0412"].state == "not-sent" and fleet.servers["0412"].logins == 0  # approved, no PIN given
    assert outcomes["0417"].state == "not-sent" and fleet.servers["0417"].logins == 0  # not approved
    # the not sent are journalled, unsent, and a later round sends them (never twice for the others)
    again, _, _ = fleet.round({k: pin_of(k) for k in IDS})
    assert again["0412"].state == again["0417"].state == "confirmed"
    assert again["0403"].state != "confirmed" or len(fleet.servers["0403"].committed()) == 1
    assert all(len(server.committed()) == 1 for server in fleet.servers.values())


def test_a_municipality_locked_a_moment_ago_is_not_tried(fleet):
    for _ in range(3):
        outcomes, _, _ = fleet.round({"0412": "WRONG-PIN-1"}, approve=lambda checked: {"0412": sr.Approval(True)})
        if outcomes["0412"].message and fleet.servers["0412"].account.locked:
            break
    assert fleet.servers["0412"].account.locked
    logins = fleet.servers["0412"].logins
    outcomes, _, _ = fleet.round({k: pin_of(k) for k in IDS})
    assert outcomes["0412"].state == "skipped" and fleet.servers["0412"].logins == logins
    assert all(outcomes[k].state == "confirmed" for k in ("0403", "0415", "0417"))


def test_cancel_before_sending_sends_nothing(fleet):
    import threading

    cancel = threading.Event()

    def approve(checked):
        cancel.set()
        return {c.id: sr.Approval(True) for c in checked}

    outcomes, _, _ = fleet.round({k: pin_of(k) for k in IDS}, approve=approve, cancel=cancel)
    assert all(not o.ok for o in outcomes.values())
    assert all(server.logins == 0 for server in fleet.servers.values())


def write_configs(fleet: Fleet) -> Path:
    """The fleet's profiles as files beside a config file (the CLI reads those)."""
    import os

    from iplos_tui.core.config import save_profile

    conf = fleet.tmp / "conf" / "config.toml"
    save_profile(fleet.entries[0].profile.replace(kommunenr="", secure_dir=fleet.tmp / "template"), conf)
    for entry in fleet.entries:
        save_profile(entry.profile, conf.parent / "profiles" / f"{entry.id}.toml")
    os.chmod(conf.parent / "profiles", 0o700)
    return conf


def test_iplos_fleet_submit_from_a_drop_folder_with_pins_on_stdin(fleet, monkeypatch, capsys):
    import io
    import json
    import shutil

    from iplos_tui import cli

    conf = write_configs(fleet)
    drop = fleet.tmp / "secure-0403" / "drop"  # the drop folder lies in a secure directory
    drop.mkdir(mode=0o700)
    for kommunenr in ("0403", "0412", "0415"):
        shutil.move(fleet.extracts[kommunenr], drop / f"from-care-system-{kommunenr}.xml")
    pins = "\n".join(f"{k} {pin_of(k)}" for k in ("0403", "0412", "0415")) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(pins))
    code = cli.main(["--config", str(conf), "fleet", "submit", "--folder", str(drop), "--pins-stdin", "--yes", "--json"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert code == 0, captured.err
    assert {m["id"]: m["state"] for m in data["municipalities"]} == {"0403": "confirmed", "0412": "confirmed", "0415": "confirmed"}
    assert fleet.servers["0417"].logins == 0  # no extract for 0417 in the folder: not in the round
    for kommunenr in IDS:
        assert pin_of(kommunenr) not in captured.out + captured.err


def test_pin_lines_are_refused_without_echoing_the_pin(fleet, monkeypatch, capsys):
    import io

    from iplos_tui import cli

    conf = write_configs(fleet)
    for text in (f"0403 {pin_of('0403')}\n0403 {pin_of('0403')}\n", f"9999 {pin_of('0403')}\n", f"0403{pin_of('0403')}\n", "0403 ab\n"):
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        code = cli.main(["--config", str(conf), "fleet", "submit", "--extract", f"0403={fleet.extracts['0403']}", "--pins-stdin", "--yes"])
        captured = capsys.readouterr()
        assert code == 2, captured.err
        assert pin_of("0403") not in captured.out + captured.err and "Traceback" not in captured.err
    assert fleet.servers["0403"].logins == 0


def test_errors_are_sent_only_where_accepted_and_the_board_shows_what_was_accepted(fleet):
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.fleet.board import board_row

    for kommunenr in ("0412", "0415"):  # extracts with findings of level error (sendable, by choice)
        generate_file(fleet.extracts[kommunenr], persons=200, kommunenr=kommunenr, year=2017, error_rate=0.05, seed=7)
        own_person_ids(fleet.extracts[kommunenr], offset=500000 + int(kommunenr))
    seen: dict = {}

    def approve(checked):
        seen.update({c.id: c for c in checked})
        return {c.id: sr.Approval(True, accept_errors=c.id == "0412") for c in checked}

    outcomes, _, _ = fleet.round({k: pin_of(k) for k in IDS}, approve=approve)
    assert seen["0412"].needs_acceptance and seen["0412"].levels.get("error", 0) > 0
    assert outcomes["0412"].state == "confirmed"
    assert outcomes["0415"].state == "refused" and fleet.servers["0415"].logins == 0  # not accepted: nothing sent
    row = board_row(next(e for e in fleet.entries if e.id == "0412"), dt.datetime.now().astimezone())
    assert row.accepted.get("error") == seen["0412"].levels["error"]
