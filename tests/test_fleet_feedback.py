"""`iplos fleet feedback`: every gateway account's feedback in one go against one sandbox with
several accounts (core/fleet/feedback_round.py on core/feedback/fetch.py's FeedbackFetch). Each
municipality's zip lands in its own secure directory only; a refused password stops only that
account; two profiles with one gateway user are asked once; no password is kept anywhere."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from iplos_tui.core.fleet import submit_round as sr
from iplos_tui.core.secrets import Secret

pytestmark = pytest.mark.timeout(180)

WRONG = "Wrong-pass-77"


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """A sandbox with 4 accounts; every municipality sent a small extract; 08:00 came."""
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.profiles import load_fleet
    from iplos_tui.sandbox.server import SandboxServer

    tmp = tmp_path_factory.mktemp("fleet-feedback")
    server = SandboxServer(tmp / "sandbox", accounts=4).start()
    try:
        entries = load_fleet(server.config_path).usable()
        extracts = {}
        for number, entry in enumerate(entries):
            extracts[entry.id] = Path(entry.profile.secure_dir) / "uttrekk.xml"
            generate_file(extracts[entry.id], persons=8, kommunenr=entry.profile.kommunenr, orgnr=entry.profile.orgnr, seed=number)
        jobs, skipped = sr.plan(entries, extracts, dt.datetime.now().astimezone())
        pins = {e.id: server.accounts.get(e.profile.kommunenr, e.profile.bydel).pin.reveal() for e in entries}
        outcomes = sr.FleetSubmit(jobs, skipped=skipped, approve=lambda checked: {c.id: sr.Approval(True) for c in checked},
                                  pin_for=lambda job: Secret(pins[job.id])).run()
        assert all(o.state == "confirmed" for o in outcomes)
        assert len(server.advance_clock()) == 4
        yield server, tmp, entries
    finally:
        server.stop()


def _password(server, entry) -> str:
    return server.accounts.get(entry.profile.kommunenr, entry.profile.bydel).gateway_password.reveal()


def _cli(monkeypatch, capsys, conf, stdin: str, *extra: str):
    from iplos_tui import cli

    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(["--config", str(conf), "fleet", "feedback", *extra])
    captured = capsys.readouterr()
    return code, captured


def test_all_accounts_in_one_go_a_wrong_password_stops_only_its_own(delivered, monkeypatch, capsys):
    from iplos_tui.core.feedback.store import feedback_dir
    from iplos_tui.core.fleet.board import board_row

    server, tmp, entries = delivered
    wrong = entries[2]
    lines = "".join(f"{e.id} {WRONG if e is wrong else _password(server, e)}\n" for e in entries)
    code, captured = _cli(monkeypatch, capsys, server.config_path, lines, "--passwords-stdin", "--json")
    data = {row["id"]: row for row in json.loads(captured.out)["profiles"]}
    assert code == 4, captured.err  # a refused password: the most serious outcome of the round
    assert data[wrong.id]["state"] == "failed" and data[wrong.id]["stored"] == 0
    for entry in entries:
        code6 = server.accounts.get(entry.profile.kommunenr, entry.profile.bydel).account.code
        zips = sorted(p.name for p in feedback_dir(Path(entry.profile.secure_dir)).glob("*.zip"))
        if entry is wrong:
            assert zips == []
            assert len(server.gateway.list_user_files(entry.profile.gateway_username)) == 1  # still there, new
        else:
            assert data[entry.id]["state"] == "fetched" and data[entry.id]["downloaded"] == 1
            assert [name[:6] for name in zips] == [code6]  # its own zip only
        row = board_row(entry, dt.datetime.now().astimezone())
        assert bool(row.feedback_local) is (entry is not wrong)
        assert bool(row.feedback_seen_error) is (entry is wrong) and row.feedback_gateway_new == 0
    # no password in any file or in the output
    secrets = {_password(server, e) for e in entries} | {WRONG}
    kept = {p for p in (tmp / "sandbox").rglob("gateway-password")}
    for path in tmp.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in kept:
            data_bytes = path.read_bytes()
            assert not any(s.encode() in data_bytes for s in secrets), path
    assert not any(s in captured.out + captured.err for s in secrets)


def test_profiles_sharing_a_gateway_user_are_asked_once_and_keep_their_own(delivered, tmp_path):
    from iplos_tui.core.fleet import feedback_round as fr

    server, _, entries = delivered
    owner, guest = entries[0], entries[1]
    shared = [owner, type(guest)(guest.id, guest.path, guest.profile.replace(gateway_user=owner.profile.gateway_username,
                                                                            secure_dir=tmp_path / "guest"))]
    (tmp_path / "guest").mkdir(mode=0o700)
    asked: list = []

    def password_for(account):
        asked.append(account)
        return Secret(_password(server, owner))

    from iplos_tui.core.feedback.fetch import FetchOptions

    # all files, not only the new ones: the first test fetched the owner's already
    outcomes = {o.id: o for o in fr.FleetFeedback(shared, password_for=password_for, options=FetchOptions(all_files=True)).run()}
    assert [a.ids for a in asked] == [(owner.id, guest.id)]  # one account, asked once
    assert outcomes[guest.id].state == "fetched" and outcomes[guest.id].stored == 0  # the owner's zip is not the guest's
    assert outcomes[guest.id].skipped_others == 1
    assert outcomes[owner.id].state == "fetched" and outcomes[owner.id].stored == 1
    assert not any(p.suffix == ".zip" for p in (tmp_path / "guest").rglob("*"))


def test_without_a_terminal_and_without_passwords_stdin_it_says_how(delivered, monkeypatch, capsys):
    server, _, _ = delivered
    code, captured = _cli(monkeypatch, capsys, server.config_path, "")
    assert code == 2 and "--passwords-stdin" in captured.err and "Traceback" not in captured.err


def test_a_bad_password_line_is_refused_by_its_number_without_echo(delivered, monkeypatch, capsys):
    server, _, entries = delivered
    secret = _password(server, entries[0])
    code, captured = _cli(monkeypatch, capsys, server.config_path, f"{entries[0].id}{secret}\n", "--passwords-stdin")
    assert code == 2 and "1" in captured.err and secret not in captured.out + captured.err


async def test_the_board_pane_fetches_for_all_asking_each_password_in_a_masked_dialog(delivered):
    """F7, `f`: a dialog per gateway user; the password typed for one, Esc for the others."""
    from iplos_tui.app import IplosApp
    from iplos_tui.core.feedback.store import feedback_dir
    from iplos_tui.core.profiles import select_profile
    from iplos_tui.dialogs.secret_prompt import SecretPromptDialog
    from tests.support import wait_until

    server, tmp, entries = delivered
    target = entries[2]  # its file is still new on the gateway (the first test's password was wrong)
    profile, path = select_profile(server.config_path, entries[0].id)
    app = IplosApp(profile, path, fleet_config=server.config_path, initial_mode="board")
    asked: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: len(getattr(app.screen, "rows", [])) == 4)
        board = app.screen
        await pilot.press("f")
        while len(asked) < 4:
            await wait_until(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
            dialog = app.screen
            title = str(dialog.query_one(".prompt-title").render())
            asked.append(title)
            if target.id in title:
                await pilot.press(*_password(server, target), "enter")
            else:
                await pilot.press("escape")
            await wait_until(pilot, lambda shown=dialog: app.screen is not shown)
        await wait_until(pilot, lambda: app.screen is board and not board.busy)
    assert len(asked) == 4 and sum(target.id in title for title in asked) == 1
    zips = [p.name for p in feedback_dir(Path(target.profile.secure_dir)).glob("*.zip")]
    assert len(zips) == 1 and zips[0][:4] == target.profile.kommunenr
    secret = _password(server, target).encode()
    assert not any(secret in p.read_bytes() for p in Path(target.profile.secure_dir).rglob("*") if p.is_file())
