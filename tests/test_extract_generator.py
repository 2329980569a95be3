"""The synthetic generator: deterministic, synthetic ids only, and its planted errors are exactly
what the validator finds."""

from __future__ import annotations

import hashlib
import io
from collections import Counter

import pytest

from extractcraft import defects
from iplos_tui.core.extract.generator import PLANTABLE, generate, generate_file, synthetic_person_id
from iplos_tui.core.extract.importer import open_extract
from iplos_tui.core.extract.model import Person
from iplos_tui.core.extract.validate import validate_file
from iplos_tui.core.identifiers import check_person_id


def test_planted_errors_are_all_found_and_nothing_else(tmp_path):
    path = tmp_path / "planted.xml"
    planted = generate_file(path, persons=3_000, seed=7, error_rate=0.1)
    assert {p.rule for p in planted} == set(PLANTABLE)  # every rule a person can break
    report = validate_file(path, max_findings=100_000)
    assert report.fatal is None and report.findings_omitted == 0
    expected = Counter((p.local_id, p.rule) for p in planted)
    found = Counter((f.local_id, f.rule) for f in defects(report))
    assert found - expected == Counter(), "found but not planted"
    assert expected - found == Counter(), "planted but not found"


@pytest.mark.parametrize(("kommunenr", "bydel", "year"), [("0403", "00", 2017), ("0301", "05", 2017), ("5001", "00", 2018)])
def test_clean_extract_validates_without_findings(tmp_path, kommunenr, bydel, year):
    path = tmp_path / "clean.xml"
    assert generate_file(path, persons=1_500, seed=1, kommunenr=kommunenr, bydel=bydel, year=year) == []
    report = validate_file(path, year=year, profile_kommunenr=kommunenr, profile_bydel=bydel)
    assert report.ok and defects(report) == [] and report.persons == 1_500
    assert report.services > 1_500 and report.refusals > 0


def _bytes(**kwargs) -> bytes:
    out = io.BytesIO()
    generate(out, **kwargs)
    return out.getvalue()


def test_deterministic():
    a = _bytes(persons=300, seed=5, error_rate=0.2)
    assert a == _bytes(persons=300, seed=5, error_rate=0.2)
    assert a != _bytes(persons=300, seed=6, error_rate=0.2)
    assert hashlib.sha256(_bytes(persons=0)).hexdigest() == hashlib.sha256(_bytes(persons=0)).hexdigest()


def test_only_synthetic_unique_person_ids(tmp_path):
    path = tmp_path / "x.xml"
    generate_file(path, persons=2_000, seed=2)
    ids = []
    with open_extract(path) as opened:
        for record in opened.records():
            if isinstance(record, Person):
                ids.append(record.person_id)
    assert len(set(ids)) == len(ids) == 2_000
    assert {check_person_id(pid).kind for pid in ids} == {"synthetic"}


def test_synthetic_ids_unique_across_rounds():
    # 70,000 indexes cover more than two rounds of birth dates (33,237 days each).
    indexes = set(range(0, 70_000, 7)) | {33_236, 33_237, 66_473, 66_474}
    ids = [synthetic_person_id(index) for index in sorted(indexes)]
    assert len(set(ids)) == len(ids)


def test_realistic_mix(tmp_path):
    path = tmp_path / "x.xml"
    generate_file(path, persons=1_000, seed=3)
    codes: Counter[str] = Counter()
    with_scores = 0
    with open_extract(path) as opened:
        for record in opened.records():
            if isinstance(record, Person):
                codes.update(s.code for s in record.services)
                with_scores += bool(record.scores)
    assert codes.most_common(1)[0][0] == "15"  # home nursing is the most common service
    assert {"21", "06", "01"} <= set(codes)
    assert 600 < with_scores < 900


def test_bad_arguments():
    with pytest.raises(ValueError):
        _bytes(persons=-1)
    with pytest.raises(ValueError):
        _bytes(persons=1, error_rate=1.5)


def test_header_errors_are_planted_once_each(tmp_path):
    from iplos_tui.core.extract.generator import HEADER_PLANTS

    path = tmp_path / "header.xml"
    planted = generate_file(path, persons=200, seed=8, error_rate=0.1, header_errors=tuple(HEADER_PLANTS))
    report = validate_file(path, max_findings=100_000)
    assert report.fatal is None
    expected = Counter((p.local_id, p.rule) for p in planted)
    found = Counter((f.local_id or "", f.rule) for f in defects(report))
    assert found == expected
    assert {rule for _, rule in expected} >= set(HEADER_PLANTS)
    with pytest.raises(ValueError):
        _bytes(persons=1, header_errors=("header.year",))


def test_no_persons_is_the_file_rule(tmp_path):
    path = tmp_path / "none.xml"
    generate_file(path, persons=0)
    report = validate_file(path)
    assert report.by_rule == {"file.no_persons": 1} and report.blocks_sending  # nothing to send: fatal
