"""The validation rules: stable ids, one level each, and the findings they produce.

A rule id is a short stable string (``service.hours_range``); its Norwegian (and English) message
lives in ``iplos_tui/locale/extract.toml`` as ``rule_<id with _ for .>`` and says what to fix in
the care system, its short title as ``title_<...>``.

Four levels, as in SSB's KOSTRA control program (docs/rules.md lists every rule):

* ``fatal``: the file cannot be used at all (unreadable, not an extract, the header's
  municipality / district / year not the profile's, no persons). Blocks sending; nothing else does.
* ``error``: a record SSB will flag. Sendable after an explicit acceptance.
* ``warning``: probably wrong, worth a look. ``info``: facts worth knowing.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import asdict, dataclass
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from iplos_tui.core.i18n import get_language, t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.identifiers import Verdict

FATAL = "fatal"
ERROR = "error"
WARNING = "warning"
INFO = "info"
#: The levels, most serious first.
LEVELS = (FATAL, ERROR, WARNING, INFO)

#: Reasons a file cannot be read as an extract at all (``ExtractError.rule``), all fatal.
UNREADABLE = (
    "file.path",
    "file.empty",
    "file.too_large",
    "file.format",
    "file.structure",
    "file.not_xml",
    "file.truncated",
    "file.encoding",
    "file.doctype",
    "file.text_too_large",
    "file.token_too_large",
    "file.year",
)

#: Every rule: id -> level. The rules of a readable file first, then the unreadable reasons.
RULES: dict[str, str] = {
    # header
    "header.kommunenr": ERROR,
    "header.kommunenr_profile": FATAL,
    "header.bydel": ERROR,
    "header.bydel_unusual": WARNING,
    "header.bydel_profile": FATAL,
    "header.year": FATAL,
    "header.orgnr": ERROR,
    "header.contact": WARNING,
    "header.produced_at": WARNING,
    # person
    "person.local_id": ERROR,
    "person.id_missing": ERROR,
    "person.id_format": ERROR,
    "person.id_checksum": ERROR,
    "person.id_invalid": ERROR,
    "person.id_kind": WARNING,
    "person.age_implausible": ERROR,
    "person.duplicate": ERROR,
    "person.no_service": ERROR,
    "person.household": WARNING,
    "person.no_scores": INFO,
    # function scores
    "score.variable": ERROR,
    "score.value": ERROR,
    "score.date": ERROR,
    # services
    "service.code": ERROR,
    "service.decision_date": ERROR,
    "service.start_date": ERROR,
    "service.end_date": ERROR,
    "service.period": ERROR,
    "service.start_after_end": ERROR,
    "service.before_birth": ERROR,
    "service.decision_after_start": WARNING,
    "service.orgnr_missing": ERROR,
    "service.orgnr_forbidden": ERROR,
    "service.orgnr_checksum": ERROR,
    "service.hours_range": ERROR,
    "service.days_range": ERROR,
    "service.extent_missing": WARNING,
    "service.unit_mismatch": WARNING,
    "service.stay_fields": WARNING,
    "service.overlap": WARNING,
    # refusals
    "refusal.code": ERROR,
    "refusal.date": ERROR,
    "refusal.period": ERROR,
    # the file as a whole
    "file.no_persons": FATAL,
    "file.service_users": INFO,
    **dict.fromkeys(UNREADABLE, FATAL),
}


#: The rules catalogue's version (docs/rules.md, every report): raise it whenever a rule is
#: added, removed or changes level; a test holds it to the table.
CATALOGUE_VERSION = "3"


def rules_of_level(level: str) -> list[str]:
    return [rule for rule, rule_level in RULES.items() if rule_level == level]


def level_name(level: str) -> str:
    """The level as the operator reads it ("kritisk", "feil", "advarsel", "info")."""
    return t("rules.level_" + level)


def rule_check(rule: str) -> str:
    """What the rule checks (docs/rules.md)."""
    return t("rules.check_" + rule.replace(".", "_"))


def rule_fix(rule: str) -> str:
    """What to fix in the care system when the rule fires."""
    return t("rules.fix_" + rule.replace(".", "_"))


def message_key(rule: str) -> str:
    return "extract.rule_" + rule.replace(".", "_")


def title_key(rule: str) -> str:
    return "extract.title_" + rule.replace(".", "_")


def rule_title(rule: str) -> str:
    return t(title_key(rule))


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    level: str  # one of LEVELS, always RULES[rule]
    local_id: str | None
    line: int | None
    field: str | None
    value: str | None  # as read, made safe; person ids masked
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def shown(value: str | None) -> str | None:
    """A value from the file as it may appear in a finding: one line, control characters
    visible, at most 80 characters."""
    if value is None:
        return None
    return safe_text(value, one_line=True, limit=80)


def mask_person_id(value: str | None) -> str | None:
    """The first 6 digits (the date of birth) and stars: enough to find the record, not the person."""
    if value is None:
        return None
    return safe_text(value[:6], one_line=True) + "*****"


def finding(rule: str, local_id: str | None, line: int | None, field: str | None, value: str | None, **values: object) -> Finding:
    """A finding of ``rule``; ``local_id`` is the raw id from the file (made safe here)."""
    values.setdefault("value", value if value is not None else t("extract.missing_value"))
    return Finding(rule, RULES[rule], shown(local_id), line, field, value, t(message_key(rule), **values))


def person_finding(rule: str, local_id: str | None, line: int) -> Finding:
    """``finding(rule, local_id, line, None, None)``, for a rule whose message names nothing of
    the record (person.no_scores, person.no_service): the text is made once per language."""
    return Finding(rule, RULES[rule], shown(local_id), line, None, None, _plain_message(rule, get_language()))


@lru_cache(maxsize=16)
def _plain_message(rule: str, language: str) -> str:
    return t(message_key(rule), value=t("extract.missing_value"))


# --- values ------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?")
_HOURS = re.compile(r"\d{1,4}(\.\d{1,4})?")
_DAYS = re.compile(r"\d{1,4}")
LOCAL_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,63}")


@lru_cache(maxsize=8192)
def parse_date(value: str) -> datetime.date | None:
    """``YYYY-MM-DD`` (and nothing else: not 31.12.2017, not 20171231), or None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def parse_datetime_ok(value: str) -> bool:
    if not _DATETIME.fullmatch(value):
        return False
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def parse_hours(value: str) -> float | None:
    if not _HOURS.fullmatch(value):
        return None
    return float(value)


def parse_days(value: str) -> int | None:
    return int(value) if _DAYS.fullmatch(value) else None


class Memo(dict[Any, Any]):
    """``memo[text]`` is ``parse(text)``, computed once per distinct text: dates, hours and
    orgnrs repeat on nearly every row, and a hit is one dict look-up. Emptied when it holds
    ``size`` values, so that its memory stays bounded whatever the file."""

    __slots__ = ("parse", "size")

    def __init__(self, parse: Callable[[Any], Any], size: int = 16384) -> None:
        super().__init__()
        self.parse = parse
        self.size = size

    def __missing__(self, key: Any) -> Any:
        if len(self) >= self.size:
            self.clear()
        value = self[key] = self.parse(key)
        return value


@lru_cache(maxsize=4096)
def _orgnr_verdict(value: str, language: str) -> Verdict:
    from iplos_tui.core.identifiers import check_orgnr

    return check_orgnr(value)


def orgnr_verdict(value: str) -> Verdict:
    """check_orgnr, cached: a municipality has few service locations, each on many rows."""
    return _orgnr_verdict(value, get_language())
