"""The sandbox TPF (tiltrodd pseudonymforvalter): decrypts the identity part, never the content.

The identity part (``local_id;person_id``, docs/envelope-format.md) is decrypted with TPF's key.
Each valid person id becomes a stable pseudonym: a keyed hash (HMAC-SHA256 with the sandbox's
own secret), so the same person gets the same pseudonym in every submission and the number
cannot be found from the pseudonym without the secret. SSB receives only, per local id, the
pseudonym and the age at the end of the reporting year (for the control tables), plus TPF's
findings on the numbers themselves (missing, malformed, bad check digits, impossible, H-numbers,
the same person twice), which SSB puts in the error list.

Emulated: the real TPF's interface to SSB is not public.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import hmac
import io
from dataclasses import dataclass, field
from pathlib import Path

from iplos_tui.core.extract.rules import Finding

#: The person-number rules TPF can judge (the content part has no person numbers).
TPF_RULES = frozenset(
    {"person.id_missing", "person.id_format", "person.id_checksum", "person.id_invalid", "person.id_kind", "person.duplicate"}
)
MAX_IDENTITY_BYTES = 512 * 1024 * 1024


class TpfError(Exception):
    """The identity part cannot be used at all (cannot decrypt, not the expected table)."""


@dataclass
class PersonInfo:
    pseudonym: str | None  # None: no usable person number
    age: int | None  # at 31 December of the reporting year


@dataclass
class TpfResult:
    persons: dict[str, PersonInfo] = field(default_factory=dict)  # local id -> info
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "persons": {k: {"pseudonym": v.pseudonym, "age": v.age} for k, v in self.persons.items()},
            "findings": [f.to_dict() for f in self.findings],
        }


def pseudonym(secret: bytes, person_id: str) -> str:
    digest = hmac.new(secret, person_id.encode("ascii"), hashlib.sha256).digest()
    return "P" + base64.b32encode(digest[:15]).decode("ascii")


def birth_date(person_id: str) -> dt.date | None:
    """The date of birth in a valid fødselsnummer, d-, h- or synthetic number (None for FH)."""
    from iplos_tui.core.identifiers import _birth_year

    if len(person_id) != 11 or not person_id.isascii() or not person_id.isdigit() or person_id[0] in "89":
        return None
    day, month, yy, individual = int(person_id[0:2]), int(person_id[2:4]), int(person_id[4:6]), int(person_id[6:9])
    if day > 40:
        day -= 40
    if month > 80:
        month -= 80
    elif month > 40:
        month -= 40
    year = _birth_year(yy, individual)
    if year is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def age_at_year_end(born: dt.date | None, year: int) -> int | None:
    if born is None:
        return None
    end = dt.date(year, 12, 31)
    return end.year - born.year - ((end.month, end.day) < (born.month, born.day))


def decrypt_part(path: Path, cert_path: Path, key_path: Path, limit: int = MAX_IDENTITY_BYTES) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    data = Path(path).read_bytes()
    if len(data) > limit:
        raise TpfError(f"{Path(path).name} is larger than {limit} bytes")
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    try:
        return pkcs7.pkcs7_decrypt_der(data, cert, key, [])  # type: ignore[arg-type]
    except ValueError as exc:
        raise TpfError(f"cannot decrypt {Path(path).name}: {exc}") from None


def process_identity(plaintext: bytes, year: int, secret: bytes) -> TpfResult:
    """Pseudonymise the table ``local_id;person_id`` and judge the numbers."""
    from iplos_tui.core.extract.model import Header, Person
    from iplos_tui.core.extract.validate import Validator

    try:
        text = plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise TpfError("the identity part is not UTF-8") from None
    rows = csv.reader(io.StringIO(text), delimiter=";")
    header = next(rows, None)
    if header != ["local_id", "person_id"]:
        raise TpfError("the identity part is not the table local_id;person_id")

    # The validator's own person-number checks, fed one row at a time; only its number rules count.
    validator = Validator(year, allow_synthetic=True, max_findings=10**9)
    validator.feed(Header(kommunenr="0301", bydel="00", year=str(year), line=1))
    result = TpfResult()
    local_by_line: dict[int, str] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != 2:
            raise TpfError(f"line {line} of the identity part has {len(row)} fields")
        local_id, person_id = row[0], row[1] or None
        local_by_line[line] = local_id
        found = validator.feed(Person(local_id=local_id, person_id=person_id, line=line))
        usable = person_id is not None and not any(f.rule in TPF_RULES and f.level == "error" for f in found)
        born = birth_date(person_id) if usable and person_id else None
        result.persons[local_id] = PersonInfo(
            pseudonym=pseudonym(secret, person_id) if usable and person_id else None,
            age=age_at_year_end(born, year),
        )
    report = validator.finish()
    for item in report.findings:
        if item.rule not in TPF_RULES or (item.rule == "person.duplicate" and item.field != "personId"):
            continue
        local_id = item.local_id or local_by_line.get(item.line or 0)
        result.findings.append(
            Finding(item.rule, item.level, local_id, item.line, item.field, item.value if item.rule != "person.duplicate" else local_id, item.message)
        )
    return result
