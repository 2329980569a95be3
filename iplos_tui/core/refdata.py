"""Reference data for a reporting year: municipalities, Oslo's bydeler, service codes, function
variables.

Everything is read from data files in ``iplos_tui/data`` (package data, see its README for
sources and attribution), parsed once and cached. Functions return fresh copies, so a caller
can change what it gets without touching the cache.
"""

from __future__ import annotations

import csv
import io
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from iplos_tui.core.i18n import t

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "VALID_SCORES",
    "ServiceCode",
    "UnsupportedYear",
    "function_variables",
    "kommune_changes",
    "kommune_name",
    "kommuner",
    "oslo_bydeler",
    "oslo_bydeler_not_reporting",
    "service_codes",
    "supported_years",
]

#: Function assessment scores: 1 (no need of help) to 5 (full need), 9 = not relevant.
VALID_SCORES = frozenset({1, 2, 3, 4, 5, 9})

#: Placeholder of SSB's classification 131 ("Uoppgitt"), never a municipality.
UNKNOWN_KOMMUNE = "9999"

ORGNR_RULES = ("must", "may", "must_not")
UNITS = ("hours", "days", "none")

_DATA = "iplos_tui.data"
_KOMMUNER_FILE = re.compile(r"kommuner_(\d{4})\.csv")


class UnsupportedYear(ValueError):
    """No reference data ships for this reporting year."""

    def __init__(self, year: object) -> None:
        self.year = year
        known = supported_years()
        super().__init__(
            t("identifiers.year_unsupported", year=year, years=", ".join(map(str, known)))
        )


@dataclass(frozen=True)
class ServiceCode:
    code: str  # two digits, "01"
    name: str  # Norwegian name
    orgnr_rule: str  # "must" | "may" | "must_not"
    unit: str  # "hours" | "days" | "none"


def _data_file(name: str) -> Traversable:
    return resources.files(_DATA).joinpath(name)


def _read_toml(name: str) -> dict[str, Any]:
    return tomllib.loads(_data_file(name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _kommune_years() -> tuple[int, ...]:
    years = []
    for entry in resources.files(_DATA).iterdir():
        match = _KOMMUNER_FILE.fullmatch(entry.name)
        if match:
            years.append(int(match.group(1)))
    return tuple(sorted(years))


@lru_cache(maxsize=1)
def supported_years() -> tuple[int, ...]:
    """Reporting years with a municipality list and a service code list, ascending."""
    return tuple(
        year for year in _kommune_years() if _data_file(f"service_codes_{year}.toml").is_file()
    )


def _year(year: object) -> int:
    """``year`` as a supported int, or UnsupportedYear (also for "2017", True, None, ...)."""
    if isinstance(year, bool) or not isinstance(year, int):
        raise UnsupportedYear(year)
    if year not in supported_years():
        raise UnsupportedYear(year)
    return year


@lru_cache(maxsize=None)
def _kommuner(year: int) -> dict[str, str]:
    text = _data_file(f"kommuner_{year}.csv").read_text(encoding="utf-8-sig")
    rows = csv.reader(io.StringIO(text), delimiter=";")
    header = next(rows)
    if [cell.strip() for cell in header[:2]] != ["kommunenr", "navn"]:
        raise ValueError(f"kommuner_{year}.csv: unexpected header {header!r}")
    result: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        code, name = row[0].strip(), row[1].strip()
        if not (len(code) == 4 and code.isascii() and code.isdigit()) or not name:
            raise ValueError(f"kommuner_{year}.csv line {line}: bad row {row!r}")
        if code != UNKNOWN_KOMMUNE:
            result[code] = name
    return result


def kommuner(year: int) -> dict[str, str]:
    """Municipality number -> name valid on 1 January of ``year`` (9999 left out)."""
    return dict(_kommuner(_year(year)))


def kommune_name(kommunenr: str, year: int) -> str | None:
    """The municipality's name in ``year``; None when the number is not in that year's list."""
    return _kommuner(_year(year)).get(kommunenr) if isinstance(kommunenr, str) else None


@lru_cache(maxsize=1)
def _kommune_changes() -> dict[int, dict[str, str]]:
    data = _read_toml("kommune_changes.toml")
    return {int(year): dict(table) for year, table in data.items()}


def kommune_changes() -> dict[int, dict[str, str]]:
    """``{year: {old kommunenr: new kommunenr}}`` for changes that took effect on 1 January."""
    return {year: dict(table) for year, table in _kommune_changes().items()}


@lru_cache(maxsize=1)
def _oslo_bydeler() -> dict[str, dict[str, Any]]:
    return dict(_read_toml("bydeler_0301.toml")["bydel"])


def oslo_bydeler() -> dict[str, str]:
    """Oslo's bydel (two digits) -> name, including 16, 17 and 99 (see oslo_bydeler_not_reporting)."""
    return {code: entry["name"] for code, entry in _oslo_bydeler().items()}


def oslo_bydeler_not_reporting() -> frozenset[str]:
    """Oslo bydel codes that are statistical units, not expected to submit (16, 17, 99)."""
    return frozenset(code for code, entry in _oslo_bydeler().items() if not entry.get("reports", True))


@lru_cache(maxsize=None)
def _service_codes(year: int) -> dict[str, ServiceCode]:
    name = f"service_codes_{year}.toml"
    data = _read_toml(name)
    if data.get("year") != year:
        raise ValueError(f"{name}: year = {data.get('year')!r}, expected {year}")
    codes: dict[str, ServiceCode] = {}
    for code, entry in data["codes"].items():
        rule, unit = entry.get("orgnr"), entry.get("unit")
        if not (len(code) == 2 and code.isascii() and code.isdigit()):
            raise ValueError(f"{name}: bad code {code!r}")
        if rule not in ORGNR_RULES or unit not in UNITS or not entry.get("name"):
            raise ValueError(f"{name}: code {code}: bad entry {entry!r}")
        codes[code] = ServiceCode(code=code, name=entry["name"], orgnr_rule=rule, unit=unit)
    return codes


def service_codes(year: int) -> dict[str, ServiceCode]:
    """IPLOS service code ("01") -> ServiceCode, for the codes valid in ``year``."""
    return dict(_service_codes(_year(year)))


@lru_cache(maxsize=1)
def _function_variables() -> tuple[dict[str, Any], ...]:
    variables = tuple(_read_toml("function_variables.toml")["variable"])
    ids = [v["id"] for v in variables]
    if len(set(ids)) != len(ids):
        raise ValueError("function_variables.toml: duplicate id")
    return variables


def function_variables(year: int) -> dict[str, str]:
    """Function assessment variable id -> Norwegian name, for the variables used in ``year``."""
    year = _year(year)
    return {
        v["id"]: v["name"]
        for v in _function_variables()
        if v["valid_from"] <= year <= v.get("valid_to", 9999)
    }
