"""The validator: records in, findings out, one record at a time.

``Validator.feed`` checks a ``Header`` or a ``Person`` and returns its findings; ``finish`` adds
what needs the whole file (duplicates, an empty extract, the users per service) and returns the
``Report``. Memory is constant (values parsed once per distinct text are kept in bounded memos,
``rules.Memo``) except for the duplicate check, which keeps 32 bytes per person
(two 64-bit hashes, each with its line number: 3.2 MB per 100,000 persons), never the ids
themselves.

When findings are capped, a more serious finding takes the place of a less serious one, so an
info fact never hides an error; the ``Report`` (``result.py``) counts every one.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import threading
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from iplos_tui.core import identifiers, refdata
from iplos_tui.core.extract.header import header_field_findings
from iplos_tui.core.extract.importer import DEFAULT_MAX_BYTES, ExtractError, Progress, open_extract
from iplos_tui.core.extract.model import HOUSEHOLD_CODES, Header, Person, Service
from iplos_tui.core.extract.result import Report, RuleCount, fatal_finding
from iplos_tui.core.extract.rules import (
    LEVELS,
    LOCAL_ID,
    Finding,
    Memo,
    finding,
    mask_person_id,
    orgnr_verdict,
    parse_date,
    parse_days,
    parse_hours,
    person_finding,
    shown,
)
from iplos_tui.core.i18n import t

DEFAULT_MAX_FINDINGS = 1000
#: Older than this at the end of the reporting year is taken for a wrong number (person.age_implausible).
MAX_AGE = 120
_SCORES = frozenset(str(score) for score in refdata.VALID_SCORES)
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
__all__ = ["DEFAULT_MAX_FINDINGS", "MAX_AGE", "Report", "RuleCount", "Validator", "fatal_finding", "validate_file"]
# The duplicate check files each id's 64-bit hash (and its line) into one of this many buckets as
# it goes; the end looks at one bucket at a time, so its passing dict stays small.
_DUPLICATE_BUCKETS = 256


@dataclass
class ChunkState:
    """A chunk validator's findings and counts (``Validator.chunk_state``)."""

    persons: int
    services: int
    refusals: int
    counts: dict[str, int]
    by_rule: dict[str, int]
    kept: dict[str, list[Finding]]
    omitted: int
    users: dict[str, int]
    ids: list[tuple[str | None, str | None, int]]  # (local id, person id, line) per person


class Validator:
    """Checks an extract's records against the minimum requirements for ``year``.

    ``year`` None takes the reporting year from the header. ``profile_kommunenr`` and
    ``profile_bydel``, when given, must equal the header's. ``allow_synthetic`` accepts synthetic
    test person ids (month + 80), as in the sandbox. ``require_person_id`` False checks a
    pseudonymised content part, whose persons carry only their local id; ``birth_years`` (local
    id -> year of birth, from the pseudonymisation) then lets it check ages and service starts
    before birth all the same. The report keeps at most
    ``max_findings`` findings, and with ``max_per_rule`` at most that many of each rule (so that a
    screen has examples of every rule); the rest are counted.
    """

    def __init__(
        self,
        year: int | None = None,
        profile_kommunenr: str | None = None,
        profile_bydel: str | None = None,
        *,
        allow_synthetic: bool = True,
        require_person_id: bool = True,
        max_findings: int = DEFAULT_MAX_FINDINGS,
        max_per_rule: int | None = None,
        birth_years: Mapping[str, int] | None = None,
    ) -> None:
        if year is not None:
            refdata.supported_years()
            if year not in refdata.supported_years():
                raise refdata.UnsupportedYear(year)
        self.year = year
        self.profile_kommunenr = profile_kommunenr or None
        self.profile_bydel = profile_bydel or None
        self.allow_synthetic = allow_synthetic
        self.require_person_id = require_person_id
        self.birth_years = birth_years
        self.max_findings = max_findings
        self.max_per_rule = max_per_rule
        self.report = Report(year=year)
        self._by_rule: Counter[str] = Counter()
        self._kept: dict[str, list[Finding]] = {level: [] for level in LEVELS}
        self._kept_total = 0
        self._users: Counter[str] = Counter()  # persons per valid service code
        self._header: Header | None = None
        # (hashes, lines) per bucket, for the local ids and for the person ids
        self._seen_local = [(array("q"), array("Q")) for _ in range(_DUPLICATE_BUCKETS)]
        self._seen_person = [(array("q"), array("Q")) for _ in range(_DUPLICATE_BUCKETS)]
        self._ids: list[tuple[str | None, str | None, int]] | None = None
        self._finished = False
        self._today = datetime.date.today()  # a later birth date is left to check_person_id

    # -- the year's reference data ------------------------------------------------------------
    def _set_year(self, year: int) -> None:
        self.year = year
        self.report.year = year
        self._codes = refdata.service_codes(year)
        self._code_set = frozenset(self._codes)
        self._variables = refdata.function_variables(year)
        self._first = datetime.date(year, 1, 1)
        last = self._last = datetime.date(year, 12, 31)
        # Parsed values per distinct text (rules.Memo); None and "" parse to None, as "not given".
        dates = self._dates = Memo(lambda text: parse_date(text) if text else None)
        self._score_date_ok = Memo(lambda text: (date := dates[text]) is not None and date <= last)
        self._hours_ok = Memo(lambda text: (hours := parse_hours(text)) is not None and 0 < hours <= 168)
        self._days = Memo(parse_days)
        self._orgnr_ok = Memo(lambda text: orgnr_verdict(text).ok, 4096)

    def _add(self, found: list[Finding]) -> list[Finding]:
        report, by_rule, counts = self.report, self._by_rule, self.report.counts
        for item in found:
            by_rule[item.rule] += 1
            counts[item.level] += 1
            if self.max_per_rule is not None and by_rule[item.rule] > self.max_per_rule:
                report.findings_omitted += 1
                continue
            self._keep(item)
        return found

    def _keep(self, item: Finding) -> None:
        kept = self._kept
        if self._kept_total < self.max_findings:
            kept[item.level].append(item)
            self._kept_total += 1
            return
        # Full: the last kept finding of the least serious level below this one makes room.
        # (So the kept ones are the most serious, the earliest of each level first: chunks
        # validated apart and merged in order keep the same ones, see ``merge``.)
        self.report.findings_omitted += 1
        for lower in reversed(LEVELS[_RANK[item.level] + 1 :]):
            if kept[lower]:
                kept[lower].pop()
                kept[item.level].append(item)
                break

    # -- records ------------------------------------------------------------------------------
    def feed(self, record: Header | Person) -> list[Finding]:
        if isinstance(record, Person):
            if self._header is None:
                raise ValueError("a Person before the Header")
            found = self._person(record)
            return self._add(found) if found else found
        if isinstance(record, Header):
            if self._header is not None:
                raise ValueError("a second Header")
            self._header = record
            return self._add(self._header_findings(record))
        raise TypeError(f"not an extract record: {type(record).__name__}")

    def _header_findings(self, h: Header) -> list[Finding]:
        out: list[Finding] = []
        line = h.line
        header_year: int | None = None
        if h.year and len(h.year) == 4 and h.year.isascii() and h.year.isdigit():
            header_year = int(h.year)
        if self.year is None:
            if header_year is None:
                raise ExtractError(t("extract.year_unknown", value=shown(h.year) or ""), line, rule="file.year")
            if header_year not in refdata.supported_years():
                raise ExtractError(str(refdata.UnsupportedYear(header_year)), line, rule="file.year")
            self._set_year(header_year)
        else:
            self._set_year(self.year)
            if header_year != self.year:
                out.append(finding("header.year", None, line, "Year", shown(h.year), year=self.year))
        report = self.report
        report.kommunenr, report.bydel = h.kommunenr, h.bydel
        report.source_system, report.source_version = shown(h.source_system), shown(h.source_version)
        out.extend(header_field_findings(h, self.year, self.profile_kommunenr, self.profile_bydel))
        return out

    def _person(self, p: Person) -> list[Finding]:
        report = self.report
        services, scores, refusals = p.services, p.scores, p.refusals
        report.persons += 1
        report.services += len(services)
        report.refusals += len(refusals)
        out: list[Finding] = []
        line = p.line
        local_id = lid = p.local_id
        pid = p.person_id
        if local_id is None or not LOCAL_ID.fullmatch(local_id):
            out.append(finding("person.local_id", lid, line, "localId", shown(lid)))
        if self._ids is not None:  # a chunk of a process pool: the ids go to the merge
            self._ids.append((local_id, pid, line))
        else:
            self._note_ids(local_id, pid, line)

        # The common number first: one that check_person_id passes without a remark, with an age
        # in range; any other goes through every check in _person_id.
        birth_year = None
        if pid is not None and len(pid) == 11 and pid.isascii() and pid.isdigit():
            birth_year = identifiers.plain_birth_year(pid, self._today, self.allow_synthetic)
            if birth_year is not None and not 0 <= self.year - birth_year <= MAX_AGE:
                birth_year = None
        if birth_year is None:
            birth_year = self._person_id(p, lid, line, out)
        if p.household is not None and p.household not in HOUSEHOLD_CODES:
            out.append(finding("person.household", lid, line, "household", shown(p.household)))
        if not services and not refusals:
            out.append(person_finding("person.no_service", lid, line))
        if not scores:
            out.append(person_finding("person.no_scores", lid, line))

        variables, date_ok = self._variables, self._score_date_ok
        for score in scores:
            if score.variable in variables and score.value in _SCORES and date_ok[score.date]:
                continue  # the common case, in one test
            if score.variable not in variables:
                out.append(finding("score.variable", lid, score.line, "variable", shown(score.variable)))
            if score.value not in _SCORES:
                out.append(finding("score.value", lid, score.line, "value", shown(score.value)))
            if not date_ok[score.date]:  # not a date, or after the year
                out.append(finding("score.date", lid, score.line, "date", shown(score.date), year=self.year))
        codes = self._codes
        if services:
            for service in services:
                self._service(service, lid, out)
            given = {s.code for s in services}
            users = self._users
            for code in given & self._code_set:
                users[code] += 1
            if birth_year is not None:
                dates = self._dates
                for s in services:
                    start = dates[s.start]
                    if start is not None and start.year < birth_year:
                        out.append(finding("service.before_birth", lid, s.line, "start", shown(s.start), born=birth_year))
            if len(given) < len(services):  # a code given twice: its periods may overlap
                self._overlaps(services, lid, out)
        first, last = self._first, self._last
        for refusal in refusals:
            if refusal.code not in codes:
                out.append(finding("refusal.code", lid, refusal.line, "code", shown(refusal.code), year=self.year))
            date = self._dates[refusal.date]
            if date is None:
                out.append(finding("refusal.date", lid, refusal.line, "date", shown(refusal.date)))
            elif date < first or date > last:
                out.append(finding("refusal.period", lid, refusal.line, "date", shown(refusal.date), year=self.year))
        return out

    def _note_ids(self, local_id: str | None, person_id: str | None, line: int) -> None:
        if local_id:
            key = hash(local_id)
            hashes, lines = self._seen_local[key & (_DUPLICATE_BUCKETS - 1)]
            hashes.append(key)
            lines.append(line)
        if person_id:
            key = hash(person_id)
            hashes, lines = self._seen_person[key & (_DUPLICATE_BUCKETS - 1)]
            hashes.append(key)
            lines.append(line)

    def _person_id(self, p: Person, lid: str | None, line: int, out: list[Finding]) -> int | None:
        """The person id's checks; returns the birth year when known (from a valid number, or
        for a pseudonymised part from ``birth_years``), after checking the age it gives."""
        pid = p.person_id
        birth_year: int | None = None
        kept: Finding | None = None  # the person.id_kind warning, added last
        old = False  # kept says only "born before 1900", which an age finding says better
        if pid is None:
            if self.require_person_id:
                out.append(finding("person.id_missing", lid, line, "personId", None))
            if self.birth_years is not None and lid is not None:
                birth_year = self.birth_years.get(lid)
        elif not (len(pid) == 11 and pid.isascii() and pid.isdigit()):
            out.append(finding("person.id_format", lid, line, "personId", mask_person_id(pid), length=len(pid)))
        else:
            verdict = identifiers.check_person_id(pid, allow_synthetic=self.allow_synthetic)
            if not verdict.ok:
                if identifiers.person_id_check_digits(pid[:9]) != (int(pid[9]), int(pid[10])):
                    out.append(finding("person.id_checksum", lid, line, "personId", mask_person_id(pid)))
                else:
                    out.append(finding("person.id_invalid", lid, line, "personId", mask_person_id(pid), detail=verdict.message))
                return None
            born = identifiers.birth_date(pid, checked=True)
            birth_year = born.year if born is not None else None
            if verdict.severity != "ok":
                kept = finding("person.id_kind", lid, line, "personId", mask_person_id(pid), detail=verdict.message)
                old = verdict.kind not in ("hnr", "fhnr")
        if birth_year is not None:
            age = self.year - birth_year  # at 31 December of the reporting year, give or take a birthday
            if age < 0 or age > MAX_AGE:
                out.append(finding("person.age_implausible", lid, line, "personId", str(birth_year), born=birth_year, age=age, year=self.year))
                birth_year = None  # a wrong birth year: its services are not "before birth" one by one
                if old:
                    kept = None
        if kept is not None:
            out.append(kept)
        return birth_year

    def _overlaps(self, services: list[Service], lid: str | None, out: list[Finding]) -> None:
        """Two services of one person with the same code whose periods overlap (a handover on
        the same day is no overlap; the same start is)."""
        dates = self._dates
        periods: dict[str, list[tuple[datetime.date, datetime.date | None, int]]] = {}
        for s in services:
            start = dates[s.start]
            if start is None:
                continue
            end = dates[s.end]
            if s.code in self._codes and (s.end is None or (end is not None and end >= start)):
                periods.setdefault(s.code, []).append((start, end, s.line))
        for code, spans in periods.items():
            if len(spans) < 2:
                continue
            spans.sort(key=lambda span: (span[0], span[2]))
            previous_start, latest_end, latest_line = spans[0]
            for start, end, line in spans[1:]:
                if latest_end is None or start < latest_end or start == previous_start:
                    out.append(finding("service.overlap", lid, line, "start", start.isoformat(), code=code, name=self._codes[code].name, other_line=latest_line))
                if latest_end is not None and (end is None or end > latest_end):
                    latest_end, latest_line = end, line
                previous_start = start

    def _service(self, s: Service, lid: str | None, out: list[Finding]) -> None:
        line = s.line
        code = self._codes.get(s.code)
        if code is None:
            out.append(finding("service.code", lid, line, "code", shown(s.code), year=self.year))

        dates = self._dates
        decision, start, end = dates[s.decision_date], dates[s.start], dates[s.end]
        if decision is None:
            out.append(finding("service.decision_date", lid, line, "decisionDate", shown(s.decision_date)))
        if start is None:
            out.append(finding("service.start_date", lid, line, "start", shown(s.start)))
        if end is None and s.end is not None:
            out.append(finding("service.end_date", lid, line, "end", shown(s.end)))
        first, last = self._first, self._last
        if start is not None:
            if end is not None and start > end:
                out.append(finding("service.start_after_end", lid, line, "end", shown(s.end), start=s.start))
            elif start > last or (end is not None and end < first):
                out.append(finding("service.period", lid, line, "start", shown(s.start), end=shown(s.end) or "", year=self.year))
            if decision is not None and decision > start:
                out.append(finding("service.decision_after_start", lid, line, "decisionDate", shown(s.decision_date), start=s.start))

        if code is None:
            return
        orgnr_rule = code.orgnr_rule
        if orgnr_rule == "must_not":
            if s.orgnr is not None:
                out.append(finding("service.orgnr_forbidden", lid, line, "orgnr", shown(s.orgnr), code=code.code, name=code.name))
        elif s.orgnr is None:
            if orgnr_rule == "must":
                out.append(finding("service.orgnr_missing", lid, line, "orgnr", None, code=code.code, name=code.name))
        elif not self._orgnr_ok[s.orgnr]:
            out.append(finding("service.orgnr_checksum", lid, line, "orgnr", shown(s.orgnr), detail=orgnr_verdict(s.orgnr).message))

        unit = code.unit
        if s.hours_per_week is not None:
            if unit != "hours":
                out.append(finding("service.unit_mismatch", lid, line, "hoursPerWeek", shown(s.hours_per_week), code=code.code, name=code.name))
            elif not self._hours_ok[s.hours_per_week]:  # not a number, or not 0 < hours <= 168
                out.append(finding("service.hours_range", lid, line, "hoursPerWeek", shown(s.hours_per_week)))
        elif unit == "hours":
            out.append(finding("service.extent_missing", lid, line, "hoursPerWeek", None, code=code.code, name=code.name))
        if s.days is not None:
            if unit != "days":
                out.append(finding("service.unit_mismatch", lid, line, "days", shown(s.days), code=code.code, name=code.name))
            else:
                days = self._days[s.days]
                limit = 366
                if start is not None and (end is None or end >= start):
                    lo = max(start, first)
                    hi = min(end, last) if end is not None else last
                    limit = max((hi - lo).days + 1, 0)
                if days is None or not 0 < days <= limit:
                    out.append(finding("service.days_range", lid, line, "days", shown(s.days), limit=limit, year=self.year))
        elif unit == "days":
            out.append(finding("service.extent_missing", lid, line, "days", None, code=code.code, name=code.name))
        if (s.admitted_from is not None or s.discharged_to is not None) and unit != "days":
            field_name = "admittedFrom" if s.admitted_from is not None else "dischargedTo"
            value = s.admitted_from if s.admitted_from is not None else s.discharged_to
            out.append(finding("service.stay_fields", lid, line, field_name, shown(value), code=code.code, name=code.name))

    # -- a process pool's chunks (core.pass_pool) --------------------------------------------
    def for_chunk(self) -> Validator:
        """This validator, set to check persons cut from an extract whose header another one
        checked (``year`` given): its state goes to that one with ``chunk_state``/``merge``."""
        if self.year is None:
            raise ValueError("a chunk needs the year")
        self._set_year(self.year)
        self._header = Header()
        self._ids = []
        return self

    def chunk_state(self) -> ChunkState:
        """What ``merge`` needs of the persons this validator saw (picklable)."""
        report = self.report
        return ChunkState(
            report.persons, report.services, report.refusals, dict(report.counts), dict(self._by_rule),
            self._kept, report.findings_omitted, dict(self._users), self._ids or [],
        )  # fmt: skip

    def merge(self, state: ChunkState) -> None:
        """Take a chunk's persons, chunks in file order: the same counts, kept findings (each
        chunk kept its most serious, earliest first, so the whole file's are among them) and
        duplicate check as one validator that saw every person.

        With ``max_per_rule`` the chunk kept the first ones of each rule in the chunk (a rule has
        one level, so they are the first of its kept ones, in order); one of them is kept here
        only if it is among the first of its rule in the whole file."""
        report = self.report
        cap = self.max_per_rule
        seen = Counter(self._by_rule) if cap is not None else None  # of each rule, before this chunk
        report.persons += state.persons
        report.services += state.services
        report.refusals += state.refusals
        for level, count in state.counts.items():
            report.counts[level] += count
        self._by_rule.update(state.by_rule)
        report.findings_omitted += state.omitted
        for level in LEVELS:
            for item in state.kept[level]:
                if seen is not None and cap is not None:
                    seen[item.rule] += 1
                    if seen[item.rule] > cap:
                        report.findings_omitted += 1
                        continue
                self._keep(item)
        self._users.update(state.users)
        for local_id, person_id, line in state.ids:
            self._note_ids(local_id, person_id, line)

    # -- the end ------------------------------------------------------------------------------
    def _duplicates(self) -> list[Finding]:
        """Persons whose local id or person id was seen on an earlier line."""
        out: list[tuple[int, Finding]] = []
        for buckets, field_name in ((self._seen_local, "localId"), (self._seen_person, "personId")):
            what = t("extract.dup_local" if field_name == "localId" else "extract.dup_person")
            for hashes, lines in buckets:
                seen: dict[int, int] = {}
                for key, line in zip(hashes, lines):
                    first_line = seen.setdefault(key, line)
                    if first_line != line:
                        item = finding("person.duplicate", None, line, field_name, None, first_line=first_line, what=what)
                        out.append((line, item))
        out.sort(key=lambda pair: pair[0])
        return [item for _, item in out]

    def _service_users(self) -> list[Finding]:
        """One info finding per service code given: how many persons have it."""
        out = []
        for code, users in sorted(self._users.items()):
            name = self._codes[code].name
            out.append(finding("file.service_users", None, None, "code", code, code=code, name=name, users=users))
        return out

    def add_fatal(self, error: ExtractError) -> Finding:
        """Count the reason the file could not be read (the reading stopped there)."""
        item = fatal_finding(error)
        self._add([item])
        self.report.fatal = item
        return item

    def finish(self) -> Report:
        """The report; a second call returns the same one."""
        report = self.report
        if self._finished:
            return report
        self._finished = True
        if self._header is not None and report.fatal is None:
            found = self._duplicates()
            if report.persons == 0:
                found.append(finding("file.no_persons", None, None, None, None))
            found.extend(self._service_users())
            self._add(found)
        report.by_rule = dict(sorted(self._by_rule.items()))
        report.findings = [item for level in LEVELS for item in self._kept[level]]
        return report


def fill_duplicate_ids(report: Report, opened_records: Iterator[Header | Person]) -> None:
    """Second pass, only when duplicates were found: put the local id on each such finding."""
    wanted = {f.line for f in report.findings if f.rule == "person.duplicate" and f.local_id is None}
    if not wanted:
        return
    ids: dict[int, str | None] = {}
    for record in opened_records:
        if isinstance(record, Person) and record.line in wanted:
            ids[record.line] = shown(record.local_id)
            if len(ids) == len(wanted):
                break
    report.findings = [
        Finding(f.rule, f.level, ids.get(f.line), f.line, f.field, ids.get(f.line) if f.field == "localId" else f.value, f.message)
        if f.rule == "person.duplicate" and f.local_id is None
        else f
        for f in report.findings
    ]


def validate_file(
    path: str | os.PathLike[str],
    *,
    year: int | None = None,
    profile_kommunenr: str | None = None,
    profile_bydel: str | None = None,
    allow_synthetic: bool = True,
    require_person_id: bool = True,
    birth_years: Mapping[str, int] | None = None,
    max_findings: int = DEFAULT_MAX_FINDINGS,
    max_per_rule: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    sha256: bool = False,
) -> Report:
    """Validate the extract at ``path`` in one streaming pass.

    A file that cannot be read as an extract gives a report whose ``fatal`` finding says why
    (with the findings of the records read before that point). ``progress(bytes_read, total)``
    is called per chunk; a set ``cancel`` event raises ``Cancelled`` between chunks. With
    ``sha256`` the report carries the SHA-256 of exactly the bytes validated.
    """
    validator = Validator(
        year,
        profile_kommunenr,
        profile_bydel,
        allow_synthetic=allow_synthetic,
        require_person_id=require_person_id,
        max_findings=max_findings,
        max_per_rule=max_per_rule,
        birth_years=birth_years,
    )
    digest = hashlib.sha256() if sha256 else None
    try:
        opened = open_extract(path, max_bytes=max_bytes, allowed_dir=allowed_dir)
    except ExtractError as exc:
        validator.add_fatal(exc)
        return validator.finish()
    with opened:
        validator.report.size = opened.size
        try:
            for record in opened.records(progress=progress, cancel=cancel, tap=digest.update if digest is not None else None):
                validator.feed(record)
        except ExtractError as exc:
            validator.add_fatal(exc)
            if digest is not None:
                with contextlib.suppress(ExtractError):
                    opened.read_rest()
        report = validator.finish()
        if digest is not None:
            report.sha256 = digest.hexdigest()
        if report.fatal is None:
            fill_duplicate_ids(report, opened.records(cancel=cancel))
        return report
