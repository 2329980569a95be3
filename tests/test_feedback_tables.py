"""Feedback tables: encodings, sanitising (I36), fnr masking, reveal hooks, counts, exports."""

from __future__ import annotations

import os
import stat

import pytest
from zipcraft import FEEDBACK_NAME, FEILLISTE, KONTROLL, PIN, aes_zip

from iplos_tui.core.feedback import RevealRefused, add_reveal_hook, open_feedback, parse_table, remove_reveal_hook
from iplos_tui.core.feedback.store import OutsideSecureDir, export_entries, list_local, safe_local_name
from iplos_tui.core.feedback.tables import MASK, decode_table_bytes
from iplos_tui.core.text import is_safe


def test_utf8_bom_header_rows_and_counts():
    table = parse_table(FEILLISTE, name="feilliste.csv", source=FEEDBACK_NAME)
    assert table.encoding == "utf-8-sig"
    assert table.header == ["lokal_id", "regel", "alvorlighet", "felt", "verdi", "melding"]
    assert len(table) == 3
    assert table.counts() == {"rule": {"F014": 2, "F001": 1}, "severity": {"advarsel": 2, "feil": 1}}
    assert table.rows[0][4] == MASK
    assert table.masked_cells == 1


@pytest.mark.parametrize(
    "raw,encoding,text",
    [
        ("a;b\nÆ;ø\n".encode("utf-8"), "utf-8", "Æ"),
        ("a;b\nÆ;€\n".encode("cp1252"), "cp1252", "€"),
        (b"a;b\n\xc6;\x81\n", "iso-8859-1", "Æ"),
    ],
)
def test_encodings_are_recognised(raw, encoding, text):
    _, found = decode_table_bytes(raw)
    assert found == encoding
    table = parse_table(raw)
    assert text in table.rows[0][0] + table.rows[0][1]
    assert all(is_safe(cell) for cell in table.rows[0])


def test_escapes_markup_and_huge_lines_are_harmless():
    """I36: ESC/C1 become placeholders, markup stays literal text, 1 MB cells are cut for display."""
    evil = "\x1b]0;owned\x07\x1b[2J[bold red]x[/][@click=app.quit]q[/]\u202e\x9b2J"
    huge = "A" * (1024 * 1024)
    raw = ("kol1;kol2;kol3\r\n" f"\"{evil}\";{huge};\"line\nbreak\"\r\n").encode("cp1252", errors="replace") + b"\x9b;\x81;x\r\n"
    table = parse_table(raw, name="evil.csv")
    for row in table.rows:
        for cell in row:
            assert is_safe(cell)
            assert "\x1b" not in cell and "\x9b" not in cell
    assert "[bold red]x[/]" in table.rows[0][0]  # kept literally; the UI renders it as plain text
    assert "␊" in table.rows[0][2]  # the newline inside a quoted cell is visible, not a row break
    shown = table.display_rows(limit=40)
    assert len(shown[0][1]) == 40 and shown[0][1].endswith("…")
    assert len(table.rows[0][1]) == len(huge)


def test_nul_bytes_do_not_crash():
    table = parse_table(b"a;b\n\x00x;y\n")
    assert table.rows[0][0].endswith("x") and is_safe(table.rows[0][0])


@pytest.mark.parametrize("value,masked", [("01017012345", True), ("010170 12345", True), ("41017012345", True), ("0101701234", False), ("010170123456", False), ("974550571", False)])
def test_fnr_shapes(value, masked):
    table = parse_table(f"x;y\n{value};fnr {value} i tekst\n".encode())
    assert (table.rows[0][0] == MASK) is masked
    assert (value not in table.rows[0][1]) is masked


def test_reveal_calls_hooks_first_and_refuses_when_a_hook_fails():
    table = parse_table(FEILLISTE, name="feilliste.csv", source=FEEDBACK_NAME)
    events = []
    add_reveal_hook(events.append)
    try:
        rows = table.reveal([0])
    finally:
        remove_reveal_hook(events.append)
    assert rows[0][4] == "01017012345"
    assert events[0].entry == "feilliste.csv" and events[0].rows == (0,) and events[0].cells == 1
    assert "01017012345" not in repr(events[0])

    def broken(event):
        raise OSError("journal is full")

    with pytest.raises(RevealRefused):
        table.reveal(hooks=[broken])
    assert table.rows[0][4] == MASK  # the default view never changes


def test_search_sees_only_masked_text():
    table = parse_table(FEILLISTE)
    assert table.search("F014") == [1, 2]
    assert table.search("0101701") == []


def test_safe_local_names():
    taken: set[str] = set()
    assert safe_local_name("../../etc/passwd", taken) == "passwd"
    assert safe_local_name("a/passwd", taken) == "passwd-2"
    assert safe_local_name("\x1b]0;x\x07.csv", taken) == "0_x_.csv"
    assert safe_local_name("\u202egpj.exe", taken) == "gpj.exe"
    assert safe_local_name("....", taken, fallback="entry-1") == "entry-1"
    assert safe_local_name("x" * 4000, taken) == "x" * 100


def test_export_only_inside_the_secure_dir(tmp_path, secure_dir):
    archive = open_feedback(aes_zip({"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": KONTROLL}), PIN, check_name=False)
    with pytest.raises(OutsideSecureDir):
        export_entries(archive, tmp_path / "outside", secure_dir)
    assert not (tmp_path / "outside").exists()
    (secure_dir / "link").symlink_to(tmp_path)
    with pytest.raises(OutsideSecureDir):
        export_entries(archive, secure_dir / "link" / "x", secure_dir)
    written = export_entries(archive, secure_dir / "feedback" / "ut", secure_dir)
    assert [p.name for p in written] == ["feilliste.csv", "kontrolltabeller.csv"]
    assert written[0].read_bytes() == FEILLISTE
    assert stat.S_IMODE(os.stat(written[0]).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(written[0].parent).st_mode) == 0o700


def test_list_local_skips_symlinks_and_others(tmp_path):
    (tmp_path / FEEDBACK_NAME).write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "link.zip").symlink_to(tmp_path / FEEDBACK_NAME)
    (tmp_path / "dir.zip").mkdir()
    found = list_local(tmp_path)
    assert [z.name for z in found] == [FEEDBACK_NAME]
    assert found[0].to_json("0403", "00")["matches_profile"] is True
    assert list_local(tmp_path / "missing") == []
