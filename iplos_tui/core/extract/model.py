"""The records of an extract, independent of the file format they were read from.

Values stay strings exactly as read wherever parsing can fail (dates, numbers, codes), so that
the validator can report the value that is wrong. ``None`` means "not given"; an empty attribute
is read as ``None`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Header:
    kommunenr: str | None = None
    bydel: str | None = None
    year: str | None = None
    orgnr: str | None = None
    contact_email: str | None = None
    contact_mobile: str | None = None
    source_system: str | None = None
    source_version: str | None = None
    produced_at: str | None = None
    line: int = 0


@dataclass(slots=True)
class Score:
    """One function assessment: variable id, score "1".."5" or "9", date of the assessment."""

    variable: str | None = None
    value: str | None = None
    date: str | None = None
    line: int = 0


@dataclass(slots=True)
class Service:
    """One granted service (IPLOS tjeneste) with its decision (vedtak), period and extent."""

    code: str | None = None
    decision_date: str | None = None
    start: str | None = None
    end: str | None = None
    hours_per_week: str | None = None
    days: str | None = None
    orgnr: str | None = None
    admitted_from: str | None = None
    discharged_to: str | None = None
    line: int = 0


@dataclass(slots=True)
class Refusal:
    """A refused application (avslag): the service code applied for and the decision date."""

    code: str | None = None
    date: str | None = None
    line: int = 0


@dataclass(slots=True)
class Person:
    local_id: str | None = None
    person_id: str | None = None  # fødselsnummer or d-nummer; None in a pseudonymised content part
    household: str | None = None
    scores: list[Score] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    line: int = 0


Record = Header | Person

#: Household codes (husstand).
HOUSEHOLD_CODES = {"1": "bor alene", "2": "bor med andre", "9": "ukjent"}
