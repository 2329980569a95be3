"""Number checks: kommunenr per year, bydel, orgnr, person ids, e-mail, mobile.

Person ids in this file are synthetic (month + 80) or made on the fly by make_person_id; no
real-looking fødselsnummer is written down here.
"""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from iplos_tui.core import i18n
from iplos_tui.core.identifiers import (
    Verdict,
    birth_date,
    check_bydel,
    check_email,
    check_kommunenr,
    check_mobile,
    check_orgnr,
    check_person_id,
    make_person_id,
    normalize_mobile,
    orgnr_check_digit,
    person_id_check_digits,
    plain_birth_year,
)
from iplos_tui.core.text import is_safe

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TODAY = datetime.date.today()


def _error(verdict: Verdict, *fragments: str) -> None:
    assert verdict.ok is False and not verdict
    assert verdict.severity == "error"
    assert verdict.message
    for fragment in fragments:
        assert fragment in verdict.message, verdict.message


def _warning(verdict: Verdict, *fragments: str) -> None:
    assert verdict.ok is True and verdict
    assert verdict.severity == "warning"
    for fragment in fragments:
        assert fragment in verdict.message, verdict.message


def _fine(verdict: Verdict) -> None:
    assert verdict.ok is True and verdict, verdict.message
    assert verdict.severity == "ok"
    assert verdict.message == ""


def test_verdict_is_frozen_and_truthy_by_ok():
    verdict = Verdict(False, "orgnr", "x", "error")
    assert not verdict
    assert Verdict(True, "orgnr", "advice", "warning")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.ok = True  # type: ignore[misc]


# --- kommunenummer ------------------------------------------------------------------------------


def test_trondheim_1601_valid_for_2017_not_2018():
    _fine(check_kommunenr("1601", 2017))
    verdict = check_kommunenr("1601", 2018)
    _error(verdict, "Kommunenummer", "«1601»", "Trondheim", "2018", "5001", "2017")
    assert verdict.field == "kommunenr"


def test_trondheim_5001_valid_for_2018_not_2017():
    _fine(check_kommunenr("5001", 2018))
    # A 2017 submission sent in January 2018 still uses the 2017 number.
    _error(check_kommunenr("5001", 2017), "«5001»", "2017", "1601", "januar 2018")


def test_merged_kommune_names_every_old_number():
    _error(check_kommunenr("0729", 2017), "Færder", "0722 (Nøtterøy)", "0723 (Tjøme)")
    _error(check_kommunenr("0722", 2018), "Nøtterøy", "0729 (Færder)")
    _error(check_kommunenr("1624", 2018), "Rissa", "5054 (Indre Fosen)")


@pytest.mark.parametrize("year", [2017, 2018])
@pytest.mark.parametrize("kommunenr", ["0301", "0403", "1103", "2030"])
def test_unchanged_kommuner_valid_both_years(kommunenr, year):
    _fine(check_kommunenr(kommunenr, year))


def test_9999_is_not_a_municipality():
    _error(check_kommunenr("9999", 2017), "9999", "ingen kommune")


def test_unknown_number_has_a_generic_reason():
    _error(check_kommunenr("0000", 2017), "«0000»", "finnes ikke", "2017", "0301")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("301", "3 sifre"),
        ("03011", "5 sifre"),
        ("0301".translate(FULLWIDTH), "fullbreddesifre"),
        ("03 01", "mellomrom"),
        (" 0301", "mellomrom"),
        ("0301\n", "mellomrom"),
        ("O301", "bare inneholde sifrene"),
        ("-301", "bare inneholde sifrene"),
        ("", "mangler"),
        ("   ", "mangler"),
    ],
)
def test_kommunenr_shape_errors(value, fragment):
    _error(check_kommunenr(value, 2017), fragment)


@pytest.mark.parametrize("year", [2016, 2019, 0, -1, "2017", None, True])
def test_unsupported_year_names_the_known_years(year):
    _error(check_kommunenr("0301", year), "2017, 2018")


def test_kommunenr_custom_field_and_english():
    assert check_kommunenr("1601", 2018, field="header.kommunenr").field == "header.kommunenr"
    i18n.set_language("en")
    verdict = check_kommunenr("1601", 2018)
    _error(verdict, "Municipality number", "“1601”", "5001", "reporting year 2017")
    _error(check_kommunenr("0301", 2020), "Reporting year 2020", "2017, 2018")


# --- bydel --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kommunenr", ["0301", "0403", "5001", "", "junk"])
def test_bydel_00_is_always_fine(kommunenr):
    _fine(check_bydel("00", kommunenr))


@pytest.mark.parametrize("bydel", [f"{n:02d}" for n in range(1, 16)])
def test_oslo_bydeler_01_to_15(bydel):
    _fine(check_bydel(bydel, "0301"))


@pytest.mark.parametrize(("bydel", "name"), [("16", "Sentrum"), ("17", "Marka"), ("99", "Uten registrert adresse")])
def test_oslo_statistical_bydeler_warn(bydel, name):
    _warning(check_bydel(bydel, "0301"), name, "SSB")


def test_oslo_has_no_bydel_20():
    _error(check_bydel("20", "0301"), "Oslo har ingen bydel 20")


@pytest.mark.parametrize("kommunenr", ["4601", "1601", "0403"])
def test_other_kommune_non_00_warns(kommunenr):
    _warning(check_bydel("01", kommunenr), "00", "avtalt med SSB")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("0", "1 sifre"), ("000", "3 sifre"), ("0 1", "mellomrom"), ("０１", "fullbreddesifre"), ("ab", "sifrene"), ("", "mangler")],
)
def test_bydel_shape_errors(value, fragment):
    _error(check_bydel(value, "0301"), "Bydelsnummer" if value else "", fragment)


# --- organisasjonsnummer ------------------------------------------------------------------------

# Brønnøysundregistrene's own organisation number (public) and the shared test profile's.
VALID_ORGNR = ["974760673", "974550571"]


@pytest.mark.parametrize("orgnr", VALID_ORGNR)
def test_valid_orgnr(orgnr):
    _fine(check_orgnr(orgnr))
    assert orgnr_check_digit(orgnr[:8]) == int(orgnr[8])


def test_orgnr_check_digit_by_hand():
    # 9*3 + 7*2 + 4*7 + 7*6 + 6*5 + 0*4 + 6*3 + 7*2 = 173; 173 % 11 = 8; 11 - 8 = 3
    assert orgnr_check_digit("97476067") == 3


def test_orgnr_wrong_check_digit():
    _error(check_orgnr("974760674"), "«974760674»", "kontrollsifferet")


def test_orgnr_prefix_without_any_check_digit():
    prefix = next(
        f"{n:08d}" for n in range(80000000, 80001000) if orgnr_check_digit(f"{n:08d}") is None
    )
    for last in "0123456789":
        _error(check_orgnr(prefix + last), "kontrollsifferet")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("97476067", "8 sifre"),
        ("9747606730", "10 sifre"),
        ("974760673".translate(FULLWIDTH), "fullbreddesifre"),
        ("974 760 673", "mellomrom"),
        ("NO974760673", "bare inneholde sifrene"),
        ("974760673MVA", "bare inneholde sifrene"),
        ("", "mangler"),
    ],
)
def test_orgnr_shape_errors(value, fragment):
    _error(check_orgnr(value), fragment)


def test_orgnr_not_starting_with_8_or_9_warns():
    first8 = "12345678"
    orgnr = first8 + str(orgnr_check_digit(first8))
    _warning(check_orgnr(orgnr), "8 eller 9")


@pytest.mark.parametrize("bad", ["1234567", "123456789", "１２３４５６７８", None, 12345678])
def test_orgnr_check_digit_refuses_bad_input(bad):
    with pytest.raises(ValueError):
        orgnr_check_digit(bad)  # type: ignore[arg-type]


# --- person ids ---------------------------------------------------------------------------------

# The synthetic example in the public @navikt/fnrvalidator README (month 91 = November + 80).
NAV_SYNTHETIC = "10915596784"


def test_published_synthetic_example():
    assert person_id_check_digits(NAV_SYNTHETIC[:9]) == (8, 4)
    verdict = check_person_id(NAV_SYNTHETIC)
    _fine(verdict)
    assert verdict.kind == "synthetic"


def _made(birth: datetime.date, kind: str) -> str:
    for individual in range(1000):
        made = make_person_id(birth, individual, kind)
        if made is not None:
            return made
    raise AssertionError("no individual number works")


@pytest.mark.parametrize("kind", ["fnr", "dnr", "synthetic"])
def test_made_numbers_pass_with_their_kind(kind):
    number = _made(datetime.date(1950, 3, 17), kind)
    verdict = check_person_id(number)
    _fine(verdict)
    assert verdict.kind == kind


def test_kind_digits():
    birth = datetime.date(1950, 3, 17)
    assert _made(birth, "fnr")[:4] == "1703"
    assert _made(birth, "dnr")[:4] == "5703"
    assert _made(birth, "hnr")[:4] == "1743"
    assert _made(birth, "synthetic")[:4] == "1783"


def test_h_number_passes_with_a_warning():
    verdict = check_person_id(_made(datetime.date(1950, 3, 17), "hnr"))
    _warning(verdict, "H-nummer")
    assert verdict.kind == "hnr"


def _with_check_digits(first9: str) -> str | None:
    digits = person_id_check_digits(first9)
    return None if digits is None else f"{first9}{digits[0]}{digits[1]}"


def _first_valid(prefix6: str, individuals=range(1000)) -> str:
    for individual in individuals:
        number = _with_check_digits(f"{prefix6}{individual:03d}")
        if number:
            return number
    raise AssertionError(prefix6)


def test_fh_number_passes_with_a_warning():
    verdict = check_person_id(_first_valid("812345"))
    _warning(verdict, "FH-nummer")
    assert verdict.kind == "fhnr"


def test_synthetic_refused_when_not_allowed():
    verdict = check_person_id(NAV_SYNTHETIC, allow_synthetic=False)
    _error(verdict, "syntetisk testnummer")
    assert verdict.kind == "synthetic"


def test_wrong_check_digits():
    wrong = NAV_SYNTHETIC[:9] + "85"
    _error(check_person_id(wrong), "kontrollsifrene")
    _error(check_person_id(NAV_SYNTHETIC[:10] + "5"), "kontrollsifrene")


def test_impossible_dates():
    _fine(check_person_id(_first_valid("318155")))  # 31 January (synthetic) is a date
    # 30 February (synthetic month 82), day 32, month 93, day 0, month 13, day+40 with month+40
    for prefix in ("308255", "328155", "019355", "004155", "011355", "414155"):
        _error(check_person_id(_first_valid(prefix)), "fødselsdato")


def test_individual_number_must_fit_the_century():
    # Year 45 with individual 500–899 encodes no century.
    _error(check_person_id(_first_valid("018145", range(600, 900))), "individnummeret")


def test_future_birth_date():
    # Individual 500+ with year < 40 is the 2000s: 2039 is in the future.
    _error(check_person_id(_first_valid("018139", range(500, 1000))), "fram i tid")


def test_born_before_1900_warns():
    _warning(check_person_id(_first_valid("018160", range(500, 750))), "før 1900")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (NAV_SYNTHETIC[:10], "10 sifre"),
        (NAV_SYNTHETIC + "0", "12 sifre"),
        (NAV_SYNTHETIC.translate(FULLWIDTH), "fullbreddesifre"),
        ("109155 96784", "mellomrom"),
        ("1091559678X", "bare inneholde sifrene"),
        ("", "mangler"),
    ],
)
def test_person_id_shape_errors(value, fragment):
    _error(check_person_id(value), "Fødselsnummer", fragment)


def test_person_id_never_quoted_in_messages():
    values = [NAV_SYNTHETIC[:9] + "85", NAV_SYNTHETIC[:10], NAV_SYNTHETIC + "0", "109155 96784", "1091559678X"]
    values.append(_first_valid("308255"))
    for value in values:
        verdict = check_person_id(value)
        assert not verdict.ok
        assert value not in verdict.message and value.strip()[:6] not in verdict.message


def test_make_person_id_refuses_nonsense():
    birth = datetime.date(1950, 3, 17)
    for kind in ("fhnr", "x", ""):
        with pytest.raises(ValueError):
            make_person_id(birth, 1, kind)
    for individual in (-1, 1000, True):
        with pytest.raises(ValueError):
            make_person_id(birth, individual)
    with pytest.raises(ValueError):
        make_person_id(TODAY + datetime.timedelta(days=1), 500)
    with pytest.raises(ValueError):
        make_person_id(datetime.date(1853, 12, 31), 600)
    # Individual 600 does not encode the 1950s: the caller picks another.
    assert make_person_id(birth, 600) is None


def test_person_id_check_digits_refuses_bad_input():
    for bad in ("12345678", "1234567890", "１２３４５６７８９", None):
        with pytest.raises(ValueError):
            person_id_check_digits(bad)  # type: ignore[arg-type]


def test_person_id_english_message():
    i18n.set_language("en")
    _error(check_person_id(NAV_SYNTHETIC[:9] + "85"), "check digits")


# --- e-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "iplos@hamar.kommune.no",
        "postmottak@baerum.kommune.no",
        "ola.nordmann+iplos@kommune.no",
        "o'brien@example.com",
        "iplos@bærum.kommune.no",
        "x@a-b.c-d.museum",
    ],
)
def test_valid_email(address):
    _fine(check_email(address))


@pytest.mark.parametrize(
    ("address", "fragment"),
    [
        ("", "mangler"),
        ("iplos", "nøyaktig én @"),
        ("@kommune.no", "nøyaktig én @"),
        ("iplos@", "nøyaktig én @"),
        ("a@b@kommune.no", "nøyaktig én @"),
        ("ola nordmann@kommune.no", "mellomrom"),
        (" iplos@kommune.no", "mellomrom"),
        ("ærlig@kommune.no", "foran @"),
        ("ola..nordmann@kommune.no", "foran @"),
        (".ola@kommune.no", "foran @"),
        ("iplos@kommune", "etter @"),
        ("iplos@kommune..no", "etter @"),
        ("iplos@-kommune.no", "etter @"),
        ("iplos@kommune.n0", "etter @"),
        ("iplos@kommune.no.", "etter @"),
        ("a" * 65 + "@kommune.no", "for lang"),
        ("a@" + "b" * 250 + ".no", "for lang"),
    ],
)
def test_invalid_email(address, fragment):
    verdict = check_email(address, field="postmottak")
    _error(verdict, fragment)
    assert verdict.field == "postmottak"


# --- mobile -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    ["91234567", "41234567", "912 34 567", "+47 912 34 567", "+4791234567", "0047 91234567", "912\u00a034\u00a0567"],
)
def test_valid_mobile(number):
    _fine(check_mobile(number))
    assert normalize_mobile(number) == number.replace(" ", "").replace("\u00a0", "")[-8:]


def test_normalize_mobile_example():
    assert normalize_mobile("+47 912 34 567") == "91234567"
    assert normalize_mobile(" 0047 41 23 45 67 ") == "41234567"


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("", "mangler"),
        ("22334455", "begynner på 4 eller 9"),
        ("+47 22 33 44 55", "begynner på 4 eller 9"),
        ("9123456", "7 sifre"),
        ("912345678", "9 sifre"),
        ("+47", "0 sifre"),
        ("+46 70 123 45 67", "landnummer"),
        ("0046701234567", "landnummer"),
        ("912-34-567", "bare inneholde sifre og mellomrom"),
        ("９１２３４５６７", "fullbreddesifre"),
        ("nine one two", "bare inneholde sifre og mellomrom"),
    ],
)
def test_invalid_mobile(number, fragment):
    _error(check_mobile(number), fragment)


# --- properties ---------------------------------------------------------------------------------

KINDS = st.sampled_from(["fnr", "dnr", "hnr", "synthetic"])
BIRTHS = st.dates(min_value=datetime.date(1854, 1, 1), max_value=TODAY)


@given(birth=BIRTHS, individual=st.integers(0, 999), kind=KINDS)
def test_every_made_person_id_passes(birth, individual, kind):
    number = make_person_id(birth, individual, kind)
    assume(number is not None)
    assert len(number) == 11 and number.isascii() and number.isdigit()
    assert int(number[6:9]) == individual
    verdict = check_person_id(number)
    assert verdict.ok, verdict.message
    assert verdict.kind == kind
    expected = "warning" if kind == "hnr" or birth.year < 1900 else "ok"
    assert verdict.severity == expected


@given(birth=st.dates(min_value=datetime.date(1900, 1, 1), max_value=TODAY), kind=KINDS)
def test_most_individual_numbers_work(birth, kind):
    made = [make_person_id(birth, i, kind) for i in range(1000)]
    assert sum(m is not None for m in made) >= 100


@st.composite
def person_ids(draw):
    birth = draw(BIRTHS)
    kind = draw(KINDS)
    individual = draw(st.integers(0, 999))
    number = make_person_id(birth, individual, kind)
    assume(number is not None)
    return number


@st.composite
def one_digit_changed(draw, numbers):
    number = draw(numbers)
    position = draw(st.integers(0, len(number) - 1))
    digit = draw(st.sampled_from([d for d in "0123456789" if d != number[position]]))
    return number, number[:position] + digit + number[position + 1 :]


@given(pair=one_digit_changed(person_ids()))
def test_every_single_digit_change_of_a_person_id_fails(pair):
    _, changed = pair
    verdict = check_person_id(changed)
    assert not verdict.ok
    assert verdict.severity == "error"


@st.composite
def orgnrs(draw):
    first8 = draw(st.text("0123456789", min_size=8, max_size=8))
    digit = orgnr_check_digit(first8)
    assume(digit is not None)
    return first8 + str(digit)


@given(orgnr=orgnrs())
def test_every_orgnr_with_correct_digit_passes(orgnr):
    verdict = check_orgnr(orgnr)
    assert verdict.ok
    assert verdict.severity == ("ok" if orgnr[0] in "89" else "warning")


@given(pair=one_digit_changed(orgnrs()))
def test_every_single_digit_change_of_an_orgnr_fails(pair):
    _, changed = pair
    assert not check_orgnr(changed).ok


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=80) | st.text(
    "0123456789０１２３４５６７８９ +@.-\n\t\x1b\u202e", max_size=16
)


def _sound(verdict: Verdict, field: str) -> None:
    assert isinstance(verdict, Verdict)
    assert verdict.field == field
    assert verdict.severity in ("ok", "warning", "error")
    assert verdict.ok == (verdict.severity != "error")
    assert (verdict.message == "") == (verdict.severity == "ok")
    assert is_safe(verdict.message)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(value=ANY_TEXT, other=ANY_TEXT, year=st.integers(-3000, 3000) | st.sampled_from([2017, 2018]))
def test_no_check_raises_on_arbitrary_text(value, other, year):
    _sound(check_kommunenr(value, year), "kommunenr")
    _sound(check_bydel(value, other), "bydel")
    _sound(check_orgnr(value), "orgnr")
    _sound(check_person_id(value), "fnr")
    _sound(check_person_id(value, allow_synthetic=False), "fnr")
    _sound(check_email(value), "contact_email")
    _sound(check_mobile(value), "contact_mobile")
    assert isinstance(normalize_mobile(value), str)


@given(value=st.text("0123456789", min_size=11, max_size=11))
def test_arbitrary_eleven_digits_never_raise(value):
    verdict = check_person_id(value)
    _sound(verdict, "fnr")
    if verdict.ok:
        assert verdict.kind in ("fnr", "dnr", "hnr", "fhnr", "synthetic")


@given(value=st.text("0123456789", min_size=4, max_size=4), year=st.sampled_from([2017, 2018]))
def test_kommunenr_digits_follow_the_list(value, year):
    from iplos_tui.core import refdata

    verdict = check_kommunenr(value, year)
    _sound(verdict, "kommunenr")
    assert verdict.ok == (value in refdata.kommuner(year))


def _plain_year(value: str, today: datetime.date, allow_synthetic: bool) -> int | None:
    """What plain_birth_year must give: the year of birth when check_person_id passes the
    number without a remark, else None."""
    verdict = check_person_id(value, allow_synthetic=allow_synthetic)
    if not verdict.ok or verdict.severity != "ok":
        return None
    born = birth_date(value, checked=True)
    assert born is not None and born <= today
    return born.year


def test_plain_birth_year_is_check_person_id_on_every_edge():
    """The validator's fast path against the full check: every day, month, century and kind
    edge, with the right check digits and with a wrong one, synthetic numbers allowed or not."""
    today = datetime.date.today()
    days = (0, 1, 15, 28, 29, 30, 31, 32, 39, 40, 41, 55, 68, 69, 70, 71, 72, 79, 80, 85, 95, 99)
    months = (0, 1, 2, 4, 12, 13, 39, 40, 41, 42, 52, 53, 79, 80, 81, 82, 84, 92, 93, 99)
    years = (0, 17, 25, 26, 27, 39, 40, 53, 54, 99)
    individuals = (0, 499, 500, 749, 750, 899, 900, 999)
    checked = 0
    for day in days:
        for month in months:
            for yy in years:
                for individual in individuals:
                    first9 = f"{day:02d}{month:02d}{yy:02d}{individual:03d}"
                    digits = person_id_check_digits(first9)
                    k1, k2 = digits if digits is not None else (0, 0)
                    for value in {f"{first9}{k1}{k2}", f"{first9}{(k1 + 1) % 10}{k2}", f"{first9}{k1}{(k2 + 3) % 10}"}:
                        for allow in (True, False):
                            assert plain_birth_year(value, today, allow) == _plain_year(value, today, allow), (value, allow)
                            checked += 1
    assert checked > 100_000


@given(value=st.text("0123456789", min_size=11, max_size=11), allow=st.booleans())
def test_plain_birth_year_is_check_person_id_on_arbitrary_digits(value, allow):
    today = datetime.date.today()
    assert plain_birth_year(value, today, allow) == _plain_year(value, today, allow)


def test_plain_birth_year_leaves_a_later_birth_date_to_check_person_id():
    """A stale ``today`` (a validator started yesterday) never passes a number born after it."""
    born = datetime.date.today()
    value = next(v for v in (make_person_id(born, individual, "fnr") for individual in range(500, 600)) if v)
    assert plain_birth_year(value, born, True) == born.year
    assert plain_birth_year(value, born - datetime.timedelta(days=1), True) is None
