"""Small extracts built record by record for the extract tests: a clean base, then one change."""

from __future__ import annotations

import copy
import datetime
import io
from pathlib import Path

from iplos_tui.core.extract.model import Header, Person, Refusal, Score, Service
from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header, write_person
from iplos_tui.core.identifiers import make_person_id, orgnr_check_digit, person_id_check_digits


def synthetic(year: int, month: int, day: int, start: int = 100, kind: str = "synthetic") -> str:
    for individual in range(start, start + 50):
        pid = make_person_id(datetime.date(year, month, day), individual, kind=kind)
        if pid:
            return pid
    raise AssertionError("no id")


def orgnr(first8: str) -> str:
    base = int(first8)
    while orgnr_check_digit(f"{base:08d}") is None:
        base += 1
    return f"{base:08d}{orgnr_check_digit(f'{base:08d}')}"


def bad_check(number: str) -> str:
    """``number`` with its last digit changed: the check digit no longer matches."""
    return number[:-1] + str((int(number[-1]) + 1) % 10)


def impossible_date_id() -> str:
    """Valid check digits, but day 32."""
    for individual in range(100, 200):
        first9 = f"328155{individual:03d}"
        digits = person_id_check_digits(first9)
        if digits:
            return f"{first9}{digits[0]}{digits[1]}"
    raise AssertionError


MUNICIPALITY_ORGNR = orgnr("99000001")
LOCATION = orgnr("99000002")
PID_A = synthetic(1931, 3, 14)
PID_B = synthetic(1942, 11, 2)


def base_header() -> Header:
    return Header(
        kommunenr="0403",
        bydel="00",
        year="2017",
        orgnr=MUNICIPALITY_ORGNR,
        contact_email="iplos@hamar.kommune.no",
        contact_mobile="+47 912 34 567",
        source_system="Test",
        source_version="1.0",
        produced_at="2018-01-03T08:15:00+01:00",
    )


def base_persons() -> list[Person]:
    a = Person(
        local_id="A1",
        person_id=PID_A,
        household="1",
        scores=[Score("memory", "3", "2017-03-01")],
        services=[
            Service("15", "2016-11-20", "2016-12-01", None, "7.5", None, LOCATION),
            Service("21", "2017-04-28", "2017-05-02", "2017-06-30", None, "60", LOCATION, "hjemmet", "sykehus"),
        ],
        refusals=[Refusal("03", "2017-08-15")],
    )
    b = Person(
        local_id="B2",
        person_id=PID_B,
        household="2",
        services=[
            Service("26", "2017-01-15", "2017-01-20"),
            Service("06", "2017-02-10", "2017-02-20", "2017-12-31"),
        ],
    )
    return [a, b]


def render(header: Header | None = None, persons: list[Person] | None = None) -> bytes:
    out = io.BytesIO()
    write_header(out, header if header is not None else base_header())
    for person in persons if persons is not None else base_persons():
        write_person(out, person)
    write_footer(out)
    return out.getvalue()


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def clone(value):
    return copy.deepcopy(value)


def defects(report) -> list:
    """The findings above info: info findings are facts (users per service, persons without
    scores) that most files have, not defects."""
    return [f for f in report.findings if f.level != "info"]


def defect_counts(report) -> dict[str, int]:
    from iplos_tui.core.extract.rules import RULES

    return {rule: count for rule, count in report.by_rule.items() if RULES[rule] != "info"}
