"""IPLOS-uttrekk v1 as documented: the example, the writer, the importer interface."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from extractcraft import PID_A, base_header, base_persons, defects, render, write
from iplos_tui.core.extract import importer as importer_module
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.extract.importer import ExtractError, open_extract, register_importer
from iplos_tui.core.extract.model import Header, Person, Service
from iplos_tui.core.extract.uttrekk_v1 import UttrekkV1Importer, write_footer, write_header, write_person
from iplos_tui.core.extract.validate import Validator, validate_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "uttrekk-eksempel.xml"
DOC = ROOT / "docs" / "extract-format.md"


def test_example_validates_clean():
    report = validate_file(EXAMPLE)
    assert report.fatal is None and defects(report) == [] and report.ok
    assert (report.persons, report.services, report.refusals) == (5, 9, 2)


def test_doc_shows_the_example_file():
    blocks = re.findall(r"```xml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_doc_points_to_the_rules_catalogue():
    from iplos_tui.core.extract.rules import LEVELS

    text = DOC.read_text(encoding="utf-8")
    assert "(rules.md)" in text  # every rule is in docs/rules.md (tests/test_rules_doc.py)
    for level in LEVELS:
        assert f"**{level}**" in text, level


@pytest.mark.skipif(shutil.which("xmllint") is None, reason="xmllint not installed (apt-get install libxml2-utils)")
def test_xmllint_accepts_the_example_and_generated_files(tmp_path):
    generated = tmp_path / "generated.xml"
    generate_file(generated, persons=300, seed=4, error_rate=0.2)
    for path in (EXAMPLE, generated, write(tmp_path / "tricky.xml", render(None, _tricky_persons()))):
        result = subprocess.run(["xmllint", "--stream", "--noout", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


def _tricky_persons() -> list[Person]:
    persons = base_persons()
    persons[0].local_id = 'A&<>"\'1'
    persons[0].services[1].admitted_from = "Bærum «sykehus»\tlinje 2\nlinje 3 & <mer>"
    return persons


def _records(data: bytes) -> list:
    return list(UttrekkV1Importer().iter_records(io.BytesIO(data)))


def test_writer_round_trip_keeps_every_value():
    header, persons = base_header(), _tricky_persons()
    header.source_system = "Omsorg & <Pleie> «ÆØÅ»"
    records = _records(render(header, persons))
    read_header, *read_persons = records
    assert isinstance(read_header, Header)
    header.line = read_header.line
    assert read_header == header
    for original, read in zip(persons, read_persons, strict=True):
        for item in (original, *original.scores, *original.services, *original.refusals):
            item.line = 0
        for item in (read, *read.scores, *read.services, *read.refusals):
            item.line = 0
        assert read == original


def test_records_carry_their_line():
    data = render()
    lines = data.decode().splitlines()
    header, a, b = _records(data)
    assert lines[header.line - 1].strip() == "<Header>"
    assert 'localId="A1"' in lines[a.line - 1]
    assert lines[a.services[1].line - 1].strip().startswith('<Service code="21"')


def test_writer_refuses_characters_xml_cannot_hold():
    person = base_persons()[0]
    person.local_id = "A\x01"
    with pytest.raises(ValueError):
        write_person(io.BytesIO(), person)


def test_content_part_without_person_ids():
    out = io.BytesIO()
    write_header(out, base_header())
    for person in base_persons():
        write_person(out, person, include_person_id=False)
    write_footer(out)
    data = out.getvalue()
    assert PID_A.encode() not in data and b"personId" not in data
    validator = Validator(2017, require_person_id=False)
    for record in _records(data):
        assert [f for f in validator.feed(record) if f.level != "info"] == []
    assert validator.finish().ok
    strict = Validator(2017)
    found = [f.rule for record in _records(data) for f in strict.feed(record) if f.level != "info"]
    assert found == ["person.id_missing", "person.id_missing"]


def test_empty_attribute_reads_as_missing():
    data = render().replace(b'hoursPerWeek="7.5"', b'hoursPerWeek=""')
    _, a, _ = _records(data)
    assert a.services[0].hours_per_week is None


def test_another_importer_can_be_added(tmp_path, monkeypatch):
    class PipeImporter:
        """A toy format: 'IPLOS|kommunenr|bydel|year' then 'localId|personId|code|start'."""

        name = "pipe-test"

        def sniff(self, head: bytes) -> bool:
            return head.startswith(b"IPLOS|")

        def iter_records(self, stream):
            lines = stream.read(1 << 20).decode().splitlines()
            _, kommunenr, bydel, year = lines[0].split("|")
            yield Header(kommunenr=kommunenr, bydel=bydel, year=year, orgnr="990000018", contact_email="a@b.no", line=1)
            for number, line in enumerate(lines[1:], start=2):
                parts = line.split("|")
                if len(parts) != 4:
                    raise ExtractError("bad line", number, rule="file.structure")
                local_id, person_id, code, start = parts
                yield Person(local_id, person_id, services=[Service(code, start, start, hours_per_week="2", orgnr="990000026")], line=number)

    monkeypatch.setattr(importer_module, "_IMPORTERS", list(importer_module.importers()))
    register_importer(PipeImporter())
    path = write(tmp_path / "x.txt", f"IPLOS|0403|00|2017\nP1|{PID_A}|15|2017-03-01\nP2|{PID_A}|99|2017-03-01\n")
    with open_extract(path) as opened:
        assert opened.importer.name == "pipe-test"
    report = validate_file(path)
    assert sorted(f.rule for f in defects(report)) == ["person.duplicate", "service.code"]
    broken = write(tmp_path / "y.txt", "IPLOS|0403|00|2017\nP1|x\n")
    assert validate_file(broken).fatal.rule == "file.structure"
