"""A deterministic, streaming generator of synthetic extracts (IPLOS-uttrekk v1).

Only synthetic test person ids (month + 80) are made, never a real-looking fødselsnummer. The
same arguments always give the same bytes. With ``error_rate`` > 0 a share of the persons get one
planted error each, taken in turn from every rule that a person can break; the list of planted
``(local_id, rule)`` is returned, so a test knows exactly what the validator must find, and that
nothing else may be found.
"""

from __future__ import annotations

import copy
import datetime
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from iplos_tui.core import refdata
from iplos_tui.core.extract.model import Header, Person, Refusal, Score, Service
from iplos_tui.core.extract.rules import ERROR, RULES, WARNING
from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header, write_person
from iplos_tui.core.identifiers import birth_date, make_person_id, orgnr_check_digit, person_id_check_digits

_BIRTH_FIRST = datetime.date(1920, 1, 1)
_BIRTH_LAST = datetime.date(2010, 12, 31)
_BIRTH_DAYS = (_BIRTH_LAST - _BIRTH_FIRST).days + 1
_STRIDE = 7919  # a prime: i * stride mod days walks every birth date once
_SLOTS = 10  # individual numbers tried per (birth date, round)
_ROUNDS = 45  # 450 individual numbers per century / 10; 450-499 are the fallback


@dataclass(frozen=True)
class Planted:
    local_id: str
    rule: str


#: Rules the generator plants in persons, at the error rate (the info facts are not defects).
PLANTABLE = tuple(rule for rule, level in RULES.items() if level in (ERROR, WARNING) and not rule.startswith(("header.", "file.")))

#: Header rules that ``header_errors`` can plant, once each, with the header change that breaks
#: them. The profile rules (kommunenr_profile, bydel_profile) and header.year depend on what the
#: validator is told, not on the file; file.no_persons is ``persons=0``.
HEADER_PLANTS: dict[str, dict[str, str | None]] = {
    "header.kommunenr": {"kommunenr": "0000"},
    "header.bydel": {"bydel": "0"},
    "header.orgnr": {"orgnr": "123456789"},
    "header.contact": {"contact_email": "iplos@"},
    "header.produced_at": {"produced_at": "i går"},
}


def _valid_orgnr(start: int) -> str:
    base = start
    while True:
        digit = orgnr_check_digit(f"{base:08d}")
        if digit is not None:
            return f"{base:08d}{digit}"
        base += 1


def municipality_orgnr(kommunenr: str) -> str:
    """A fixed, valid-looking orgnr for a sandbox municipality (9 + kommunenr + ...)."""
    return _valid_orgnr(int(f"9{kommunenr}000"))


def _location_orgnrs(kommunenr: str, count: int = 12) -> list[str]:
    result, base = [], int(f"98{kommunenr}00")
    while len(result) < count:
        orgnr = _valid_orgnr(base)
        result.append(orgnr)
        base = int(orgnr[:8]) + 1
    return result


def synthetic_person_id(index: int) -> str:
    """The index-th synthetic person id: unique for every index below ~1.6 million."""
    day, round_ = (index * _STRIDE) % _BIRTH_DAYS, index // _BIRTH_DAYS
    if round_ >= _ROUNDS:
        raise ValueError("too many persons for unique synthetic ids")
    birth = _BIRTH_FIRST + datetime.timedelta(days=day)
    offset = 500 if birth.year >= 2000 else 0
    for slot in range(_SLOTS):
        pid = make_person_id(birth, offset + round_ * _SLOTS + slot, kind="synthetic")
        if pid is not None:
            return pid
    # Ten check-digit failures in a row are rare (p ~ 2e-8): then take one of the individual
    # numbers 450-499 (of the century) that the slots never use, starting at one per round.
    for individual in range(offset + 450 + round_, offset + 500):
        pid = make_person_id(birth, individual, kind="synthetic")
        if pid is not None:
            return pid
    raise ValueError(f"no synthetic id for {birth}")


class _Maker:
    def __init__(self, rng: random.Random, kommunenr: str, year: int) -> None:
        self.rng = rng
        self.year = year
        self.codes = refdata.service_codes(year)
        self.variables = sorted(refdata.function_variables(year))
        self.locations = _location_orgnrs(kommunenr)
        self.first = datetime.date(year, 1, 1)
        self.last = datetime.date(year, 12, 31)
        by_rule: dict[str, list[str]] = {"must": [], "may": [], "must_not": []}
        for code in self.codes.values():
            by_rule[code.orgnr_rule].append(code.code)
        self.must_not = by_rule["must_not"]

    def day(self, lo: datetime.date, hi: datetime.date) -> datetime.date:
        return lo + datetime.timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def service(self, code: str, *, ends: bool | None = None) -> Service:
        rng, first, last = self.rng, self.first, self.last
        info = self.codes[code]
        if info.unit == "days" and ends is None:
            ends = rng.random() < 0.6
        elif ends is None:
            ends = rng.random() < 0.3
        start = self.day(first.replace(year=self.year - 4), last - datetime.timedelta(days=20))
        end = self.day(max(start, first), last) if ends else None
        decision = start - datetime.timedelta(days=rng.randrange(0, 45))
        service = Service(code=code, decision_date=decision.isoformat(), start=start.isoformat(), end=end.isoformat() if end else None)
        if info.unit == "hours":
            service.hours_per_week = f"{rng.randrange(1, 121) / 4:g}"
        elif info.unit == "days":
            overlap = ((end or last) - max(start, first)).days + 1
            service.days = str(rng.randint(max(1, overlap - 3), overlap))
            if rng.random() < 0.5:
                service.admitted_from = rng.choice(("hjemmet", "sykehus", "annen institusjon"))
            if end is not None and rng.random() < 0.5:
                service.discharged_to = rng.choice(("hjemmet", "sykehus", "annen institusjon", "død"))
        if info.orgnr_rule == "must" or (info.orgnr_rule == "may" and rng.random() < 0.5):
            service.orgnr = rng.choice(self.locations)
        return service

    def refusal(self, code: str | None = None) -> Refusal:
        code = code or self.rng.choice(("01", "03", "15", "21", "19"))
        return Refusal(code=code, date=self.day(self.first, self.last).isoformat())

    def scores(self) -> list[Score]:
        rng = self.rng
        if rng.random() < 0.25:
            return []
        date = self.day(self.first.replace(year=self.year - 1), self.last).isoformat()
        chosen = rng.sample(self.variables, rng.randint(4, len(self.variables)))
        return [Score(variable=v, value=rng.choice("1112223334459"), date=date) for v in sorted(chosen)]

    def person(self, index: int, local_id: str) -> Person:
        rng = self.rng
        person = Person(
            local_id=local_id,
            person_id=synthetic_person_id(index),
            household=rng.choice(("1", "1", "1", "2", "2", "9", None)),
        )
        profile = rng.random()
        services: list[Service] = []
        have = set(self.codes)
        if profile < 0.60:  # at home
            services.append(self.service("15"))
            for code, share in (("01", 0.5), ("06", 0.4), ("05", 0.15), ("04", 0.1)):
                if rng.random() < share:
                    services.append(self.service(code))
        elif profile < 0.75:  # long-term stay
            services.append(self.service("21"))
            if rng.random() < 0.1 and "26" in have:
                services.append(self.service("26"))
        elif profile < 0.85:  # short stay, then home
            services.append(self.service(rng.choice(("18", "19", "20")), ends=True))
            services.append(self.service("15"))
        elif profile < 0.95:  # disabilities, younger
            for code, share in (("03", 0.4), ("07", 0.5), ("09", 0.5), ("04", 0.3), ("12", 0.3), ("14", 0.05)):
                if rng.random() < share and code in have:
                    services.append(self.service(code))
            if not services:
                services.append(self.service("09"))
        person.services = services
        if profile >= 0.95 or rng.random() < 0.03:
            person.refusals.append(self.refusal())
        person.scores = self.scores()
        return person


def _plant(rule: str, person: Person, maker: _Maker, context: dict[str, object]) -> bool:
    """Give ``person`` exactly one finding of ``rule``; False when it cannot here (try another)."""
    year, rng = maker.year, maker.rng

    def add_service(code: str = "15", final_code: str | None = None, **changes: object) -> None:
        service = maker.service(code, ends=False)
        if final_code is not None:
            service.code = final_code
        for key, value in changes.items():
            setattr(service, key, value)
        # the person's own services of that code go, so that the new one overlaps none of them
        person.services = [s for s in person.services if s.code != service.code]
        person.services.append(service)

    def before_birth() -> None:
        born = birth_date(person.person_id or "")
        day = f"{born.year - 1}-06-01" if born else None
        add_service(decision_date=day, start=day)

    def bad_orgnr() -> str:
        good = rng.choice(maker.locations)
        return good[:8] + str((int(good[8]) + 1) % 10)

    plants: dict[str, Callable[[], None]] = {
        "person.local_id": lambda: setattr(person, "local_id", f"{person.local_id} X"),
        "person.id_missing": lambda: setattr(person, "person_id", None),
        "person.id_format": lambda: setattr(person, "person_id", person.person_id[:10]),
        "person.id_checksum": lambda: setattr(person, "person_id", person.person_id[:10] + str((int(person.person_id[10]) + 1) % 10)),
        "person.id_invalid": lambda: setattr(person, "person_id", _impossible_date_id(context)),
        "person.id_kind": lambda: setattr(person, "person_id", _help_number(person.person_id)),
        "person.no_service": lambda: (person.services.clear(), person.refusals.clear()),
        "person.household": lambda: setattr(person, "household", "7"),
        "person.age_implausible": lambda: setattr(person, "person_id", _over_120(year, context)),
        "service.before_birth": before_birth,
        "score.variable": lambda: person.scores.append(Score("unknown_variable", "3", f"{year}-03-01")),
        "score.value": lambda: person.scores.append(Score(maker.variables[0], "6", f"{year}-03-01")),
        "score.date": lambda: person.scores.append(Score(maker.variables[0], "2", f"{year + 1}-02-01")),
        "service.code": lambda: add_service(final_code="99"),
        "service.decision_date": lambda: add_service(decision_date=f"{year}-02-30"),
        "service.start_date": lambda: add_service(start=f"01.03.{year}"),
        "service.end_date": lambda: add_service(end=f"{year}-13-01"),
        "service.period": lambda: add_service(decision_date=f"{year - 2}-01-01", start=f"{year - 2}-01-10", end=f"{year - 2}-12-31"),
        "service.start_after_end": lambda: add_service(decision_date=f"{year}-05-20", start=f"{year}-06-01", end=f"{year}-05-01"),
        "service.decision_after_start": lambda: add_service(decision_date=f"{year}-06-11", start=f"{year}-06-01"),
        "service.orgnr_missing": lambda: add_service(orgnr=None),
        "service.orgnr_forbidden": lambda: add_service(code=rng.choice(maker.must_not), orgnr=rng.choice(maker.locations)),
        "service.orgnr_checksum": lambda: add_service(orgnr=bad_orgnr()),
        "service.hours_range": lambda: add_service(hours_per_week=rng.choice(("170", "0", "168.5", "7,5"))),
        "service.days_range": lambda: add_service(code="21", days="400"),
        "service.extent_missing": lambda: add_service(hours_per_week=None),
        "service.unit_mismatch": lambda: add_service(days="10"),
        "service.stay_fields": lambda: add_service(admitted_from="hjemmet"),
        "refusal.code": lambda: person.refusals.append(Refusal("99", f"{year}-04-01")),
        "refusal.date": lambda: person.refusals.append(Refusal("21", f"{year}-4-1")),
        "refusal.period": lambda: person.refusals.append(Refusal("21", f"{year - 1}-12-31")),
    }
    if rule == "service.overlap":
        if not person.services:
            return False
        person.services.append(copy.copy(person.services[0]))  # the same service twice
        return True
    if rule == "person.duplicate":
        previous = context.get("previous_id")
        if not previous:
            return False
        person.person_id = previous  # type: ignore[assignment]
        return True
    plants[rule]()
    return True


def _impossible_date_id(context: dict[str, object]) -> str:
    """11 digits with valid check digits but day 32 (a date that does not exist)."""
    counter = int(context.get("invalid_counter", 0))  # type: ignore[arg-type]
    while True:
        counter += 1
        first9 = f"32{81 + counter % 12:02d}{(counter // 12) % 100:02d}{(counter // 1200) % 500:03d}"
        digits = person_id_check_digits(first9)
        if digits is not None:
            context["invalid_counter"] = counter
            return f"{first9}{digits[0]}{digits[1]}"


def _over_120(year: int, context: dict[str, object]) -> str:
    """A synthetic id, unique in the file, of a person born 121 years before ``year``."""
    counter = int(context.get("old_counter", 0))  # type: ignore[arg-type]
    while True:
        counter += 1
        birth = datetime.date(year - 121, 1 + counter % 12, 1 + (counter // 12) % 28)
        pid = make_person_id(birth, 500 + (counter // 336) % 250, kind="synthetic")
        if pid is not None:
            context["old_counter"] = counter
            return pid


def _help_number(synthetic: str) -> str:
    """The H-number (month + 40) of the same birth date: valid, unique, warned about."""
    day, month = int(synthetic[0:2]), int(synthetic[2:4]) - 80
    yy, individual = int(synthetic[4:6]), int(synthetic[6:9])
    for candidate in range(individual, individual + 1000):
        first9 = f"{day:02d}{month + 40:02d}{yy:02d}{candidate % 500 + (individual // 500) * 500:03d}"
        digits = person_id_check_digits(first9)
        if digits is not None:
            return f"{first9}{digits[0]}{digits[1]}"
    raise ValueError("no help number")


def generate(
    out: BinaryIO,
    *,
    persons: int,
    seed: int = 0,
    kommunenr: str = "0403",
    bydel: str = "00",
    year: int = 2017,
    error_rate: float = 0.0,
    orgnr: str | None = None,
    contact_email: str | None = None,
    contact_mobile: str | None = "+47 400 00 000",
    header_errors: tuple[str, ...] = (),
) -> list[Planted]:
    """Write a synthetic extract of ``persons`` persons to ``out``; return the planted errors.

    ``header_errors`` (rules of HEADER_PLANTS) break the header once each; they are returned
    with an empty local id."""
    if persons < 0:
        raise ValueError("persons must be >= 0")
    if not 0.0 <= error_rate <= 1.0 or math.isnan(error_rate):
        raise ValueError("error_rate must be between 0 and 1")
    rng = random.Random(f"iplos-sandbox:{seed}:{kommunenr}:{bydel}:{year}")
    maker = _Maker(rng, kommunenr, year)
    header = Header(
        kommunenr=kommunenr,
        bydel=bydel,
        year=str(year),
        orgnr=orgnr or municipality_orgnr(kommunenr),
        contact_email=contact_email or f"iplos-{kommunenr}@sandbox.example",
        contact_mobile=contact_mobile,
        source_system="iplos-tui sandbox",
        source_version="1",
        produced_at=f"{year + 1}-01-03T08:00:00+01:00",
    )
    planted: list[Planted] = []
    for rule in header_errors:
        if rule not in HEADER_PLANTS:
            raise ValueError(f"cannot plant {rule!r} in a header; choose from {', '.join(HEADER_PLANTS)}")
        for attr, value in HEADER_PLANTS[rule].items():
            setattr(header, attr, value)
        planted.append(Planted("", rule))
    write_header(out, header)
    context: dict[str, object] = {}
    turn = 0
    for index in range(persons):
        person = maker.person(index, f"L{index + 1:07d}")
        clean_id = person.person_id
        if error_rate and rng.random() < error_rate:
            for attempt in range(len(PLANTABLE)):
                rule = PLANTABLE[(turn + attempt) % len(PLANTABLE)]
                if _plant(rule, person, maker, context):
                    turn += attempt + 1
                    planted.append(Planted(person.local_id or "", rule))
                    break
        context["previous_id"] = clean_id if person.person_id == clean_id else None
        write_person(out, person)
    write_footer(out)
    return planted


def generate_file(path: str | Path, **kwargs: object) -> list[Planted]:
    """``generate`` into ``path`` atomically (temp file, fsync, rename; mode 0600)."""
    from iplos_tui.core.fsutil import atomic_writer

    with atomic_writer(Path(path)) as handle:
        import io

        buffered = io.BufferedWriter(handle, buffer_size=1024 * 1024)  # type: ignore[arg-type]
        planted = generate(buffered, **kwargs)  # type: ignore[arg-type]
        buffered.flush()
        buffered.detach()
    return planted
