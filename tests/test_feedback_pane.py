"""The Feedback pane driven by the keyboard against real files and the sandbox gateway over TLS:
fetch (password in a masked prompt), unlock (PIN in memory or asked; a wrong one answered in
place), entries, table with headers, filter, counts, pages, reveal through the hook, export into
the secure directory only, delete with confirmation; hostile cells shown as plain text;
snapshots at 80x24; the PIN canary in no file afterwards."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from tests.support.gateway import GW_PASSWORD, USER
from zipcraft import (
    FEEDBACK_NAME,
    FEILLISTE,
    KONTROLL,
    RawEntry,
    aes_extra,
    aes_zip,
    raw_zip,
)

from iplos_tui.app import IplosApp
from iplos_tui.core.config import Profile
from iplos_tui.core.feedback import tables as feedback_tables
from iplos_tui.core.journal import JOURNAL_FILE as REVEAL_LOG
from iplos_tui.core.journal import Journal
from iplos_tui.core.secrets import Secret
from iplos_tui.core.i18n import t
from iplos_tui.sandbox.demo import DEMO_PROFILE
from iplos_tui.dialogs.confirm import ConfirmDialog
from iplos_tui.dialogs.secret_prompt import SecretPromptDialog
from iplos_tui.dialogs.export import ExportDialog
from iplos_tui.screens.feedback import PAGE_SIZE, FeedbackScreen
from tests.support import FNR_CANARY, FROZEN_NOW, PIN_CANARY
from tests.support import wait_until as wait

STAMP = dt.datetime(2018, 1, 9, 8, 0, tzinfo=dt.timezone.utc)
FNR_IN_LIST = "01017012345"  # the fnr-shaped value in zipcraft.FEILLISTE
HOSTILE_NAME = "040300_iplos_tilbakemelding_20170301.zip"
HOSTILE = (
    "\ufefflokal_id;regel;alvorlighet;[bold]melding[/bold]\r\n"
    'P1;[@click=app.quit]x[/];feil;"\x1b]0;X\x07tittel"\r\n'
    "P2;F9;[red]advarsel[/red];\x1b[2J\x1b[31mrød\x1b[0m\r\n"
    f"P3;F9;advarsel;{FNR_CANARY} og [link=https://example.invalid]lenke[/link]\r\n"
    "P4;F10;feil;\u202eesrever\u202c og tab\there\r\n"
).encode("utf-8")


# ---- fixtures -------------------------------------------------------------------------------

@pytest.fixture
def secure(isolated_home) -> Path:
    # under $HOME, so the pane shows it as ~/secure (stable snapshots)
    path = Path(isolated_home) / "secure"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def profile(secure, gateway, tls) -> Profile:
    return DEMO_PROFILE.replace(
        postmottak=USER,
        secure_dir=secure,
        ssb_certificate=None,
        tpf_certificate=None,
        gateway_url=gateway.url,
        gateway_ca_bundle=tls.ca,
    )


def make_app(profile: Profile, tmp_path: Path) -> IplosApp:
    return IplosApp(profile, tmp_path / "config.toml", clock=lambda: FROZEN_NOW, initial_mode="feedback")


def put_local(secure: Path, name: str, data: bytes, mtime: float | None = None) -> Path:
    folder = secure / "feedback"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    path.chmod(0o600)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def feedback_zip(pin: str = PIN_CANARY, **entries: bytes) -> bytes:
    return aes_zip(entries or {"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": KONTROLL}, pin)


def text(widget) -> str:
    return str(widget.render())


def status(app) -> str:
    return text(_pane(app).query_one("#fb-status"))


def _pane(app) -> FeedbackScreen:
    for screen in reversed(app.screen_stack):
        if isinstance(screen, FeedbackScreen):
            return screen
    raise AssertionError("no feedback pane")


def grid_rows(pane) -> list[list[str]]:
    grid = pane.query_one("#fb-table")
    return [[cell.plain for cell in grid.get_row_at(i)] for i in range(grid.row_count)]


def grid_headers(pane) -> list[str]:
    return [column.label.plain for column in pane.query_one("#fb-table").columns.values()]


async def type_text(pilot, value: str) -> None:
    await pilot.press(*value)


async def fill_and_enter(pilot, app, field: str, value: str) -> None:
    """Put ``value`` into a field of the prompt and press Enter (typing is tested in the main flow;
    each pilot key costs ~60-130 ms here)."""
    app.screen.query_one(field).value = value
    await pilot.press("enter")


async def open_selected(pilot, app, pin: str | None) -> FeedbackScreen:
    """Enter on the highlighted zip; type the PIN when asked; wait until the archive is open."""
    pane = _pane(app)
    await pilot.press("enter")
    if pin is not None:
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await type_text(pilot, pin)
        await pilot.press("enter")
    await wait(pilot, lambda: pane.archive is not None and pane.current_view() is not None and pane.current_view().table is not None)
    await pilot.pause(0.05)
    return pane


def files_under(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            found.extend(Path(dirpath) / name for name in names)
    return found


def assert_no_canary(*roots: Path, screen: str = "") -> None:
    for canary in (PIN_CANARY, GW_PASSWORD):
        assert canary not in screen
        for path in files_under(*roots):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            assert canary.encode() not in data, f"{canary} found in {path}"


# ---- the whole flow ---------------------------------------------------------------------------

async def test_fetch_unlock_browse_reveal_export_delete(profile, gateway, secure, tmp_path, isolated_home):
    file_id = gateway.put_file(USER, FEEDBACK_NAME, feedback_zip(), upload_stamp=STAMP)
    app = make_app(profile, tmp_path)
    screens: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await wait(pilot, lambda: pane.listed)
        assert pane.query_one("#fb-zips").row_count == 0
        assert "ikke sjekket" in text(pane.query_one("#fb-folder"))

        # fetch: the password is asked in a masked field and goes nowhere else
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        field = app.screen.query_one("#prompt-password")
        assert field.password
        await type_text(pilot, GW_PASSWORD)
        screens.append(app.export_screenshot())
        await pilot.press("enter")
        await wait(pilot, lambda: not pane.fetching and len(pane.local) == 1)
        assert app.screen is pane
        local = secure / "feedback" / FEEDBACK_NAME
        import hashlib

        assert hashlib.sha1(local.read_bytes()).hexdigest() == gateway.files[file_id].sha1
        assert stat.S_IMODE(local.stat().st_mode) == 0o600
        assert "1 fil hentet til ~/secure/feedback" in status(app)
        row = pane.query_one("#fb-zips").get_row_at(0)
        assert [cell.plain for cell in row][:3] == ["ny", "lokalt", "07.02.2017"]
        assert "filsluse: 1 fil, 0 ny" in text(pane.query_one("#fb-folder"))
        assert [f.is_new for f in gateway.list_user_files(USER)] == [False]  # marked not new
        assert gateway.list_user_files(USER)[0].id == file_id

        # unlock: a wrong PIN is answered in place, the field cleared
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        prompt = app.screen
        await type_text(pilot, "0000")
        await pilot.press("enter")
        await wait(pilot, lambda: "skadet fil" in text(prompt.query_one("#prompt-error")))
        assert "Feil passord eller skadet fil" in text(prompt.query_one("#prompt-error"))
        assert prompt.query_one("#prompt-pin").value == ""
        assert app.screen is prompt and pane.archive is None
        assert app.pin is None
        screens.append(app.export_screenshot())
        await type_text(pilot, PIN_CANARY)
        await pilot.press("enter")
        await wait(pilot, lambda: pane.archive is not None and pane.current_view().table is not None)
        assert app.screen is pane
        assert app.pin is not None and app.pin.reveal() == PIN_CANARY  # proved right: kept in memory

        # entries, the table with its headers, the counts
        entries = pane.query_one("#fb-entries")
        assert entries.row_count == 2
        await wait(pilot, lambda: all(view.table is not None for view in pane.browser.entries.values()))
        assert [entries.get_row_at(i)[0].plain for i in range(2)] == ["feilliste.csv", "kontrolltabeller.csv"]
        assert [entries.get_row_at(i)[1].plain for i in range(2)] == ["3", "156"]
        assert grid_headers(pane) == ["Rad", "lokal_id", "regel", "alvorlighet", "felt", "verdi", "melding"]
        rows = grid_rows(pane)
        assert len(rows) == 3
        assert rows[0][5] == "•" * 11 and FNR_IN_LIST not in str(rows)
        counts = text(pane.query_one("#fb-counts"))
        assert "Per regel: F014 2 · F001 1" in counts
        assert "Per alvorlighet: advarsel 2 · feil 1" in counts
        assert "1 fnr maskert" in text(pane.query_one("#fb-page"))

        # search / filter
        await pilot.press("s")
        assert app.focused is pane.query_one("#fb-filter")
        await type_text(pilot, "f014")
        await pilot.press("enter")
        await wait(pilot, lambda: pane.browser.indices is not None)
        assert [r[0] for r in grid_rows(pane)] == ["2", "3"]
        assert "søk «f014» i 3 rader" in text(pane.query_one("#fb-page"))
        await pilot.press("s", "backspace", "backspace", "backspace", "backspace", "enter")
        await wait(pilot, lambda: pane.browser.indices is None)
        assert len(grid_rows(pane)) == 3

        # reveal: a confirmation; "n" keeps them masked; "j" reveals through the hook
        await pilot.press("v")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait(pilot, lambda: app.screen is pane)
        assert FNR_IN_LIST not in str(grid_rows(pane))
        assert not (secure / REVEAL_LOG).exists()
        await pilot.press("v")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("j")
        await wait(pilot, lambda: pane.current_view().revealed is not None)
        assert grid_rows(pane)[0][5] == FNR_IN_LIST
        assert "1 fnr VISES" in text(pane.query_one("#fb-page"))
        records = Journal(secure).events("reveal_fnr")
        assert len(records) == 1
        assert records[0] | {"at": "", "shown_at": "", "user": "", "uid": 0, "seq": 0} == {
            "seq": 0, "at": "", "shown_at": "", "id": "event:reveal_fnr", "state": "note",
            "zip": FEEDBACK_NAME, "entry": "feilliste.csv", "rows": "all", "cells": 1, "user": "", "uid": 0,
        }
        assert Journal(secure).submissions() == []  # an event is not a submission in F3's history
        assert FNR_IN_LIST not in (secure / REVEAL_LOG).read_text()
        assert stat.S_IMODE((secure / REVEAL_LOG).stat().st_mode) == 0o600
        await pilot.press("v")  # masking again needs no question
        assert pane.current_view().revealed is None and grid_rows(pane)[0][5] == "•" * 11

        # export into the secure directory (the path is shown and editable)
        await pilot.press("e")
        await wait(pilot, lambda: isinstance(app.screen, ExportDialog))
        target = secure / "feedback" / "040300_iplos_tilbakemelding_20170207"
        assert app.screen.query_one("#export-path").value == "~/secure/feedback/040300_iplos_tilbakemelding_20170207"
        await pilot.press("enter")
        await wait(pilot, lambda: "eksportert" in status(app))
        assert "2 filer eksportert til ~/secure/feedback/040300_iplos_tilbakemelding_20170207" in status(app)
        assert (target / "feilliste.csv").read_bytes() == FEILLISTE
        assert (target / "kontrolltabeller.csv").read_bytes() == KONTROLL
        assert stat.S_IMODE(target.stat().st_mode) == 0o700
        assert stat.S_IMODE((target / "feilliste.csv").stat().st_mode) == 0o600

        # close: back to the list, the decrypted content dropped
        await pilot.press("l")
        assert pane.archive is None and not pane.browser.entries
        assert app.focused is pane.query_one("#fb-zips")

        # delete: Esc and "Avbryt" keep the file; "j" deletes it
        await pilot.press("d")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert app.focused is app.screen.query_one("#confirm-no")  # the safe choice has the focus
        await pilot.press("escape")
        await wait(pilot, lambda: app.screen is pane)
        await pilot.press("d")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("enter")  # Enter on the focused «Avbryt»
        await wait(pilot, lambda: app.screen is pane)
        assert local.exists() and "Ingenting slettet" in status(app)
        await pilot.press("d")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("j")
        await wait(pilot, lambda: not local.exists() and not pane.local)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 0)
        assert "er slettet" in status(app)
        screens.append(app.export_screenshot())
    assert feedback_tables._reveal_hooks == []  # the pane's hook left with it
    assert_no_canary(tmp_path, Path(isolated_home), screen="\n".join(screens))


async def test_pin_in_memory_opens_without_asking(profile, secure, tmp_path):
    put_local(secure, FEEDBACK_NAME, feedback_zip())
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        assert not isinstance(app.screen, SecretPromptDialog)
        assert grid_headers(pane)[1] == "lokal_id"


async def test_wrong_pin_in_memory_asks_with_the_message(profile, secure, tmp_path):
    put_local(secure, FEEDBACK_NAME, feedback_zip())
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret("PIN-CANARY-0001"))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await pilot.press("o")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        assert "Feil passord eller skadet fil" in text(app.screen.query_one("#prompt-error"))
        assert app.screen.query_one("#prompt-pin").value == ""
        await pilot.press("escape")  # cancelling leaves nothing open
        await wait(pilot, lambda: app.screen is pane)
        assert pane.archive is None and "Avbrutt" in status(app)


async def test_damaged_zip_is_the_same_message_and_nothing_is_written(profile, secure, tmp_path):
    data = bytearray(feedback_zip())
    data[120] ^= 0x01  # one ciphertext byte of the first entry
    put_local(secure, FEEDBACK_NAME, bytes(data))
    before = sorted(p.name for p in files_under(secure))
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-pin", PIN_CANARY)
        await wait(pilot, lambda: "skadet fil" in text(app.screen.query_one("#prompt-error")))
        assert pane.archive is None
    assert sorted(p.name for p in files_under(secure)) == before


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("030100_iplos_tilbakemelding_20170207.zip", None, "kommune"),
        (FEEDBACK_NAME, raw_zip([RawEntry("../../etc/x.csv", b"x" * 40, extra=aes_extra())]), "ulovlig navn"),
        (FEEDBACK_NAME, b"not a zip at all", "ikke en zip-fil"),
    ],
)
async def test_a_refused_zip_never_gets_to_the_pin(profile, secure, tmp_path, name, data, expected):
    put_local(secure, name, data if data is not None else feedback_zip())
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await pilot.press("enter")
        await wait(pilot, lambda: "avvist" in status(app))
        assert expected in status(app)
        assert not isinstance(app.screen, SecretPromptDialog) and pane.archive is None


async def test_big_table_is_paged_and_filtered(profile, secure, tmp_path):
    total = PAGE_SIZE * 2 + 234
    body = "".join(f"P{i:05d};F{i % 7:03d};{'feil' if i % 3 else 'advarsel'};verdi {i}\r\n" for i in range(total))
    put_local(secure, FEEDBACK_NAME, feedback_zip(**{"feilliste.csv": ("lokal_id;regel;alvorlighet;melding\r\n" + body).encode()}))
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        grid = pane.query_one("#fb-table")
        assert grid.row_count == PAGE_SIZE
        assert pane.page_count() == 3
        assert "side 1/3" in text(pane.query_one("#fb-page"))
        assert pane.check_action("prev_page", ()) is None  # shown, not usable on the first page
        await pilot.press("n", "n")
        assert grid.row_count == 234 and grid.get_row_at(0)[0].plain == str(2 * PAGE_SIZE + 1)
        assert "Rad 1 001–1 234 av 1 234" in text(pane.query_one("#fb-page"))
        await pilot.press("n")  # past the last page: nothing happens
        assert pane.browser.page == 2
        await pilot.press("p")
        assert grid.get_row_at(0)[0].plain == str(PAGE_SIZE + 1)
        counts = text(pane.query_one("#fb-counts"))
        assert f"F000 {len(range(0, total, 7))}" in counts and "feil " in counts
        await pilot.press("s", *"F003", "enter")
        assert app.focused is grid
        await wait(pilot, lambda: pane.browser.indices is not None)
        assert pane.browser.page == 0 and grid.row_count == len(range(3, total, 7))
        assert all(grid.get_row_at(i)[2].plain == "F003" for i in range(grid.row_count))
        await pilot.press("s", "escape")  # Esc clears the filter (issue 14 item 11) and goes to the table
        assert app.focused is grid and pane.browser.indices is None
        assert pane.browser.filter_input.value == "" and grid.row_count == PAGE_SIZE


async def test_hostile_cells_are_plain_text(profile, secure, tmp_path):
    long_cell = "A" * 1_000_000
    cp1252 = "lokal_id;melding\r\nP9;Bjørn Ærlig – «sitat»\r\n".encode("cp1252")
    put_local(secure, HOSTILE_NAME, feedback_zip(**{"feilliste.csv": HOSTILE, "lang.csv": f"a;b\r\n1;{long_cell}\r\n".encode(), "cp1252.csv": cp1252}))
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        headers = grid_headers(pane)
        assert headers[4] == "[bold]melding[/bold]"
        rows = grid_rows(pane)
        assert rows[0][2] == "[@click=app.quit]x[/]"
        assert rows[0][4] == "␛]0;X␇tittel"
        assert rows[1][3] == "[red]advarsel[/red]" and rows[1][4].startswith("␛[2J␛[31mrød")
        assert FNR_CANARY not in str(rows) and "[link=" in rows[2][4]
        assert "<U+202E>" in rows[3][4] and "␉" in rows[3][4]
        screen = app.export_screenshot()
        assert "\x1b" not in screen and "\x07" not in screen
        await pilot.click("#fb-table", offset=(20, 2))  # a click on the "@click" cell is only a click
        assert app.is_running
        counts = text(pane.query_one("#fb-counts"))
        assert "[@click=app.quit]x[/] 1" in counts
        # the 1 MB cell is cut for display; the cp1252 table is read as such
        entries = pane.query_one("#fb-entries")
        entries.focus()
        await pilot.press("down")
        await wait(pilot, lambda: pane.browser.entry_name == "lang.csv" and pane.current_view().table is not None)
        await pilot.pause(0.05)
        assert grid_rows(pane)[0][2] == "A" * 39 + "…"
        await pilot.press("down")
        await wait(pilot, lambda: pane.browser.entry_name == "cp1252.csv" and pane.current_view().table is not None)
        await pilot.pause(0.05)
        assert grid_rows(pane)[0][2] == "Bjørn Ærlig – «sitat»"
        assert app.is_running


async def test_export_outside_the_secure_directory_is_refused(profile, secure, tmp_path):
    put_local(secure, FEEDBACK_NAME, feedback_zip())
    outside = tmp_path / "outside"
    escape_link = secure / "feedback" / "link-out"
    escape_link.parent.mkdir(exist_ok=True)
    escape_link.symlink_to(outside, target_is_directory=True)
    outside.mkdir()
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        for target in (outside / "x", escape_link / "x"):
            await pilot.press("e")
            await wait(pilot, lambda: isinstance(app.screen, ExportDialog))
            app.screen.query_one("#export-path").value = str(target)
            await pilot.press("enter")
            await wait(pilot, lambda: "utenfor den sikre mappen" in status(app))
            assert "Ikke eksportert" in status(app)
            pane.status("")
        await pilot.press("e")
        await wait(pilot, lambda: isinstance(app.screen, ExportDialog))
        await pilot.press("escape")
        await wait(pilot, lambda: app.screen is pane)
        assert "Ingenting eksportert" in status(app)
    assert list(outside.iterdir()) == []


async def test_reveal_is_refused_when_it_cannot_be_logged(profile, secure, tmp_path):
    put_local(secure, FEEDBACK_NAME, feedback_zip())
    (secure / REVEAL_LOG).mkdir()  # the log cannot be written: no reveal
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        await pilot.press("v")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("j")
        await wait(pilot, lambda: "loggføringen feilet" in status(app))
        assert pane.current_view().revealed is None
        assert FNR_IN_LIST not in str(grid_rows(pane))


async def test_gateway_wrong_password_then_right(profile, gateway, secure, tmp_path):
    gateway.put_file(USER, FEEDBACK_NAME, feedback_zip(), upload_stamp=STAMP)
    gateway.put_file(USER, "notes \x1b[31m[bold]../x.txt", b"hostile name", upload_stamp=STAMP)
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await wait(pilot, lambda: pane.listed)
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        prompt = app.screen
        await fill_and_enter(pilot, app, "#prompt-password", "Wrong-passw0rd")
        await wait(pilot, lambda: "feil" in text(prompt.query_one("#prompt-error")).lower())
        assert prompt.query_one("#prompt-password").value == "" and app.screen is prompt
        assert not pane.fetching
        assert t("feedback_screen.logging_in") not in status(app)  # issue 14 item 18: not stale
        await fill_and_enter(pilot, app, "#prompt-password", GW_PASSWORD)
        await wait(pilot, lambda: not pane.fetching and len(pane.local) == 1)
        assert sorted(p.name for p in (secure / "feedback").iterdir()) == [FEEDBACK_NAME]  # the other is not ours
        assert "1 fil ble ikke hentet" in status(app) and "navnet til en tilbakemelding" in status(app)
        shown = [pane.query_one("#fb-zips").get_row_at(i)[4].plain for i in range(2)]  # the other stays listed, remote
        assert "\x1b" not in str(shown) and pane.query_one("#fb-zips").get_row_at(1)[1].plain == "filsluse"
    assert gateway.users[USER.casefold()].failed_logins == 0


async def test_gateway_demands_a_new_password(profile, gateway, secure, tmp_path):
    gateway.add_user(USER, GW_PASSWORD, force_change_password=True)
    gateway.put_file(USER, FEEDBACK_NAME, feedback_zip(), upload_stamp=STAMP)
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-password", GW_PASSWORD)
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog) and app.screen.query("#prompt-new"))
        prompt = app.screen
        assert "nytt passord" in text(prompt.query_one("#prompt-error")).lower()
        requests = len(gateway.requests)
        # Enter walks through the fields; a new password like the username is refused here,
        # before anything is sent; two different ones too
        for new, again, expected in (("postmottak1", "postmottak1", "brukernavn"), ("Nytt-Passord-77", "Nytt-Passord-78", "ikke like")):
            prompt.query_one("#prompt-password").value = GW_PASSWORD
            await pilot.press("enter")
            assert app.focused is prompt.query_one("#prompt-new")
            prompt.query_one("#prompt-new").value = new
            await pilot.press("enter")
            await fill_and_enter(pilot, app, "#prompt-again", again)
            assert expected in text(prompt.query_one("#prompt-error")).lower()
            assert all(field.value == "" for field in prompt.query("Input"))
        assert len(gateway.requests) == requests  # refused before anything was sent
        prompt.query_one("#prompt-password").value = GW_PASSWORD
        prompt.query_one("#prompt-new").value = "Nytt-Passord-77"
        await fill_and_enter(pilot, app, "#prompt-again", "Nytt-Passord-77")
        await wait(pilot, lambda: not pane.fetching and len(pane.local) == 1)
        assert app.screen is pane
        assert len(gateway.requests) > requests
    assert not gateway.users[USER.casefold()].force_change_password


async def test_fetch_against_a_hostile_gateway_and_cancel(gateway_server, profile, secure, tmp_path):
    """A wrong SHA-1 is discarded and named; a dripping download stops at «c» and leaves no
    temp file; a server error with markup and escapes is shown as plain text."""
    from fault_gateway import FaultGateway

    holder, _running = gateway_server
    fault = FaultGateway()
    holder.target = fault.app
    fault.add("11", FEEDBACK_NAME, feedback_zip(), fault="wrong_sha1")
    fault.add("12", "040300_iplos_tilbakemelding_20170208.zip", feedback_zip(), fault="slow")
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        assert pane.check_action("cancel_fetch", ()) is False
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-password", "anything1")
        await wait(pilot, lambda: "Henter 2/2" in status(app))
        assert pane.check_action("cancel_fetch", ()) is True and pane.check_action("fetch", ()) is None
        await pilot.press("c")
        await wait(pilot, lambda: not pane.fetching, limit=10)
        shown = status(app)
        assert "SHA-1-summen stemmer ikke" in shown and "avbrutt" in shown.lower()
        assert not (secure / "feedback").exists() or list((secure / "feedback").iterdir()) == []
        assert fault.calls["patch"] == 0  # nothing fetched, nothing marked
        fault.list_mode = "error"
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-password", "anything1")
        await wait(pilot, lambda: not pane.fetching and "status 500" in status(app))
        shown = status(app)
        assert "[@click=app.quit]x[/]" in shown and "Boom [bold]" in shown and "\x1b" not in shown
        assert app.is_running


async def test_every_action_is_in_the_palette(profile, tmp_path):
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)):
        pane = _pane(app)
        commands = list(pane.palette_commands())
        bound = {binding.action for binding in FeedbackScreen.BINDINGS} - {"clear_filter"}
        assert {command.callback.__name__.removeprefix("action_") for command in commands} >= bound
        assert all(command.title and command.help for command in commands)


async def test_sandbox_session_prefills_password_and_pin_without_showing_them(tmp_path):
    """`iplos tui --sandbox`: the in-process sandbox session's gateway password and PIN are
    prefilled into the masked field, the sandbox's PIN is already in memory; Enter fetches,
    Enter opens; neither secret is on screen."""
    from iplos_tui.sandbox.session import start_session
    from iplos_tui.sandbox.ssb import feedback_name, make_feedback_zip

    with start_session(tmp_path / "sandbox") as session:
        prof = session.profile
        name = feedback_name(prof.kommunenr, prof.bydel, "20180109")
        session.server.gateway.put_file(prof.gateway_username, name, make_feedback_zip({"feilliste.csv": FEILLISTE}, session.pin.reveal()))
        app = IplosApp(prof, session.config_path, sandbox=session, clock=lambda: FROZEN_NOW, initial_mode="feedback")
        screens = []
        async with app.run_test(size=(80, 24)) as pilot:
            pane = _pane(app)
            await pilot.press("h")
            await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
            assert "sandkassen" in text(app.screen.query_one(".prompt-body"))
            screens.append(app.export_screenshot())
            await pilot.press("enter")
            await wait(pilot, lambda: not pane.fetching and len(pane.local) == 1)
            assert app.pin is not None  # the App took the sandbox's test PIN into memory
            await pilot.press("enter")
            await wait(pilot, lambda: pane.archive is not None and pane.current_view().table is not None)
            assert "F014 2" in text(pane.query_one("#fb-counts"))
            screens.append(app.export_screenshot())
        for secret in (session.pin.reveal(), session.gateway_password.reveal()):
            assert all(secret not in screen for screen in screens)


# ---- snapshots (80x24) ------------------------------------------------------------------------

def test_snapshot_hostile_cells(snap_compare, profile, secure, tmp_path):
    put_local(secure, HOSTILE_NAME, feedback_zip(**{"feilliste.csv": HOSTILE}))
    app = make_app(profile, tmp_path)

    async def run_before(pilot):
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        await app.workers.wait_for_complete()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_wrong_pin(snap_compare, profile, secure, tmp_path):
    put_local(secure, FEEDBACK_NAME, feedback_zip())
    app = make_app(profile, tmp_path)

    async def run_before(pilot):
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-pin", "0000")
        await wait(pilot, lambda: "skadet" in text(app.screen.query_one("#prompt-error")))

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshot_files_after_fetch(snap_compare, profile, gateway, secure, tmp_path):
    """A fetched new file (marked), an older local one, a file for another municipality, and one
    left on the gateway (not new, so not fetched)."""
    put_local(secure, "040300_iplos_tilbakemelding_20160208.zip", feedback_zip(), mtime=1_454_918_400)
    put_local(secure, "030100_iplos_tilbakemelding_20170207.zip", feedback_zip(), mtime=1_454_918_000)
    old = gateway.put_file(USER, "040300_iplos_tilbakemelding_20170110.zip", feedback_zip(), upload_stamp=STAMP - dt.timedelta(days=30))
    gateway.put_file(USER, FEEDBACK_NAME, feedback_zip(), upload_stamp=STAMP)
    with gateway._state():
        gateway.files[old].is_new = False
        gateway._save()
    app = make_app(profile, tmp_path)

    async def run_before(pilot):
        pane = _pane(app)
        await wait(pilot, lambda: pane.listed)
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        await fill_and_enter(pilot, app, "#prompt-password", GW_PASSWORD)
        await wait(pilot, lambda: not pane.fetching and len(pane.local) == 3)
        await app.workers.wait_for_complete()
        os.utime(secure / "feedback" / FEEDBACK_NAME, (1_515_484_800, 1_515_484_800))
        pane.refresh_local()
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_snapshots_hold_no_secret():
    folder = Path(__file__).parent / "__snapshots__"
    for path in folder.rglob("*.svg"):
        data = path.read_bytes()
        for canary in (PIN_CANARY, GW_PASSWORD, FNR_CANARY):
            assert canary.encode() not in data, f"{canary} in {path}"


async def test_the_gateway_password_may_never_be_the_pin(profile, gateway, secure, tmp_path):
    """Issue 11 item 15: a hostile gateway must not learn the zip password. The PIN typed as the
    gateway password, or chosen as the new one, is refused before anything is sent."""
    gateway.add_user(USER, GW_PASSWORD, force_change_password=True)
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.listed)
        await pilot.press("h")
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
        prompt = app.screen
        before = len(gateway.requests)
        await fill_and_enter(pilot, app, "#prompt-password", PIN_CANARY)
        await wait(pilot, lambda: "pin" in text(prompt.query_one("#prompt-error")).lower())
        assert len(gateway.requests) == before and app.screen is prompt
        await fill_and_enter(pilot, app, "#prompt-password", GW_PASSWORD)
        await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog) and app.screen.query("#prompt-new"))
        prompt = app.screen
        before = len(gateway.requests)
        prompt.query_one("#prompt-password").value = GW_PASSWORD
        prompt.query_one("#prompt-new").value = PIN_CANARY
        await fill_and_enter(pilot, app, "#prompt-again", PIN_CANARY)
        assert "pin" in text(prompt.query_one("#prompt-error")).lower()
        assert len(gateway.requests) == before


async def test_arrows_work_at_once_and_enter_opens_the_whole_row(profile, secure, tmp_path):
    """Issue 14 items 4 and 11: after opening, ↓ moves in the table without Tab; Enter on a row
    shows every column, SSB's long message uncut; wide control tables are read the same way."""
    from iplos_tui.dialogs.row_view import RowDialog

    message = "Mer enn 168 timer per uke er registrert for tjenesten; kontroller vedtaket og rett timetallet i fagsystemet før ny innsending"
    wide = ";".join(f"kolonne{i}" for i in range(30)) + "\r\n" + ";".join(str(i * 11) for i in range(30)) + "\r\n"
    put_local(secure, FEEDBACK_NAME, feedback_zip(**{
        "feilliste.csv": f"lokal_id;regel;alvorlighet;melding\r\nP1;F001;feil;kort\r\nP2;F014;advarsel;{message}\r\n".encode(),
        "kontrolltabeller.csv": wide.encode(),
    }))
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.remember_pin(Secret(PIN_CANARY))
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await open_selected(pilot, app, None)
        grid = pane.query_one("#fb-table")
        assert app.focused is grid
        await pilot.press("down")
        assert grid.cursor_row == 1
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, RowDialog))
        shown = "\n".join(str(w.render()) for w in app.screen.query(".row-value"))
        assert "fagsystemet før ny innsending" in shown.replace("\n", " ") and "…" not in shown
        await pilot.press("escape")
        await wait(pilot, lambda: app.screen is pane)
        pane.query_one("#fb-entries").move_cursor(row=1)
        await wait(pilot, lambda: pane.browser.entry_name == "kontrolltabeller.csv")
        grid.focus()
        await pilot.press("enter")
        await wait(pilot, lambda: isinstance(app.screen, RowDialog))
        labels = [str(w.render()) for w in app.screen.query(".row-label")]
        assert labels[-1] == "kolonne29" and str(app.screen.query(".row-value")[-1].render()) == "319"


async def test_deleting_a_zip_with_an_export_says_so_and_offers_the_choice(profile, secure, tmp_path):
    """Issue 14 item 21: the dialog names the export folder; «a» deletes both, «j» the zip only."""
    zip_path = put_local(secure, FEEDBACK_NAME, feedback_zip())
    export = secure / "feedback" / FEEDBACK_NAME.removesuffix(".zip")
    export.mkdir(mode=0o700)
    (export / "feilliste.csv").write_bytes(FEILLISTE)
    app = make_app(profile, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await wait(pilot, lambda: pane.query_one("#fb-zips").row_count == 1)
        await pilot.press("d")
        await wait(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        body = " ".join(str(w.render()) for w in app.screen.query("Static"))
        assert "eksportert mappe" in body and FEEDBACK_NAME.removesuffix(".zip") in body
        assert app.focused is app.screen.query_one("#confirm-no")
        await pilot.press("a")
        await wait(pilot, lambda: not zip_path.exists())
        await wait(pilot, lambda: not export.exists())


async def test_a_dripping_gateway_ends_the_fetch_with_a_message(profile, secure, tmp_path, tls):
    """Issue 11 item 6 in the TUI's worker: the request deadline holds there too; the pane can
    fetch again afterwards."""
    from tests.support.gateway import DripServer

    server = DripServer(tls, b"HTTP/1.1 200 OK\r\n", b"X-Slow: aaaaaaaa\r\n", interval=0.2)
    try:
        app = make_app(profile.replace(gateway_url=server.url, gateway_request_timeout=1.5), tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            pane = _pane(app)
            await pilot.press("h")
            await wait(pilot, lambda: isinstance(app.screen, SecretPromptDialog))
            prompt = app.screen
            await fill_and_enter(pilot, app, "#prompt-password", "anything1")
            await wait(pilot, lambda: "1,5 s" in text(prompt.query_one("#prompt-error")), limit=30)
            assert not pane.fetching and pane.check_action("fetch", ()) is True
    finally:
        server.close()
