"""One person-id detector for the whole console (issue 11 item 14): the feedback masker and the
envelope's content scan see the same shapes — DDMMYYNNNNN, DDMMYY NNNNN, DDMMYY-NNNNN,
DD.MM.YY NNNNN and full-width digits."""

from __future__ import annotations

import io
import json

import pytest
from tests.support.cli import run_iplos
from zipcraft import FEEDBACK_NAME, PIN, aes_zip

from iplos_tui.core.exitcodes import ExitCode

VALID = "01812000051"  # synthetic, valid check digits
SHAPES = [
    "01812000051",
    "018120 00051",
    "018120-00051",
    "01.81.20 00051",
    VALID.translate(str.maketrans("0123456789", "０１２３４５６７８９")),  # full-width digits
    "018120\u00a000051",  # a no-break space
]


def test_every_shape_is_masked_in_the_feedback_cli(config, valid_profile):
    rows = "".join(f"P{i};F001;feil;{shape};fnr {shape} i tekst\r\n" for i, shape in enumerate(SHAPES))
    table = ("lokal_id;regel;alvorlighet;verdi;melding\r\n" + rows).encode("utf-8")
    folder = valid_profile.secure_dir / "feedback"
    folder.mkdir(mode=0o700)
    (folder / FEEDBACK_NAME).write_bytes(aes_zip({"feilliste.csv": table}))
    result = run_iplos(config, "feedback", "show", str(folder / FEEDBACK_NAME), "--entry", "feilliste.csv", "--json", "--pin-stdin", stdin=PIN + "\n")
    assert result.returncode == ExitCode.OK, result.stderr
    out = json.loads(result.stdout)
    shown = json.dumps(out["rows"], ensure_ascii=False)
    for shape in SHAPES:
        assert shape not in shown
    digits = "".join(ch for ch in shown if ch.isdigit())
    assert "00051" not in digits.translate(str.maketrans("０１２３４５６７８９", "0123456789"))


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_the_envelope_refuses_every_shape_in_the_content(tmp_path, shape):
    import datetime as dt

    from iplos_tui.core import envelope
    from iplos_tui.core.envelope import EnvelopeError, EnvelopeParams
    from iplos_tui.core.extract.generator import synthetic_person_id
    from iplos_tui.core.extract.model import Header, Person
    from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header, write_person
    from iplos_tui.sandbox import certs

    ca = certs.make_ca()
    not_before = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)
    ssb = certs.issue_recipient(ca, "SSB IPLOS test", not_before=not_before)
    tpf = certs.issue_recipient(ca, "TPF IPLOS test", not_before=not_before)
    out = io.BytesIO()
    write_header(out, Header(kommunenr="0403", bydel="00", year="2017"))
    write_person(out, Person(local_id="A1", person_id=synthetic_person_id(1)))
    write_person(out, Person(local_id=shape, person_id=synthetic_person_id(2)))
    write_footer(out)
    extract = tmp_path / "uttrekk.xml"
    extract.write_bytes(out.getvalue())
    secure = tmp_path / "secure"
    secure.mkdir(mode=0o700)
    params = EnvelopeParams(kommunenr="0403", bydel="00", year=2017)
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(extract, secure / "env", ssb.cert, tpf.cert, params)
    assert info.value.key == "fnr_in_content"
    assert shape not in str(info.value)


# ---- the detector itself ------------------------------------------------------------------------

from iplos_tui.core import person_id  # noqa: E402


@pytest.mark.parametrize("shape", SHAPES + ["01.81.2000051", "01.81.20-00051", "018120\u201300051"])
def test_every_shape_is_found_masked_and_scanned_as_bytes(shape):
    text = f"merknad: {shape}."
    assert person_id.contains(text)
    assert person_id.mask(text) == f"merknad: {person_id.MASK}."
    assert [f.digits for f in person_id.find(text)] == [VALID]
    assert person_id.first_valid_in_utf8(text.encode("utf-8")) == len("merknad: ".encode())
    assert person_id.appears_in(text.encode("utf-8"))


@pytest.mark.parametrize("text", ["0181200005", "018120000511", "1018120 00051", "018120 000512", "974550571", "37.50000", "P00001"])
def test_longer_or_shorter_runs_are_not_person_ids(text):
    assert not person_id.contains(text)
    assert person_id.first_valid_in_utf8(text.encode()) is None


def test_the_byte_scan_wants_valid_check_digits_the_masker_does_not():
    invalid = VALID[:-1] + str((int(VALID[-1]) + 1) % 10)
    assert person_id.mask(invalid) == person_id.MASK
    assert person_id.first_valid_in_utf8(invalid.encode()) is None
    assert person_id.first_valid_in_utf8(f"x {invalid} y {VALID}".encode()) == 16


def test_windows_1252_text_is_scanned_in_its_own_encoding():
    assert person_id.appears_in("018120\u00a000051".encode("cp1252"), "cp1252")
    assert not person_id.appears_in("018120\u00a0000512".encode("cp1252"), "cp1252")


def test_the_journal_scrubs_the_same_shapes():
    from iplos_tui.core.journal import scrub

    for shape in SHAPES:
        assert shape not in scrub(f"fnr {shape} i teksten")
