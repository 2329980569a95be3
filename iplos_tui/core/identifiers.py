"""Number checks: kommunenummer, bydel, organisasjonsnummer, person ids, e-mail, mobile.

Every check takes the raw text and returns a :class:`Verdict` with a reason a person understands
(which field, what is wrong, what to do), never a bare False, and never raises, whatever the text.
A warning is ``ok=True`` with ``severity="warning"``. Text from outside is quoted in messages
only through ``safe_text()``, and person ids are never quoted at all (they are personal data).

Rules: reference/domain.md §4 (MOD11 for orgnr and fødselsnummer, century from the individual
number, D-nummer day + 40, H-nummer month + 40, synthetic Tenor/Test Norge numbers month + 80).
"""

from __future__ import annotations

import datetime
import operator
import re
from dataclasses import dataclass

from iplos_tui.core import refdata
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

__all__ = [
    "PERSON_ID_KINDS",
    "Verdict",
    "check_bydel",
    "check_email",
    "check_kommunenr",
    "check_mobile",
    "check_orgnr",
    "check_person_id",
    "make_person_id",
    "normalize_mobile",
    "orgnr_check_digit",
    "person_id_check_digits",
]

PERSON_ID_KINDS = ("fnr", "dnr", "hnr", "fhnr", "synthetic")

_ORGNR_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Both check digits at once, over the number's ASCII bytes (plain_birth_year): K1 is right exactly
# when the first ten digits weighed by _K1_ALL sum to 0 mod 11, K2 when all eleven weighed by
# _K2_ALL do (a check digit that would be 10 never passes). A byte is its digit + 48, so the
# bytes' sum must leave the remainder of 48 * (the weights' sum) instead of 0.
_K1_ALL = (*_K1_WEIGHTS, 1)
_K2_ALL = (*_K2_WEIGHTS, 1)
_K1_ASCII = 48 * sum(_K1_ALL) % 11
_K2_ASCII = 48 * sum(_K2_ALL) % 11
# Spaces people paste into phone numbers: space, no-break space, thin and narrow no-break space.
_PHONE_SPACES = str.maketrans("", "", " \u00a0\u2009\u202f")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class Verdict:
    ok: bool  # False only for errors; a warning is ok=True
    field: str  # the field checked, e.g. "kommunenr", "orgnr", "fnr"
    message: str = ""  # localized reason; "" when fine
    severity: str = "ok"  # "ok" | "warning" | "error"
    kind: str | None = None  # person ids: "fnr" | "dnr" | "hnr" | "fhnr" | "synthetic"

    def __bool__(self) -> bool:
        return self.ok


def _fine(field: str, kind: str | None = None) -> Verdict:
    return Verdict(True, field, "", "ok", kind)


def _error(field: str, message: str, kind: str | None = None) -> Verdict:
    return Verdict(False, field, message, "error", kind)


def _warning(field: str, message: str, kind: str | None = None) -> Verdict:
    return Verdict(True, field, message, "warning", kind)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _shown(value: str) -> str:
    return safe_text(value, one_line=True, limit=40)


def _subject(label_key: str, value: str | None) -> str:
    label = t(f"identifiers.{label_key}")
    if value is None:
        return label
    return t("identifiers.subject_value", label=label, value=_shown(value))


def _is_ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _shape(value: str, expected: int, field: str, label_key: str, *, quote: bool = True) -> Verdict | None:
    """The error for ``value`` not being exactly ``expected`` ASCII digits, else None."""
    if _is_ascii_digits(value) and len(value) == expected:
        return None  # the common case: no message text is built
    subject = _subject(label_key, value if quote else None)
    if not value.strip():
        return _error(field, t("identifiers.missing", label=t(f"identifiers.{label_key}")))
    if _is_ascii_digits(value):
        if len(value) != expected:
            return _error(
                field, t("identifiers.wrong_length", subject=subject, length=len(value), expected=expected)
            )
        return None
    if any(ch.isspace() for ch in value) and _is_ascii_digits("".join(value.split())):
        return _error(field, t("identifiers.spaces", subject=subject))
    if any(ch.isdigit() and not ch.isascii() for ch in value):
        return _error(field, t("identifiers.nonascii_digits", subject=subject))
    return _error(field, t("identifiers.not_digits", subject=subject))


# --- kommunenummer ------------------------------------------------------------------------------


def check_kommunenr(value: str, year: int, field: str = "kommunenr") -> Verdict:
    """Four ASCII digits in SSB's municipality list for the reporting ``year`` (9999 refused)."""
    value = _text(value)
    try:
        names = refdata.kommuner(year)
    except refdata.UnsupportedYear as exc:
        return _error(field, str(exc))
    problem = _shape(value, 4, field, "label_kommunenr")
    if problem is not None:
        return problem
    if value == refdata.UNKNOWN_KOMMUNE:
        return _error(field, t("identifiers.kommune_placeholder"))
    if value in names:
        return _fine(field)
    return _error(field, _kommune_elsewhere(value, year) or t(
        "identifiers.kommune_unknown", subject=_subject("label_kommunenr", value), year=year
    ))


def _kommune_elsewhere(value: str, year: int) -> str | None:
    """A message pointing to the right number when ``value`` is valid in another supported year."""
    years = refdata.supported_years()
    changes = refdata.kommune_changes()
    subject = _subject("label_kommunenr", value)
    # The nearest year in which the number exists, earlier years first.
    for other in sorted((y for y in years if y != year), key=lambda y: (abs(y - year), y)):
        name = refdata.kommune_name(value, other)
        if name is None:
            continue
        if other < year:
            current, change_year = value, None
            for step in range(other + 1, year + 1):
                if current in changes.get(step, {}):
                    current, change_year = changes[step][current], step
            new_name = refdata.kommune_name(current, year)
            if change_year is None or new_name is None:
                return None
            return t(
                "identifiers.kommune_changed_later", subject=subject, name=name, year=year,
                change_year=change_year, new=current, new_name=new_name, valid_year=other,
            )
        currents, change_year = {value}, None
        for step in range(other, year, -1):
            olds = {old for old, new in changes.get(step, {}).items() if new in currents}
            if olds:
                currents, change_year = olds, step
        olds_valid = sorted(c for c in currents if refdata.kommune_name(c, year))
        if change_year is None or not olds_valid:
            return None
        joined = f" {t('identifiers.or')} ".join(
            f"{old} ({refdata.kommune_name(old, year)})" for old in olds_valid
        )
        return t(
            "identifiers.kommune_changed_earlier", subject=subject, name=name, year=year,
            change_year=change_year, olds=joined, next_year=year + 1, valid_year=other,
        )
    return None


# --- bydel --------------------------------------------------------------------------------------


def check_bydel(value: str, kommunenr: str, field: str = "bydel") -> Verdict:
    """Two ASCII digits; "00" always; Oslo (0301) bydeler 01–15; anything else warns."""
    value = _text(value)
    problem = _shape(value, 2, field, "label_bydel")
    if problem is not None:
        return problem
    if value == "00":
        return _fine(field)
    subject = _subject("label_bydel", value)
    if _text(kommunenr) == "0301":
        bydeler = refdata.oslo_bydeler()
        if value not in bydeler:
            return _error(field, t("identifiers.bydel_oslo_unknown", subject=subject, value=value))
        if value in refdata.oslo_bydeler_not_reporting():
            return _warning(
                field, t("identifiers.bydel_oslo_not_reporting", value=value, name=bydeler[value])
            )
        return _fine(field)
    return _warning(field, t("identifiers.bydel_not_oslo", subject=subject))


# --- organisasjonsnummer ------------------------------------------------------------------------


def orgnr_check_digit(first8: str) -> int | None:
    """The MOD11 check digit for the first 8 digits of an orgnr; None when none exists (10)."""
    if not (isinstance(first8, str) and len(first8) == 8 and _is_ascii_digits(first8)):
        raise ValueError("orgnr_check_digit needs exactly 8 ASCII digits")
    return _mod11(first8, _ORGNR_WEIGHTS)


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    if len(digits) != len(weights):
        raise ValueError("digits and weights differ in length")
    digit = (11 - sum(map(operator.mul, map(int, digits), weights)) % 11) % 11
    return None if digit == 10 else digit


def check_orgnr(value: str, field: str = "orgnr") -> Verdict:
    """Nine ASCII digits with a valid MOD11 check digit; a first digit other than 8/9 warns."""
    value = _text(value)
    problem = _shape(value, 9, field, "label_orgnr")
    if problem is not None:
        return problem
    subject = _subject("label_orgnr", value)
    if orgnr_check_digit(value[:8]) != int(value[8]):
        return _error(field, t("identifiers.orgnr_check_digit", subject=subject))
    if value[0] not in "89":
        return _warning(field, t("identifiers.orgnr_first_digit", subject=subject))
    return _fine(field)


# --- fødselsnummer, d-nummer, h-nummer, FH-nummer, synthetic --------------------------------------


def person_id_check_digits(first9: str) -> tuple[int, int] | None:
    """The two MOD11 check digits for the first 9 digits of a person id; None when K1 or K2 is 10."""
    if not (isinstance(first9, str) and len(first9) == 9 and _is_ascii_digits(first9)):
        raise ValueError("person_id_check_digits needs exactly 9 ASCII digits")
    k1 = _mod11(first9, _K1_WEIGHTS)
    if k1 is None:
        return None
    k2 = _mod11(first9 + str(k1), _K2_WEIGHTS)
    return None if k2 is None else (k1, k2)


def _birth_year(yy: int, individual: int) -> int | None:
    """Full year of birth from the two-digit year and the individual number (None: impossible)."""
    if individual < 500:
        return 1900 + yy
    if individual < 750 and yy >= 54:
        return 1800 + yy
    if yy < 40:
        return 2000 + yy
    if individual >= 900:
        return 1900 + yy
    return None


def _person_label() -> str:
    return t("identifiers.label_person_id")


def check_person_id(value: str, field: str = "fnr", *, allow_synthetic: bool = True) -> Verdict:
    """Fødselsnummer, d-nummer (day + 40), h-nummer (month + 40), FH-nummer (first digit 8/9) or
    a synthetic test number (month + 80): 11 ASCII digits, both check digits, a real date of
    birth that is not in the future. ``kind`` tells which.

    H- and FH-numbers pass with a warning: they are valid numbers, but the pseudonymisation
    cannot follow such a person over time. Synthetic numbers pass unless ``allow_synthetic`` is
    False (a real submission), where they are an error. The number is never quoted in a message.
    """
    value = _text(value)
    problem = _shape(value, 11, field, "label_person_id", quote=False)
    if problem is not None:
        return problem
    if person_id_check_digits(value[:9]) != (int(value[9]), int(value[10])):
        return _error(field, t("identifiers.person_check_digits", label=_person_label()))
    if value[0] in "89":
        return _warning(field, t("identifiers.person_fhnr", label=_person_label()), "fhnr")

    day, month, yy, individual = int(value[0:2]), int(value[2:4]), int(value[4:6]), int(value[6:9])
    kind = "fnr"
    if day > 40:
        kind, day = "dnr", day - 40
    if 81 <= month <= 92:
        kind, month = "synthetic", month - 80
    elif 41 <= month <= 52:
        if kind == "dnr":  # day + 40 and month + 40 together is no known kind of number
            return _error(field, t("identifiers.person_date", label=_person_label()))
        kind, month = "hnr", month - 40
    year = _birth_year(yy, individual)
    if year is None:
        return _error(field, t("identifiers.person_individual", label=_person_label()), kind)
    try:
        birth = datetime.date(year, month, day)
    except ValueError:
        return _error(field, t("identifiers.person_date", label=_person_label()), kind)
    if birth > datetime.date.today():
        return _error(field, t("identifiers.person_future", label=_person_label()), kind)
    if kind == "synthetic" and not allow_synthetic:
        return _error(field, t("identifiers.person_synthetic", label=_person_label()), kind)
    if kind == "hnr":
        return _warning(field, t("identifiers.person_hnr", label=_person_label()), kind)
    if year < 1900:
        return _warning(field, t("identifiers.person_old", label=_person_label()), kind)
    return _fine(field, kind)


def plain_birth_year(value: str, today: datetime.date, allow_synthetic: bool) -> int | None:
    """The year of birth in a person id that ``check_person_id`` passes without a remark (a
    fødselsnummer, d-number or, if allowed, synthetic number, born 1900 or later, not after
    ``today``): the validator's fast path, the same rules in byte arithmetic. None for any other
    number, which ``check_person_id`` then explains. ``value`` must be 11 ASCII digits."""
    d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10 = value.encode("ascii")  # each byte is 48 + its digit
    # the check digits: the weights of _K1_ALL and _K2_ALL, written out
    if (3 * d0 + 7 * d1 + 6 * d2 + d3 + 8 * d4 + 9 * d5 + 4 * d6 + 5 * d7 + 2 * d8 + d9) % 11 != _K1_ASCII:
        return None
    if (5 * d0 + 4 * d1 + 3 * d2 + 2 * d3 + 7 * d4 + 6 * d5 + 5 * d6 + 4 * d7 + 3 * d8 + 2 * d9 + d10) % 11 != _K2_ASCII:
        return None
    # two digits ab are 10 * a + b - 528 (48 * 11); three, 100 * a + 10 * b + c - 5328 (48 * 111)
    day, month = 10 * d0 + d1 - 528, 10 * d2 + d3 - 528
    if day >= 80:  # an FH-number (first digit 8 or 9)
        return None
    if day > 40:  # d-number
        day -= 40
    if 81 <= month <= 92:
        if not allow_synthetic:
            return None
        month -= 80
    elif not 1 <= month <= 12:  # an h-number, or no date
        return None
    year = _birth_year(10 * d4 + d5 - 528, 100 * d6 + 10 * d7 + d8 - 5328)
    if year is None or year < 1900 or not 1 <= day <= 31:
        return None
    if day > 28 or year >= today.year:  # a day every month has, in a past year: no date to build
        try:
            if datetime.date(year, month, day) > today:
                return None
        except ValueError:
            return None
    return year


def birth_date(value: str, *, checked: bool = False) -> datetime.date | None:
    """The date of birth in a fødselsnummer, d-, h- or synthetic number whose check digits and
    date are valid (None for an FH-number, which has no date, or an invalid number).
    ``checked``: ``check_person_id`` passed it already (its check digits are not computed again)."""
    if not (isinstance(value, str) and len(value) == 11 and _is_ascii_digits(value)) or value[0] in "89":
        return None
    if not checked and person_id_check_digits(value[:9]) != (int(value[9]), int(value[10])):
        return None
    day, month, yy, individual = int(value[0:2]), int(value[2:4]), int(value[4:6]), int(value[6:9])
    day -= 40 if day > 40 else 0
    month -= 80 if month > 80 else 40 if month > 40 else 0
    year = _birth_year(yy, individual)
    try:
        return datetime.date(year, month, day) if year is not None else None
    except ValueError:
        return None


def make_person_id(birth: datetime.date, individual: int, kind: str = "synthetic") -> str | None:
    """A valid person id of ``kind`` ("fnr", "dnr", "hnr" or "synthetic") for ``birth``.

    Returns None when that ``individual`` number (0–999) gives no valid number: a check digit
    would be 10, or the individual number does not encode the century of ``birth`` (000–499:
    1900–1999; 500–749: 1854–1899; 500–999: 2000–2039; 900–999: 1940–1999). The caller then
    picks another individual number. Raises ValueError for an unknown kind, an individual number
    outside 0–999, or a birth date outside 1854–2039 or in the future.
    """
    if kind not in ("fnr", "dnr", "hnr", "synthetic"):
        raise ValueError(f"make_person_id: kind must be fnr, dnr, hnr or synthetic, not {kind!r}")
    if isinstance(individual, bool) or not isinstance(individual, int) or not 0 <= individual <= 999:
        raise ValueError("make_person_id: individual must be an int 0–999")
    if not 1854 <= birth.year <= 2039 or birth > datetime.date.today():
        raise ValueError("make_person_id: birth date must be 1854–2039 and not in the future")
    if _birth_year(birth.year % 100, individual) != birth.year:
        return None
    day = birth.day + (40 if kind == "dnr" else 0)
    month = birth.month + {"hnr": 40, "synthetic": 80}.get(kind, 0)
    first9 = f"{day:02d}{month:02d}{birth.year % 100:02d}{individual:03d}"
    digits = person_id_check_digits(first9)
    if digits is None:
        return None
    return f"{first9}{digits[0]}{digits[1]}"


# --- e-mail -------------------------------------------------------------------------------------


def check_email(value: str, field: str = "contact_email") -> Verdict:
    """A plain address ``local@domain.tld``: ASCII local part, a domain with at least one dot
    (internationalised domains such as bærum.no allowed), at most 254 characters."""
    value = _text(value)
    if not value.strip():
        return _error(field, t("identifiers.missing", label=t("identifiers.label_email")))
    subject = _subject("label_email", value)
    if any(ch.isspace() for ch in value):
        return _error(field, t("identifiers.email_spaces", subject=subject))
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return _error(field, t("identifiers.email_at", subject=subject))
    if len(value) > 254 or len(local) > 64:
        return _error(field, t("identifiers.email_length", subject=subject, length=len(value)))
    if not _EMAIL_LOCAL.fullmatch(local):
        return _error(field, t("identifiers.email_local", subject=subject))
    if not _valid_domain(domain):
        return _error(field, t("identifiers.email_domain", subject=subject))
    return _fine(field)


def _valid_domain(domain: str) -> bool:
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):
            return False
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2:
        return False
    if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return False
    tld = labels[-1]
    return tld.startswith("xn--") or (tld.isalpha() and len(tld) >= 2)


# --- mobile -------------------------------------------------------------------------------------


def normalize_mobile(value: str) -> str:
    """``"+47 912 34 567"`` -> ``"91234567"``: spaces and a +47 / 0047 prefix removed.

    Only a cleaned-up form; whether the result is a mobile number is check_mobile's job.
    """
    compact = _text(value).strip().translate(_PHONE_SPACES)
    for prefix in ("+47", "0047"):
        if compact.startswith(prefix):
            return compact[len(prefix):]
    return compact


def check_mobile(value: str, field: str = "contact_mobile") -> Verdict:
    """A Norwegian mobile number: 8 digits starting with 4 or 9, optionally +47 / 0047 in front,
    spaces allowed."""
    value = _text(value)
    if not value.strip():
        return _error(field, t("identifiers.missing", label=t("identifiers.label_mobile")))
    subject = _subject("label_mobile", value)
    number = normalize_mobile(value)
    if number.startswith("+") or number.startswith("00"):
        return _error(field, t("identifiers.mobile_foreign", subject=subject))
    if any(ch.isdigit() and not ch.isascii() for ch in number):
        return _error(field, t("identifiers.nonascii_digits", subject=subject))
    if number and not _is_ascii_digits(number):
        return _error(field, t("identifiers.mobile_chars", subject=subject))
    if len(number) != 8:
        return _error(field, t("identifiers.mobile_length", subject=subject, length=len(number)))
    if number[0] not in "49":
        return _error(field, t("identifiers.mobile_not_mobile", subject=subject))
    return _fine(field)
