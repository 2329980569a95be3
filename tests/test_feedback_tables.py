"""Feedback tables: encodings, sanitising (I36), person-id masking, reveal hooks, counts, blocks, limits, exports."""

from __future__ import annotations

import os
import stat

import pytest
from zipcraft import FEEDBACK_NAME, FEILLISTE, KONTROLL, PIN, aes_zip

from iplos_tui.core.feedback import RevealRefused, add_reveal_hook, open_feedback, parse_table, remove_reveal_hook
from iplos_tui.core.feedback.store import OutsideSecureDir, export_entries, list_local, safe_local_name
from iplos_tui.core.feedback.tables import BLOCK_BYTES, MASK, TableLimits, TableRefusal, decode_table_bytes, read_entry
from iplos_tui.core.text import is_safe


def test_utf8_bom_header_rows_and_counts():
    table = parse_table(FEILLISTE, name="feilliste.csv", source=FEEDBACK_NAME)
    assert table.encoding == "utf-8-sig"
    assert table.header == ["lokal_id", "regel", "alvorlighet", "felt", "verdi", "melding"]
    assert len(table) == 3
    assert table.counts() == {"rule": {"F014": 2, "F001": 1}, "severity": {"advarsel": 2, "feil": 1}}
    assert table.page()[0][4] == MASK
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
    assert text in table.page()[0][0] + table.page()[0][1]
    assert all(is_safe(cell) for cell in table.page()[0])


def test_escapes_markup_and_huge_lines_are_harmless():
    """I36: ESC/C1 become placeholders, markup stays literal text, 1 MB cells are cut for display."""
    evil = "\x1b]0;owned\x07\x1b[2J[bold red]x[/][@click=app.quit]q[/]\u202e\x9b2J"
    huge = "A" * (1024 * 1024)
    raw = ("kol1;kol2;kol3\r\n" f"\"{evil}\";{huge};\"line\nbreak\"\r\n").encode("cp1252", errors="replace") + b"\x9b;\x81;x\r\n"
    table = parse_table(raw, name="evil.csv")
    for row in table.page():
        for cell in row:
            assert is_safe(cell)
            assert "\x1b" not in cell and "\x9b" not in cell
    assert "[bold red]x[/]" in table.page()[0][0]  # kept literally; the UI renders it as plain text
    assert "␊" in table.page()[0][2]  # the newline inside a quoted cell is visible, not a row break
    shown = table.page(cell_limit=40)
    assert len(shown[0][1]) == 40 and shown[0][1].endswith("…")
    assert len(table.page()[0][1]) == len(huge)
    assert table.read_bytes() == raw  # the stored blocks are the entry, byte for byte


def test_nul_bytes_do_not_crash():
    table = parse_table(b"a;b\n\x00x;y\n")
    assert table.page()[0][0].endswith("x") and is_safe(table.page()[0][0])


@pytest.mark.parametrize("value,masked", [("01017012345", True), ("010170 12345", True), ("41017012345", True), ("0101701234", False), ("010170123456", False), ("974550571", False)])
def test_fnr_shapes(value, masked):
    table = parse_table(f"x;y\n{value};fnr {value} i tekst\n".encode())
    assert (table.page()[0][0] == MASK) is masked
    assert (value not in table.page()[0][1]) is masked


def test_reveal_calls_hooks_first_and_refuses_when_a_hook_fails():
    table = parse_table(FEILLISTE, name="feilliste.csv", source=FEEDBACK_NAME)
    events = []
    add_reveal_hook(events.append)
    try:
        rows = table.reveal_rows([0])
    finally:
        remove_reveal_hook(events.append)
    assert rows[0][4] == "01017012345"
    assert events[0].entry == "feilliste.csv" and events[0].rows == (0,) and events[0].cells == 1
    assert "01017012345" not in repr(events[0])

    def broken(event):
        raise OSError("journal is full")

    with pytest.raises(RevealRefused):
        table.reveal(hooks=[broken])
    with pytest.raises(RevealRefused):
        table.reveal_rows([0], hooks=[broken])
    assert table.page()[0][4] == MASK  # the default view never changes


def test_search_sees_only_masked_text():
    table = parse_table(FEILLISTE)
    assert list(table.search("F014")) == [1, 2]
    assert list(table.search("0101701")) == []


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


def big_list(rows: int, extra: str = "") -> bytes:
    lines = ["lokal_id;regel;alvorlighet;melding\r\n"]
    lines += [f"P{i:06d};F{i % 9:03d};{'feil' if i % 2 else 'advarsel'};rad {i}{extra}\r\n" for i in range(rows)]
    return "".join(lines).encode("utf-8")


def test_many_blocks_pages_and_indexes_agree_with_a_plain_parse():
    data = big_list(40_000) + b'P9;F1;feil;"quoted\r\nover lines; and ; semicolons"\r\n'
    chunks = [data[i : i + 7777] for i in range(0, len(data), 7777)]  # odd chunk edges
    table, refusal = read_entry(chunks, name="x.csv")
    assert refusal is None and len(table.blocks) > 4 and len(table) == 40_001
    assert table.read_bytes() == data
    assert table.page(39_998, 40_001)[-1] == ["P9", "F1", "feil", "quoted␍␊over lines; and ; semicolons"]
    assert table.rows_at([0, 25_000, 39_999]) == [["P000000", "F000", "advarsel", "rad 0"], ["P025000", "F007", "advarsel", "rad 25000"], ["P039999", "F003", "feil", "rad 39999"]]
    assert sum(table.counts()["severity"].values()) == 40_001
    assert list(table.search("rad 3999"))[:2] == [3999, 39990]
    assert sum(1 for _ in table.iter_rows()) == len(table)


def test_quote_free_blocks_give_the_rows_csv_gives():
    """Blocks without quotes are split at line ends and ";" (fast); every row must be the one the
    csv module reads from the same bytes: blank lines, lone ";", spaces, empty last cells, LF and
    CRLF, and a quoted block between them."""
    import csv
    import io

    odd = b"P1;;feil;\r\n\r\n;\r\n  ;x\r\nP2;F2;advarsel;a b\nP3;F3;feil;\xc3\xa6\r\n"
    data = big_list(30_000) + odd + b'P4;F4;feil;"two\r\nlines"\r\n' + big_list(30_000).split(b"\r\n", 1)[1] + odd
    table = parse_table(data)
    assert any(block.plain for block in table.blocks) and not all(block.plain for block in table.blocks)
    text = data.decode("utf-8-sig")
    expected = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=";", strict=False) if r and r != [""]][1:]
    expected = [[cell.replace("\r\n", "\u240d\u240a") for cell in row] for row in expected]  # how a cell's line end is shown
    assert list(table.iter_rows()) == expected


def test_a_late_non_utf8_byte_switches_the_encoding_and_counts_again():
    early = b"P1;F\xc3\xa6;feil;x\r\n"  # valid UTF-8 ("F\u00e6"), but in Windows-1252 it is "F\u00c3\u00a6"
    late = b"P2;F2;feil;Bj\xf8rn\r\n"  # 0xF8 alone is no UTF-8: the file is Windows-1252
    data = big_list(0) + early + big_list(20_000).split(b"\r\n", 1)[1] + late
    assert data.index(late) > 2 * BLOCK_BYTES
    table = parse_table(data)
    assert table.encoding == "cp1252"
    assert table.counts()["rule"]["F\u00c3\u00a6"] == 1 and "F\u00e6" not in table.counts()["rule"]
    assert table.page(len(table) - 1)[0][3] == "Bjørn"


def test_distinct_values_counted_are_capped():
    table = parse_table(big_list(300), limits=TableLimits(max_count_keys=3))
    assert len(table.counts()["rule"]) == 3 and table.counts_other["rule"] == 300 - sum(table.counts()["rule"].values())


def test_a_table_beyond_the_limits_is_refused_but_the_entry_kept():
    wide = b"a;b\r\n" + b";" * 5000 + b"\r\n"
    table, refusal = read_entry([wide])
    assert isinstance(refusal, TableRefusal) and refusal.reason == "too_many_columns" and "1024" in refusal.message()
    assert table.read_bytes() == wide and len(table) == 0
    with pytest.raises(TableRefusal) as info:
        parse_table(big_list(50), limits=TableLimits(max_rows=10))
    assert info.value.reason == "too_many_rows"
