"""Reference data: SSB municipality lists per year, Oslo's bydeler, service codes, variables."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from importlib import resources

import pytest

from iplos_tui.core import i18n, refdata
from iplos_tui.core.refdata import ServiceCode, UnsupportedYear


def test_supported_years_come_from_the_data_files():
    assert refdata.supported_years() == (2017, 2018)


def test_kommune_counts_per_year():
    assert len(refdata.kommuner(2017)) == 426
    assert len(refdata.kommuner(2018)) == 422


@pytest.mark.parametrize("year", [2017, 2018])
def test_kommuner_shape(year):
    kommuner = refdata.kommuner(year)
    assert "9999" not in kommuner
    assert all(re.fullmatch(r"\d{4}", code) for code in kommuner)
    assert all(name and name == name.strip() for name in kommuner.values())
    assert kommuner["0301"] == "Oslo"
    assert kommuner["0403"] == "Hamar"


def test_trondheim_renumbered():
    assert refdata.kommune_name("1601", 2017) == "Trondheim"
    assert refdata.kommune_name("1601", 2018) is None
    assert refdata.kommune_name("5001", 2018) == "Trondheim"
    assert refdata.kommune_name("5001", 2017) is None


def test_kommune_name_of_nonsense_is_none():
    assert refdata.kommune_name("9999", 2017) is None
    assert refdata.kommune_name("", 2017) is None
    assert refdata.kommune_name(None, 2017) is None  # type: ignore[arg-type]


def test_kommuner_returns_a_copy():
    refdata.kommuner(2017)["0301"] = "changed"
    refdata.kommuner(2017).clear()
    assert refdata.kommune_name("0301", 2017) == "Oslo"
    assert len(refdata.kommuner(2017)) == 426


@pytest.mark.parametrize("year", [2016, 2019, "2017", 2017.0, None, True])
def test_unsupported_years(year):
    for function in (refdata.kommuner, refdata.service_codes, refdata.function_variables):
        with pytest.raises(UnsupportedYear) as caught:
            function(year)
        assert isinstance(caught.value, ValueError)
        assert "2017, 2018" in str(caught.value)
    with pytest.raises(UnsupportedYear):
        refdata.kommune_name("0301", year)


def test_unsupported_year_message_in_english():
    i18n.set_language("en")
    assert "Reporting year 2019 is not supported" in str(UnsupportedYear(2019))


def test_kommune_changes_agree_with_the_lists():
    changes = refdata.kommune_changes()
    assert set(changes) == {2018}
    old, new = refdata.kommuner(2017), refdata.kommuner(2018)
    mapping = changes[2018]
    # Every number that disappeared is mapped to one that exists in 2018 and did not before...
    assert set(mapping) == set(old) - set(new)
    assert set(mapping.values()) <= set(new)
    # ... and every new number is the successor of something.
    assert set(new) - set(old) == set(mapping.values())
    assert mapping["1601"] == "5001"
    assert sorted(k for k, v in mapping.items() if v == "0729") == ["0722", "0723"]


def test_oslo_bydeler():
    bydeler = refdata.oslo_bydeler()
    assert list(bydeler) == [f"{n:02d}" for n in range(1, 18)] + ["99"]
    assert bydeler["01"] == "Gamle Oslo"
    assert bydeler["15"] == "Søndre Nordstrand"
    assert refdata.oslo_bydeler_not_reporting() == {"16", "17", "99"}


# The table in reference/domain.md §1.3 (14/23/24 taken as "may").
MUST = {"01", "02", "03", "04", "08", "15", "17", "18", "19", "20", "21", "22", "25"}
MAY = {"05", "06", "07", "09", "11", "14", "16", "23", "24"}
MUST_NOT = {"12", "13", "26"}
DAYS = {"08", "18", "19", "20", "21", "25"}
NONE = {"05", "06", "12", "13", "14", "23", "24", "26"}


@pytest.mark.parametrize("year", [2017, 2018])
def test_service_codes(year):
    codes = refdata.service_codes(year)
    assert set(codes) == MUST | MAY | MUST_NOT
    assert "10" not in codes  # not a known service in 2017/2018
    assert not {"27", "28", "29"} & set(codes)  # came with the 2019 version
    for code, service in codes.items():
        assert isinstance(service, ServiceCode)
        assert service.code == code and service.name
        expected_rule = "must" if code in MUST else "may" if code in MAY else "must_not"
        assert service.orgnr_rule == expected_rule, code
        expected_unit = "days" if code in DAYS else "none" if code in NONE else "hours"
        assert service.unit == expected_unit, code


def test_housing_and_gps_never_take_an_orgnr():
    codes = refdata.service_codes(2017)
    assert codes["26"].name.startswith("Varslings- og lokaliseringsteknologi")
    assert {c for c, s in codes.items() if s.orgnr_rule == "must_not"} == {"12", "13", "26"}


def test_service_codes_are_frozen_copies():
    codes = refdata.service_codes(2017)
    with pytest.raises(dataclasses.FrozenInstanceError):
        codes["01"].orgnr_rule = "may"  # type: ignore[misc]
    del codes["01"]
    assert "01" in refdata.service_codes(2017)


@pytest.mark.parametrize("year", [2017, 2018])
def test_function_variables(year):
    variables = refdata.function_variables(year)
    assert len(variables) == 17
    assert all(re.fullmatch(r"[a-z][a-z_]*", key) for key in variables)
    assert variables["memory"] == "Hukommelse"
    assert variables["toilet"] == "Toalett"


def test_valid_scores():
    assert refdata.VALID_SCORES == {1, 2, 3, 4, 5, 9}
    assert 0 not in refdata.VALID_SCORES and 6 not in refdata.VALID_SCORES


def test_data_files_are_package_data_with_attribution():
    data = resources.files("iplos_tui.data")
    readme = data.joinpath("README.md").read_text(encoding="utf-8")
    assert "Statistisk sentralbyrå" in readme and "131" in readme
    for name in ("kommuner_2017.csv", "kommuner_2018.csv", "kommune_changes.toml", "bydeler_0301.toml",
                 "service_codes_2017.toml", "service_codes_2018.toml", "function_variables.toml"):
        assert data.joinpath(name).is_file(), name


def test_identifiers_catalog_has_both_languages_with_the_same_placeholders():
    text = resources.files("iplos_tui.locale").joinpath("identifiers.toml").read_text(encoding="utf-8")
    for key, texts in tomllib.loads(text).items():
        assert set(texts) == {"nb", "en"}, key
        assert i18n.placeholders(texts["nb"]) == i18n.placeholders(texts["en"]), key


def test_every_message_key_used_by_the_checks_exists():
    catalog = i18n.catalog()
    used = set()
    for module in ("identifiers.py", "refdata.py"):
        source = resources.files("iplos_tui.core").joinpath(module).read_text(encoding="utf-8")
        used |= set(re.findall(r'"identifiers\.(\w+)"', source))
    used |= {f"label_{name}" for name in ("kommunenr", "bydel", "orgnr", "person_id", "email", "mobile")}
    assert len(used) > 30
    assert not {key for key in used if f"identifiers.{key}" not in catalog}
