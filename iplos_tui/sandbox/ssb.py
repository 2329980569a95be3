"""The sandbox SSB: decrypts the content parts, validates them, and makes the feedback zip.

Content parts are decrypted one at a time with SSB's key and read as one stream by the extract
importer (they are the pseudonymised extract cut at record boundaries), so memory stays at about
one part. The validator runs with ``require_person_id=False`` (SSB never sees a person number);
TPF's findings on the numbers are added. The feedback (emulated format, reference/domain.md §3):

* ``feilliste.csv``: one row per finding — lokal_id, regel, alvorlighet, felt, verdi, melding;
* ``kontrolltabeller.csv``: users, hours per week and days per service code and age group;

both ``;``-separated UTF-8 with BOM, in ``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip``, WinZip
AES-256 (pyzipper, AE-2) with the account's PIN as the password.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from iplos_tui.core.extract.rules import ERROR, INFO, Finding
from iplos_tui.sandbox.tpf import PersonInfo, TpfError, decrypt_part

AGE_GROUPS = ((0, 17, "0-17"), (18, 49, "18-49"), (50, 66, "50-66"), (67, 79, "67-79"), (80, 89, "80-89"), (90, 200, "90+"))
UNKNOWN_AGE = "ukjent"
ALL = "alle"
SEVERITY_NB = {"fatal": "kritisk", "error": "feil", "warning": "advarsel"}
FEILLISTE = "feilliste.csv"
KONTROLLTABELLER = "kontrolltabeller.csv"
FEILLISTE_COLUMNS = ("lokal_id", "regel", "alvorlighet", "felt", "verdi", "melding")
KONTROLL_COLUMNS = ("tjenestekode", "tjeneste", "aldersgruppe", "brukere", "timer_per_uke", "døgn")


def age_group(age: int | None) -> str:
    if age is None or age < 0:
        return UNKNOWN_AGE
    for low, high, label in AGE_GROUPS:
        if low <= age <= high:
            return label
    return UNKNOWN_AGE


class _PartStream:
    """The decrypted content parts, one after the other, as a readable stream."""

    def __init__(self, paths: list[Path], cert: Path, key: Path) -> None:
        self._paths = iter(paths)
        self._cert, self._key = cert, key
        self._buffer = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        while not self._buffer:
            path = next(self._paths, None)
            if path is None:
                return b""
            self._buffer = memoryview(decrypt_part(path, self._cert, self._key))
        if size is None or size < 0:
            size = len(self._buffer)
        out, self._buffer = bytes(self._buffer[:size]), self._buffer[size:]
        return out

    def readable(self) -> bool:
        return True


@dataclass
class _Cell:
    users: int = 0
    hours: float = 0.0
    days: int = 0


@dataclass
class SsbResult:
    persons: int = 0
    findings: list[Finding] = field(default_factory=list)
    findings_omitted: int = 0
    table: dict[tuple[str, str], _Cell] = field(default_factory=dict)
    fatal: str | None = None

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.level == ERROR)


def check_content(
    parts: list[Path],
    cert: Path,
    key: Path,
    *,
    year: int,
    kommunenr: str,
    bydel: str,
    persons: dict[str, PersonInfo],
    tpf_findings: list[Finding],
    max_findings: int = 1_000_000,
) -> SsbResult:
    """Validate the content parts and count the control tables."""
    from iplos_tui.core import refdata
    from iplos_tui.core.extract.importer import ExtractError
    from iplos_tui.core.extract.model import Person
    from iplos_tui.core.extract.rules import parse_days, parse_hours
    from iplos_tui.core.extract.uttrekk_v1 import UttrekkV1Importer
    from iplos_tui.core.extract.validate import Validator, fatal_finding

    result = SsbResult()
    codes = refdata.service_codes(year)
    # TPF knows each person's age at the end of the year, so SSB can check ages and starts before birth.
    birth_years = {local_id: year - info.age for local_id, info in persons.items() if info.age is not None}
    validator = Validator(
        year, kommunenr, bydel, allow_synthetic=True, require_person_id=False, max_findings=max_findings, birth_years=birth_years
    )
    cells: dict[tuple[str, str], _Cell] = defaultdict(_Cell)
    tpf_by_local: dict[str, list[Finding]] = defaultdict(list)
    for item in tpf_findings:
        tpf_by_local[item.local_id or ""].append(item)
    findings: list[Finding] = []
    try:
        for record in UttrekkV1Importer().iter_records(_PartStream(parts, cert, key)):  # type: ignore[arg-type]
            found = [f for f in validator.feed(record) if f.level != INFO]  # facts are no error list rows
            if not isinstance(record, Person):
                findings.extend(found)
                continue
            findings.extend(tpf_by_local.pop(record.local_id or "", []))
            findings.extend(found)
            info = persons.get(record.local_id or "")
            group = age_group(info.age if info else None)
            seen: set[str] = set()
            for service in record.services:
                code = service.code if service.code in codes else None
                if code is None:
                    continue
                for key_group in (group, ALL):
                    cell = cells[(code, key_group)]
                    if code not in seen:
                        cell.users += 1
                    if service.hours_per_week is not None and codes[code].unit == "hours":
                        hours = parse_hours(service.hours_per_week)
                        if hours is not None and 0 < hours <= 168:
                            cell.hours += hours
                    if service.days is not None and codes[code].unit == "days":
                        days = parse_days(service.days)
                        if days is not None and 0 < days <= 366:
                            cell.days += days
                seen.add(code)
    except ExtractError as exc:
        result.fatal = fatal_finding(exc).message
        findings.append(fatal_finding(exc))
    except TpfError as exc:
        result.fatal = str(exc)
        findings.append(unusable_finding("content", str(exc)))
    report = validator.finish()
    # What only the end knows (duplicates, an empty file), and TPF findings of persons not found.
    findings.extend(f for f in report.findings if f.rule in ("person.duplicate", "file.no_persons"))
    for leftover in tpf_by_local.values():
        findings.extend(leftover)
    result.persons = report.persons
    result.findings = findings
    result.findings_omitted = report.findings_omitted
    result.table = dict(cells)
    return result


def unusable_finding(part: str, detail: str) -> Finding:
    """The one row that says a part could not be read at all (then nothing else can be checked)."""
    from iplos_tui.core.i18n import t
    from iplos_tui.core.text import safe_text

    message = t(f"sandbox.ssb_unusable_{part}", detail=safe_text(detail, one_line=True, limit=200))
    return Finding("file.format", ERROR, None, None, part, None, message)


def _csv_bytes(header: tuple[str, ...], rows: Iterator[list[str]] | list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def feilliste_csv(result: SsbResult) -> bytes:
    rows = [
        [f.local_id or "", f.rule, SEVERITY_NB.get(f.level, f.level), f.field or "", f.value or "", f.message]
        for f in result.findings
    ]
    return _csv_bytes(FEILLISTE_COLUMNS, rows)


def kontrolltabeller_csv(result: SsbResult, year: int) -> bytes:
    from iplos_tui.core import refdata

    codes = refdata.service_codes(year)
    order = [label for _, _, label in AGE_GROUPS] + [UNKNOWN_AGE, ALL]
    rows = []
    for (code, group), cell in sorted(result.table.items(), key=lambda item: (item[0][0], order.index(item[0][1]))):
        unit = codes[code].unit
        rows.append([
            code,
            codes[code].name,
            group,
            str(cell.users),
            f"{cell.hours:.2f}".replace(".", ",") if unit == "hours" else "",
            str(cell.days) if unit == "days" else "",
        ])
    return _csv_bytes(KONTROLL_COLUMNS, rows)


def feedback_name(kommunenr: str, bydel: str, day: str) -> str:
    """``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip`` (``day`` as YYYYMMDD)."""
    return f"{kommunenr}{bydel}_iplos_tilbakemelding_{day}.zip"


def make_feedback_zip(entries: dict[str, bytes], password: str) -> bytes:
    """A WinZip AES-256 zip (AE-2, deflated) of ``entries``."""
    import pyzipper

    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()
