"""The validator's results, held to golden files made by the code before its hot path was
made faster: every finding (rule, level, line, value, message), its order, every count, in
both languages, for generated extracts with planted errors and for hand-made hostile persons.
``validate_reports.json`` keeps each report's SHA-256 (of its JSON) with its counts, so that a
difference shows where; ``validate_errors.json`` is one ``iplos validate --json`` in full.

A change of a rule's behaviour or message changes the golden file on purpose:
``IPLOS_REGEN_GOLDEN=1 pytest tests/test_validate_golden.py`` rewrites it (review the diff).
A speed-up must never need that.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from extractcraft import LOCATION, MUNICIPALITY_ORGNR, bad_check, base_header, impossible_date_id, orgnr, render, write
from iplos_tui.core import i18n
from iplos_tui.core.extract.generator import HEADER_PLANTS, generate_file
from iplos_tui.core.extract.model import Header, Person, Refusal, Score, Service
from iplos_tui.core.extract.validate import Validator, validate_file
from iplos_tui.core.identifiers import person_id_check_digits

GOLDEN = Path(__file__).parent / "golden" / "validate_reports.json"
REGEN = os.environ.get("IPLOS_REGEN_GOLDEN") == "1"


def pid(day: int, month: int, yy: int, individuals: range = range(100, 200)) -> str:
    """A person id with valid check digits: ``day``/``month`` as written in the number."""
    for individual in individuals:
        first9 = f"{day:02d}{month:02d}{yy:02d}{individual:03d}"
        digits = person_id_check_digits(first9)
        if digits:
            return f"{first9}{digits[0]}{digits[1]}"
    raise AssertionError("no id")


def no_check_digits() -> str:
    """A number whose first nine digits have no check digits (K1 or K2 would be 10)."""
    for individual in range(100, 999):
        first9 = f"150350{individual:03d}"
        if person_id_check_digits(first9) is None:
            return first9 + "00"
    raise AssertionError


OTHER = orgnr("97000001")
WARN_FIRST = orgnr("17000001")  # valid check digit, first digit not 8/9: a warning, no finding
S = "2017-03-01"

# Person ids: (id, what it is)
IDS = [
    pid(15, 3, 50),  # fnr 1950
    bad_check(pid(15, 3, 50)),
    no_check_digits(),
    pid(55, 3, 50),  # d-number
    pid(71, 2, 50),  # d-number, 31 February
    pid(15, 43, 50),  # h-number
    pid(55, 43, 50),  # d + h: no such kind
    pid(85, 3, 50),  # FH-number (first digit 8)
    pid(95, 3, 50),  # FH-number (first digit 9)
    pid(15, 83, 50),  # synthetic
    pid(55, 83, 50),  # synthetic d-number
    pid(15, 3, 60, range(500, 600)),  # born 1860: old and too old
    pid(15, 43, 90, range(500, 600)),  # h-number born 1890
    pid(15, 3, 96, range(500, 600)),  # born 1896: age 121
    pid(15, 3, 97, range(500, 600)),  # born 1897: age 120
    pid(15, 3, 99, range(500, 600)),  # born 1899: old, age 118
    pid(15, 3, 17, range(500, 600)),  # born 2017
    pid(15, 3, 18, range(500, 600)),  # born 2018: after the year
    pid(15, 3, 38, range(500, 600)),  # born 2038: in the future
    pid(15, 3, 70, range(800, 900)),  # individual number of no century
    pid(15, 3, 70, range(900, 999)),  # 900-999 with yy >= 40: 1970
    pid(15, 0, 50),  # month 0
    pid(15, 13, 50),  # month 13
    pid(0, 3, 50),  # day 0
    impossible_date_id(),
    pid(15, 93, 50),  # synthetic month 13
    pid(29, 2, 17, range(500, 600)),  # 29 February 2017
    pid(29, 2, 16, range(500, 600)),  # 29 February 2016
    pid(29, 82, 16, range(500, 600)),
    "1503501234",
    "150350123456",
    "1503501234a",
    "\uff11\uff15\uff10\uff13\uff15\uff10\uff11\uff12\uff13\uff14\uff15",
    "\u0661\u0665\u0660\u0663\u0665\u0660\u0661\u0662\u0663\u0664\u0665",
    "150350 1234",
    "",
    None,
    "x" * 200,
]


def _services(line: int) -> list[list[Service]]:
    """Service lists, one per hostile person; lines are filled in later."""
    return [
        [Service("15", "2017-01-02", "2017-01-10", None, "7.5", None, LOCATION)],
        [Service(None, None, None), Service("", "", ""), Service("99", "2017-13-01", "31.12.2017", "2017-02-30")],
        [Service("15", "2017-05-01", "2017-04-01", None, "7.5", None, LOCATION)],  # decision after start
        [Service("15", "2017-01-01", "2017-06-01", "2017-05-01", "7.5", None, LOCATION)],  # start after end
        [Service("15", "2015-01-01", "2015-02-01", "2016-06-01", "7.5", None, LOCATION)],  # period before
        [Service("15", "2017-01-01", "2018-01-01", None, "7.5", None, LOCATION)],  # period after
        [Service("15", "2017-01-01", "2017-12-31", "2017-12-31", "7.5", None, LOCATION)],
        [Service("12", S, S, None, None, None, LOCATION), Service("26", S, S, None, None, None, OTHER)],  # forbidden orgnr
        [Service("15", S, S, None, "5"), Service("05", S, S), Service("06", S, S, None, None, None, LOCATION)],
        [Service("15", S, S, None, "5", None, bad_check(LOCATION)), Service("09", S, S, None, "5", None, "12345"),
         Service("01", S, S, None, "5", None, WARN_FIRST), Service("04", S, S, None, "5", None, "98765432x")],
        [Service("15", S, S, None, h, None, LOCATION) for h in ("0", "168", "168.0001", "0.0001", "1e3", "abc", " 5", "-1", "12345", "1234.12345", "1234.1234", "")],
        [Service("21", S, S, None, "5", None, LOCATION), Service("06", S, S, None, "5", "5"), Service("15", S, S, None, None, "5", LOCATION)],
        [Service("15", S, S, None, None, None, LOCATION), Service("21", S, S, None, None, None, LOCATION)],  # extent missing
        [Service("21", "2016-01-01", start, end, None, days, LOCATION) for start, end, days in (
            ("2016-01-01", None, "366"), ("2016-01-01", None, "365"), ("2016-01-01", "2018-05-01", "365"),
            ("2017-02-01", "2017-02-28", "28"), ("2017-02-01", "2017-02-28", "29"), ("2017-12-31", None, "1"),
            ("2017-12-31", None, "2"), ("2017-06-01", "2017-05-01", "5"), ("2017-06-01", None, "0"),
            ("2017-06-01", None, "abc"), ("2017-06-01", None, "12345"), ("2017-06-01", None, "05"),
            ("bad", None, "5"), ("2017-06-01", "bad", "5"), ("2015-01-01", "2016-01-01", "1"),
        )],
        [Service("15", S, S, None, "5", None, LOCATION, "hjemmet", None), Service("06", S, S, None, None, None, None, None, "sykehus"),
         Service("21", S, S, None, None, "30", LOCATION, "hjemmet", "sykehus")],  # stay fields
        # overlaps: same code, handover on the same day, the same start, open ends, nested, other codes
        [Service("15", S, "2017-01-01", "2017-03-01", "5", None, LOCATION), Service("15", S, "2017-03-01", "2017-05-01", "5", None, LOCATION),
         Service("15", S, "2017-03-01", "2017-04-01", "5", None, LOCATION), Service("15", S, "2017-04-15", None, "5", None, LOCATION),
         Service("15", S, "2017-06-01", "2017-07-01", "5", None, LOCATION), Service("01", S, "2017-01-01", None, "5", None, LOCATION),
         Service("01", S, "2016-01-01", "2017-02-01", "5", None, LOCATION), Service("99", S, "2017-01-01"), Service("99", S, "2017-01-01"),
         Service("01", S, "2017-03-01", "2017-02-01", "5", None, LOCATION), Service("01", S, "2017-05-01", "bad", "5", None, LOCATION)],
        [Service("06", S, "2017-01-01", "2017-12-31"), Service("06", S, "2016-01-01", "2018-01-01"), Service("06", S, "2017-12-31", None)],
        [Service("15", S, "1940-01-01", None, "5", None, LOCATION), Service("15", S, "1960-01-01", "1960-02-01", "5", None, LOCATION)],
        [],
    ]


def _scores() -> list[list[Score]]:
    return [
        [Score("memory", "3", "2017-03-01")],
        [Score(None, None, None), Score("", "", ""), Score("nope", "0", "2017-13-01"), Score("memory", "6", "2018-01-01")],
        [Score("memory", v, d) for v, d in (("9", "2017-12-31"), ("1", "31.12.2017"), ("5", "2017-02-29"), ("2", "2016-02-29"), ("3 ", "1899-01-01"), ("03", "2017-1-01"))],
        [],
    ]


def _refusals() -> list[list[Refusal]]:
    return [
        [],
        [Refusal("03", "2017-08-15")],
        [Refusal(None, None), Refusal("", ""), Refusal("99", "2016-12-31"), Refusal("03", "2018-01-01"), Refusal("21", "2017-01-01"), Refusal("21", "2017-12-31"), Refusal("21", "bad")],
    ]


def hostile_persons() -> list[Person]:
    """Every person id above, each with one of the service, score and refusal lists in turn,
    with local ids and households that break their rules now and then, and duplicates."""
    services, scores, refusals = _services(0), _scores(), _refusals()
    local_ids = ["H1", None, "", "ab cd", "x" * 65, "a\x07b", "Ø1", "_ok.1:/-"]
    households = [None, "1", "2", "9", "3", "", "\u0661"]
    persons = []
    count = max(len(IDS), len(services)) * 2
    line = 3
    for i in range(count):
        person = Person(
            local_id=f"H{i}" if i % 9 else local_ids[(i // 9) % len(local_ids)],
            person_id=IDS[i % len(IDS)],
            household=households[i % len(households)],
            scores=[Score(s.variable, s.value, s.date) for s in scores[i % len(scores)]],
            services=[Service(s.code, s.decision_date, s.start, s.end, s.hours_per_week, s.days, s.orgnr, s.admitted_from, s.discharged_to) for s in services[i % len(services)]],
            refusals=[Refusal(r.code, r.date) for r in refusals[i % len(refusals)]],
        )
        persons.append(person)
    # duplicates: a local id three times, a person id twice, a local id and person id together
    persons.append(Person(local_id="H3", person_id=IDS[0], services=[Service("06", S, S)]))
    persons.append(Person(local_id="H3", person_id=pid(16, 3, 50), services=[Service("06", S, S)]))
    persons.append(Person(local_id="D9", person_id=IDS[3], services=[Service("06", S, S)]))
    for person in persons:
        person.line = line
        line += 1
        for record in (*person.scores, *person.services, *person.refusals):
            record.line = line
            line += 1
        line += 1
    return persons


CONFIGS: dict[str, dict[str, object]] = {
    "default": {},
    "year_2017_no_synthetic_cap_40": {"year": 2017, "allow_synthetic": False, "max_findings": 40},
    "year_2018": {"year": 2018},
    "per_rule_3_cap_100": {"max_per_rule": 3, "max_findings": 100},
    "pseudonymised": {"require_person_id": False, "birth_years": {"H1": 1850, "H2": 1950, "H4": 2019, "H10": 1990, "ab cd": 1940}},
    "profile": {"profile_kommunenr": "0403", "profile_bydel": "00", "allow_synthetic": False},
}


def _fed(persons: list[Person], header: Header, options: dict[str, object]) -> dict[str, object]:
    validator = Validator(**{"max_findings": 100_000, **options})
    validator.feed(header)
    for person in persons:
        validator.feed(person)
    return validator.finish().to_dict()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("golden")
    errors = root / "errors.xml"
    generate_file(errors, persons=3000, seed=11, error_rate=0.05)
    header_errors = root / "header_errors.xml"
    generate_file(header_errors, persons=400, seed=12, error_rate=0.2, header_errors=tuple(HEADER_PLANTS), bydel="03")
    return errors, header_errors


def _actual(generated: tuple[Path, Path], tmp_path: Path) -> dict[str, object]:
    errors, header_errors = generated
    persons = hostile_persons()
    hostile_file = write(tmp_path / "hostile.xml", render(base_header(), [p for p in persons if p.local_id != "a\x07b"]))
    out: dict[str, object] = {}
    for language in i18n.LANGUAGES:
        i18n.set_language(language)
        try:
            for name, options in CONFIGS.items():
                out[f"{language}/hostile/{name}"] = _fed(persons, base_header(), options)
            header = base_header()
            header.year, header.kommunenr, header.orgnr = "2018", "0301", bad_check(MUNICIPALITY_ORGNR)
            out[f"{language}/hostile/other_header"] = _fed(persons, header, {"year": 2017})
            header = base_header()
            header.bydel = "05"
            out[f"{language}/hostile/not_the_profile"] = _fed(persons[:20], header, {"profile_kommunenr": "0301", "profile_bydel": "01"})
            out[f"{language}/hostile/bydel_unusual"] = _fed(persons[:20], header, {})
            for name, path in (("errors", errors), ("header_errors", header_errors), ("hostile_file", hostile_file)):
                for config in ("default", "year_2017_no_synthetic_cap_40", "per_rule_3_cap_100"):
                    report = validate_file(path, **{"max_findings": 100_000, **CONFIGS[config]}).to_dict()
                    report["size"] = None  # the only value that tells the file, not the validator
                    out[f"{language}/{name}/{config}"] = report
        finally:
            i18n.set_language("nb")
    return out


def _summary(report: dict[str, object]) -> dict[str, object]:
    text = json.dumps(report, ensure_ascii=False, indent=2)
    return {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "counts": report["counts"],
        "by_rule": report["by_rule"],
        "findings": len(report["findings"]),  # type: ignore[arg-type]
        "findings_omitted": report["findings_omitted"],
    }


def test_every_report_is_the_golden_one(generated, tmp_path):
    actual = {key: _summary(report) for key, report in _actual(generated, tmp_path).items()}
    if REGEN:
        GOLDEN.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(actual) == sorted(golden)
    for key in golden:
        assert actual[key] == golden[key], key


def test_every_rule_of_a_person_is_in_the_golden_reports():
    """The golden reports exercise every rule a person, a header or the file can break."""
    from iplos_tui.core.extract.rules import RULES, UNREADABLE

    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    fired = {rule for report in golden.values() for rule in report["by_rule"]}
    missing = set(RULES) - set(UNREADABLE) - {"file.no_persons"} - fired
    assert not missing


def test_validate_json_is_the_golden_one(generated, tmp_path):
    """``iplos validate FILE --json``, byte for byte (the generated extract with errors, the
    findings capped per rule as by default)."""
    errors, _ = generated
    env = dict(os.environ, HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "iplos_tui", "validate", errors.name, "--json"],
        capture_output=True, cwd=errors.parent, env=env, timeout=240,
    )  # fmt: skip
    # the placement warning names the temporary directories
    stdout = re.sub(rb'"placement_warnings": \[\n.*?\n  \]', b'"placement_warnings": ["..."]', result.stdout, count=1, flags=re.S)
    golden_path = GOLDEN.with_name("validate_errors.json")
    if REGEN:
        golden_path.write_bytes(stdout)
    assert result.returncode in (0, 1), result.stderr
    assert stdout == golden_path.read_bytes()
