"""Every validation rule: a file that breaks it (exactly that rule is found) and files that do
not (nothing is found), including the boundary values."""

from __future__ import annotations

import re

import pytest

from extractcraft import (
    LOCATION,
    PID_A,
    bad_check,
    base_header,
    base_persons,
    defect_counts,
    defects,
    impossible_date_id,
    orgnr,
    render,
    synthetic,
    write,
)
from iplos_tui.core import i18n
from iplos_tui.core.extract.model import Refusal, Score, Service
from iplos_tui.core.extract.rules import FATAL, INFO, LEVELS, RULES, UNREADABLE, WARNING, message_key, title_key
from iplos_tui.core.extract.validate import validate_file


def _set(obj, **changes):
    for key, value in changes.items():
        setattr(obj, key, value)


def header(**changes):
    def change(h, persons, options):
        _set(h, **changes)
    return change


def person(index, **changes):
    def change(h, persons, options):
        _set(persons[index], **changes)
    return change


def service(person_index, service_index, **changes):
    def change(h, persons, options):
        _set(persons[person_index].services[service_index], **changes)
    return change


def add_service(person_index, svc):
    def change(h, persons, options):
        persons[person_index].services.append(svc)
    return change


def add_refusal(person_index, refusal):
    def change(h, persons, options):
        persons[person_index].refusals.append(refusal)
    return change


def add_score(person_index, score):
    def change(h, persons, options):
        persons[person_index].scores.append(score)
    return change


def options(**values):
    def change(h, persons, opts):
        opts.update(values)
    return change


def both(*changes):
    def change(h, persons, opts):
        for c in changes:
            c(h, persons, opts)
    return change


def no_persons(h, persons, opts):
    persons.clear()


H_NUMBER = synthetic(1950, 5, 5, kind="hnr")
D_NUMBER = synthetic(1950, 5, 5, kind="dnr")

# (rule, local id the finding names, change)
BREAKING = [
    ("header.kommunenr", None, header(kommunenr="0000")),
    ("header.kommunenr", None, header(kommunenr="5001")),  # Trondheim's number from 2018
    ("header.kommunenr", None, header(kommunenr=None)),
    ("header.kommunenr_profile", None, options(profile_kommunenr="0301")),
    ("header.bydel", None, header(bydel="0")),
    ("header.bydel", None, both(header(kommunenr="0301", bydel="18"))),
    ("header.bydel_unusual", None, header(bydel="05")),
    ("header.bydel_profile", None, options(profile_bydel="01")),
    ("header.year", None, both(header(year="2018"), options(year=2017))),
    ("header.year", None, both(header(year="17"), options(year=2017))),
    ("header.year", None, both(header(year=None), options(year=2017))),
    ("header.orgnr", None, header(orgnr=bad_check(orgnr("99000001")))),
    ("header.orgnr", None, header(orgnr=None)),
    ("header.contact", None, header(contact_email="iplos@")),
    ("header.contact", None, header(contact_email=None)),
    ("header.contact", None, header(contact_mobile="12345")),
    ("header.produced_at", None, header(produced_at="3. januar 2018")),
    ("person.local_id", "A 1", person(0, local_id="A 1")),
    ("person.local_id", None, person(0, local_id=None)),
    ("person.local_id", "x" * 65, person(0, local_id="x" * 65)),
    ("person.id_missing", "A1", person(0, person_id=None)),
    ("person.id_format", "A1", person(0, person_id="1234")),
    ("person.id_format", "A1", person(0, person_id=PID_A[:10] + "x")),
    ("person.id_checksum", "A1", person(0, person_id=bad_check(PID_A))),
    ("person.id_invalid", "A1", person(0, person_id=impossible_date_id())),
    ("person.id_invalid", "A1", both(person(1, person_id=D_NUMBER), options(allow_synthetic=False))),
    ("person.id_kind", "A1", person(0, person_id=H_NUMBER)),
    ("person.id_kind", "B2", person(1, person_id=synthetic(1897, 1, 1, start=500))),  # 120: old, not implausible
    ("person.age_implausible", "A1", person(0, person_id=synthetic(2018, 3, 3, start=500))),  # born after the year
    ("person.age_implausible", "B2", person(1, person_id=synthetic(1896, 12, 31, start=500))),  # 121 (not also id_kind)
    ("person.age_implausible", "B2", both(person(1, person_id=None), options(require_person_id=False, birth_years={"B2": 2019}))),
    ("person.duplicate", "B2", person(1, person_id=PID_A)),
    ("person.duplicate", "A1", person(1, local_id="A1")),
    ("person.no_service", "B2", person(1, services=[], refusals=[])),
    ("person.household", "A1", person(0, household="3")),
    ("score.variable", "A1", add_score(0, Score("memry", "3", "2017-03-01"))),
    ("score.variable", "A1", add_score(0, Score(None, "3", "2017-03-01"))),
    ("score.value", "A1", add_score(0, Score("vision", "6", "2017-03-01"))),
    ("score.value", "A1", add_score(0, Score("vision", "0", "2017-03-01"))),
    ("score.value", "A1", add_score(0, Score("vision", None, "2017-03-01"))),
    ("score.date", "A1", add_score(0, Score("vision", "2", "2018-01-01"))),
    ("score.date", "A1", add_score(0, Score("vision", "2", "2017-02-29"))),
    ("score.date", "A1", add_score(0, Score("vision", "2", None))),
    ("service.code", "B2", add_service(1, Service("10", "2017-01-01", "2017-01-01"))),
    ("service.code", "B2", add_service(1, Service("27", "2017-01-01", "2017-01-01"))),  # from 2019
    ("service.code", "B2", add_service(1, Service("6", "2017-01-01", "2017-01-01"))),
    ("service.code", "B2", add_service(1, Service(None, "2017-01-01", "2017-01-01"))),
    ("service.decision_date", "A1", service(0, 0, decision_date="20161120")),
    ("service.decision_date", "A1", service(0, 0, decision_date=None)),
    ("service.start_date", "A1", service(0, 0, start="01.12.2016")),
    ("service.start_date", "A1", service(0, 0, start=None)),
    ("service.end_date", "A1", service(0, 0, end="2017-02-29")),
    ("service.period", "A1", service(0, 0, decision_date="2017-12-01", start="2018-01-01")),
    ("service.period", "A1", service(0, 0, end="2016-12-31")),
    ("service.start_after_end", "A1", service(0, 1, end="2017-05-01")),
    ("service.decision_after_start", "A1", service(0, 0, decision_date="2016-12-02")),
    ("service.before_birth", "A1", add_service(0, Service("01", "1930-01-01", "1930-01-10", None, "2", None, LOCATION))),  # born 1931
    ("service.before_birth", "B2", both(person(1, person_id=None), add_service(1, Service("01", "2016-05-01", "2016-05-01", None, "2", None, LOCATION)),
                                        options(require_person_id=False, birth_years={"B2": 2017}))),
    ("service.overlap", "A1", add_service(0, Service("15", "2017-01-01", "2017-01-05", None, "3", None, LOCATION))),
    ("service.overlap", "B2", add_service(1, Service("06", "2017-12-01", "2017-12-01", "2017-12-15"))),
    ("service.overlap", "B2", add_service(1, Service("06", "2017-02-10", "2017-02-20", "2017-02-20"))),  # the same day twice
    ("service.orgnr_missing", "A1", service(0, 0, orgnr=None)),
    ("service.orgnr_missing", "A1", service(0, 1, orgnr=None)),
    ("service.orgnr_forbidden", "B2", service(1, 0, orgnr=LOCATION)),  # GPS
    ("service.orgnr_forbidden", "B2", add_service(1, Service("12", "2017-01-01", "2017-01-01", orgnr=LOCATION))),  # housing
    ("service.orgnr_checksum", "A1", service(0, 0, orgnr=bad_check(LOCATION))),
    ("service.orgnr_checksum", "B2", service(1, 1, orgnr="12345")),
    ("service.hours_range", "A1", service(0, 0, hours_per_week="168.01")),
    ("service.hours_range", "A1", service(0, 0, hours_per_week="0")),
    ("service.hours_range", "A1", service(0, 0, hours_per_week="-1")),
    ("service.hours_range", "A1", service(0, 0, hours_per_week="7,5")),
    ("service.days_range", "A1", service(0, 1, days="0")),
    ("service.days_range", "A1", service(0, 1, days="61")),  # 2 May - 30 June is 60 days
    ("service.days_range", "A1", service(0, 1, days="ti")),
    ("service.extent_missing", "A1", service(0, 0, hours_per_week=None)),
    ("service.extent_missing", "A1", service(0, 1, days=None)),
    ("service.unit_mismatch", "A1", service(0, 0, days="7")),
    ("service.unit_mismatch", "B2", service(1, 1, hours_per_week="2")),
    ("service.stay_fields", "A1", service(0, 0, discharged_to="hjemmet")),
    ("refusal.code", "A1", add_refusal(0, Refusal("99", "2017-05-05"))),
    ("refusal.date", "A1", add_refusal(0, Refusal("21", "5.5.2017"))),
    ("refusal.date", "A1", add_refusal(0, Refusal("21", None))),
    ("refusal.period", "A1", add_refusal(0, Refusal("21", "2016-12-31"))),
    ("refusal.period", "A1", add_refusal(0, Refusal("21", "2018-01-01"))),
    ("file.no_persons", None, no_persons),
]

CLEAN = [
    ("base", lambda h, p, o: None),
    ("other kommune", header(kommunenr="0301")),
    ("oslo bydel", header(kommunenr="0301", bydel="05")),
    ("profile matches", options(profile_kommunenr="0403", profile_bydel="00")),
    ("agreed bydel", both(header(bydel="05"), options(profile_bydel="05"))),
    ("no mobile", header(contact_mobile=None)),
    ("no produced_at", header(produced_at=None)),
    ("produced_at Z", header(produced_at="2018-01-03T07:15:00Z")),
    ("local id characters", person(0, local_id="Ab_9.x:y/z-1")),
    ("local id 64", person(0, local_id="x" * 64)),
    ("d-nummer", person(0, person_id=D_NUMBER)),
    ("no household", person(0, household=None)),
    ("household unknown", person(0, household="9")),
    ("refusal only", person(1, services=[], refusals=[Refusal("21", "2017-01-01")])),
    ("score 9", add_score(0, Score("vision", "9", "2017-12-31"))),
    ("old score", add_score(0, Score("vision", "1", "2010-01-01"))),
    ("may without orgnr", service(1, 1, orgnr=None)),
    ("may with orgnr", service(1, 1, orgnr=LOCATION)),
    ("hours 168", service(0, 0, hours_per_week="168")),
    ("hours quarter", service(0, 0, hours_per_week="0.25")),
    ("days one", service(0, 1, days="1")),
    ("ends on 1 Jan", service(0, 0, end="2017-01-01")),
    ("starts on 31 Dec", service(0, 0, decision_date="2017-12-31", start="2017-12-31")),
    ("start equals end", service(0, 1, end="2017-05-02", days="1")),
    ("decision equals start", service(0, 0, decision_date="2016-12-01")),
    ("open-ended stay", service(0, 1, end=None, days="244", discharged_to=None)),
    ("year from options", options(year=2017)),
    ("born in the year", person(1, person_id=synthetic(2017, 1, 1, start=500))),  # B2's services start 2017
    ("service in the birth year", add_service(0, Service("01", "1931-01-01", "1931-01-01", None, "2", None, LOCATION))),
    ("handover on the same day", add_service(1, Service("06", "2017-12-31", "2017-12-31", None))),
    ("earlier one ends as it starts", add_service(1, Service("06", "2017-01-01", "2017-01-01", "2017-02-20"))),
    ("same code, apart", add_service(1, Service("26", "2016-01-01", "2016-01-01", "2017-01-19"))),
    ("pseudonymised, birth years known", both(person(0, person_id=None), person(1, person_id=None),
                                              options(require_person_id=False, birth_years={"A1": 1931, "B2": 1942}))),
]


def _run(tmp_path, change):
    h, persons, opts = base_header(), base_persons(), {}
    change(h, persons, opts)
    path = write(tmp_path / "x.xml", render(h, persons))
    return validate_file(path, **opts)


@pytest.mark.parametrize(("rule", "local_id", "change"), BREAKING, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(BREAKING)])
def test_breaking_file_gives_exactly_that_rule(tmp_path, rule, local_id, change):
    report = _run(tmp_path, change)
    assert report.fatal is None
    assert [f.rule for f in defects(report)] == [rule], [f.message for f in report.findings]
    found = defects(report)[0]
    assert found.level == RULES[rule]
    assert found.local_id == local_id
    assert found.message and not re.search(r"\{[a-z_]+\}", found.message)
    assert report.ok == (RULES[rule] == WARNING)
    assert report.blocks_sending == (RULES[rule] == FATAL)
    assert report.needs_acceptance == (RULES[rule] == "error")
    assert defect_counts(report) == {rule: 1}
    assert report.counts[RULES[rule]] == 1 and sum(report.counts.values()) == sum(report.by_rule.values())


@pytest.mark.parametrize(("name", "change"), CLEAN, ids=[name for name, _ in CLEAN])
def test_clean_file_gives_nothing(tmp_path, name, change):
    report = _run(tmp_path, change)
    assert report.fatal is None
    assert defects(report) == [], [f.message for f in report.findings]
    assert report.ok and not report.needs_acceptance and not report.blocks_sending
    assert report.counts == {"fatal": 0, "error": 0, "warning": 0, "info": report.counts["info"]}


def test_every_rule_has_a_breaking_case():
    # the unreadable reasons are tested in test_extract_hostile.py, the info facts below
    assert {rule for rule, _, _ in BREAKING} == {rule for rule, level in RULES.items() if level != INFO} - set(UNREADABLE)


def test_each_rule_has_one_of_the_four_levels():
    assert LEVELS == ("fatal", "error", "warning", "info")
    assert set(RULES.values()) == set(LEVELS)
    fatal = {rule for rule, level in RULES.items() if level == FATAL}
    assert fatal == {*UNREADABLE, "header.kommunenr_profile", "header.bydel_profile", "header.year", "file.no_persons"}


def test_info_facts_persons_without_scores_and_users_per_service(tmp_path):
    report = _run(tmp_path, lambda h, p, o: None)
    info = sorted((f.rule, f.local_id, f.value) for f in report.findings if f.level == INFO)
    # B2 has no scores; A1 has services 15 and 21, B2 has 26 and 06: one user each
    assert info == [
        ("file.service_users", None, "06"),
        ("file.service_users", None, "15"),
        ("file.service_users", None, "21"),
        ("file.service_users", None, "26"),
        ("person.no_scores", "B2", None),
    ]
    assert report.counts == {"fatal": 0, "error": 0, "warning": 0, "info": 5} and report.ok
    scored = _run(tmp_path, both(add_score(1, Score("vision", "2", "2017-03-01")), person(0, services=[])))
    assert [(f.rule, f.value) for f in scored.findings] == [("file.service_users", "06"), ("file.service_users", "26")]
    assert "1" in scored.findings[0].message


def test_a_profile_mismatch_blocks_whatever_else_is_wrong(tmp_path):
    report = _run(tmp_path, both(header(kommunenr="0000", bydel="7"), options(profile_kommunenr="0403", profile_bydel="00")))
    assert [f.rule for f in defects(report)] == ["header.kommunenr_profile", "header.bydel_profile"]
    assert report.blocks_sending and not report.ok and not report.needs_acceptance
    assert report.counts["fatal"] == 2
    assert "0403" in report.block_reason() and report.block_reason().startswith("Linje")


def test_an_unreadable_file_is_counted_as_its_fatal_rule(tmp_path):
    from extractcraft import render as render_file

    data = render_file()
    path = write(tmp_path / "cut.xml", data[: data.index(b"</Person>") + 10])
    report = validate_file(path)
    assert report.fatal is not None and report.fatal.rule == "file.truncated"
    assert report.findings[0] == report.fatal and report.by_rule["file.truncated"] == 1
    assert report.counts["fatal"] == 1 and report.blocks_sending
    assert report.block_reason() and "avkortet" in report.block_reason()


@pytest.mark.parametrize("language", ["nb", "en"])
def test_every_rule_has_a_message_and_title(language):
    i18n.set_language(language)
    catalog = i18n.catalog()
    for rule in RULES:
        if rule not in UNREADABLE:  # these explain themselves with the reader's own messages
            assert message_key(rule) in catalog, rule
        assert title_key(rule) in catalog, rule


def test_messages_in_english(tmp_path):
    i18n.set_language("en")
    report = _run(tmp_path, service(0, 0, hours_per_week="170"))
    assert "Hours per week" in report.findings[0].message


def test_person_ids_are_masked_in_findings(tmp_path):
    for change in (person(0, person_id=bad_check(PID_A)), person(0, person_id=H_NUMBER), person(1, person_id=PID_A)):
        report = _run(tmp_path, change)
        text = repr(report.to_dict())
        assert PID_A not in text and bad_check(PID_A) not in text and H_NUMBER not in text
    report = _run(tmp_path, person(0, person_id=bad_check(PID_A)))
    assert report.findings[0].value == PID_A[:6] + "*****"


def test_findings_are_capped_and_counted(tmp_path):
    persons = base_persons()
    for index in range(30):
        extra = base_persons()[1]
        extra.local_id, extra.person_id = f"C{index}", synthetic(1960, 1, 1 + index)
        extra.services[0].orgnr = LOCATION  # one error each
        persons.append(extra)
    path = write(tmp_path / "x.xml", render(base_header(), persons))
    report = validate_file(path, max_findings=10)
    assert report.errors == 30 and len(report.findings) == 10 and report.findings_omitted == report.total - 10
    assert defect_counts(report) == {"service.orgnr_forbidden": 30}
    # the info facts (31 persons without scores, users per service) never take an error's place
    assert report.counts["info"] > 30 and {f.rule for f in report.findings} == {"service.orgnr_forbidden"}


def test_duplicate_names_the_first_line(tmp_path):
    report = _run(tmp_path, person(1, person_id=PID_A))
    first_line = report.findings[0].message
    assert "linje" in first_line
    persons = base_persons()
    persons[1].person_id = PID_A
    lines = render(base_header(), persons).decode().splitlines()
    a_line = next(i for i, text in enumerate(lines, 1) if 'localId="A1"' in text)
    b_line = next(i for i, text in enumerate(lines, 1) if 'localId="B2"' in text)
    assert report.findings[0].line == b_line and f"linje {a_line}" in first_line


def test_examples_of_every_rule_with_max_per_rule(tmp_path):
    persons = base_persons()
    for index in range(30):
        extra = base_persons()[1]
        extra.local_id, extra.person_id = f"C{index}", synthetic(1960, 1, 1 + index)
        extra.services[0].orgnr = LOCATION  # service.orgnr_forbidden
        extra.household = "7"  # person.household
        persons.append(extra)
    path = write(tmp_path / "x.xml", render(base_header(), persons))
    report = validate_file(path, max_findings=1000, max_per_rule=3)
    assert defect_counts(report) == {"service.orgnr_forbidden": 30, "person.household": 30}
    kept = [f.rule for f in report.findings]
    assert kept.count("service.orgnr_forbidden") == 3 and kept.count("person.household") == 3
    assert all(kept.count(rule) == min(3, count) for rule, count in report.by_rule.items())
    assert report.findings_omitted == report.total - len(kept)
    levels = [LEVELS.index(f.level) for f in report.findings]
    assert levels == sorted(levels)  # the most serious first


def test_a_memo_parses_each_text_once_and_stays_bounded():
    """rules.Memo (the validator's parsed dates, hours, orgnr verdicts): the parsed value of
    every text, however many distinct texts come; it never holds more than its size."""
    from iplos_tui.core.extract.rules import Memo, parse_date

    calls: list[str | None] = []

    def parse(text: str | None) -> object:
        calls.append(text)
        return parse_date(text) if text else None

    memo = Memo(parse, size=4)
    texts = [None, "", "2017-01-31", "2017-02-30", "31.12.2017", *(f"2016-03-{day:02d}" for day in range(1, 29))]
    for text in texts * 2:
        assert memo[text] == (parse_date(text) if text else None)
        assert len(memo) <= 4
    memo = Memo(parse, size=100)
    calls.clear()
    for text in texts * 3:
        memo[text]
    assert calls == texts  # once each
