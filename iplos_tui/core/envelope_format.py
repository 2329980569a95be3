"""The envelope format (docs/envelope-format.md is the contract): its files, the manifest, and
the checks on what is read back (``load_manifest``, ``verify_envelope``) and on the recipients'
certificates. ``core.envelope`` makes envelopes; this module only describes and checks them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.fsutil import TEMP_PREFIX
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from cryptography import x509

    from iplos_tui.core.keys import Problem

FORMAT = "iplos-tui-envelope"
VERSION = 1
IDENTITY_FILE = "identity.p7m"
MANIFEST_FILE = "manifest.json"
CONTENT_PATTERN = "content-{index:04d}.p7m"
CONTENT_RE = re.compile(r"content-(\d{4})\.p7m")
MAX_PARTS = 9999  # four digits keep `content-*.p7m` in order for a shell glob
IDENTITY_COLUMNS = ("local_id", "person_id")
DEFAULT_PART_SIZE = 4 * 1024 * 1024
MIN_PART_SIZE = 1024
MAX_PART_SIZE = 256 * 1024 * 1024
READ_SIZE = 256 * 1024
STAGING_PREFIX = f"{TEMP_PREFIX}envelope-"
ENCRYPTION = {
    "cms": "EnvelopedData (RFC 5652), DER",
    "content_encryption": "aes-256-cbc",
    "key_transport": "rsaEncryption (RSAES-PKCS1-v1_5)",
}



# --- results and errors ----------------------------------------------------------------------


# Errors the operator fixes by choosing other arguments or paths, not by fixing data.
_USAGE_KEYS = frozenset({"part_size", "out_not_empty", "out_parent", "too_many_parts"})


class EnvelopeError(IplosError):
    """The envelope cannot be made; ``message()`` (and ``str()``) is the translated message,
    ``key`` its stable id, ``problems`` the certificate problems when a certificate was refused."""

    def __init__(self, key: str, problems: list[Problem] | None = None, **values: object) -> None:
        self.key = key
        self.problems = list(problems or [])
        self.values = {k: safe_text(str(v), one_line=True, limit=300) for k, v in values.items()}
        self.exit_code = ExitCode.USAGE if key in _USAGE_KEYS else ExitCode.FAILED
        super().__init__(key)

    def __str__(self) -> str:
        return t(f"envelope.{self.key}", **self.values)


@dataclass(frozen=True)
class EnvelopeParams:
    """The profile values the envelope needs; empty values are taken from the extract's header.

    When both the profile and the header give kommunenr, bydel or year, they must agree.
    """

    kommunenr: str = ""
    bydel: str = ""
    year: int | None = None
    contact_email: str = ""
    contact_mobile: str = ""
    ssb_fingerprint: str = ""
    tpf_fingerprint: str = ""

    @classmethod
    def from_profile(cls, profile: Any) -> EnvelopeParams:
        return cls(
            kommunenr=getattr(profile, "kommunenr", "") or "",
            bydel=getattr(profile, "bydel", "") or "",
            year=getattr(profile, "year", None),
            contact_email=getattr(profile, "contact_email", "") or "",
            contact_mobile=getattr(profile, "contact_mobile", "") or "",
            ssb_fingerprint=getattr(profile, "ssb_fingerprint", "") or "",
            tpf_fingerprint=getattr(profile, "tpf_fingerprint", "") or "",
        )


@dataclass(frozen=True)
class Progress:
    """Reported between records: ``phase`` is ``reading``, ``part``, ``identity``, ``done``."""

    phase: str
    bytes_read: int
    total_bytes: int
    persons: int
    parts: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes_read / self.total_bytes) if self.total_bytes else 0.0


@dataclass(frozen=True)
class PartInfo:
    role: str  # "identity" | "content"
    file: str
    recipient: str  # "tpf" | "ssb"
    index: int  # 0 for identity, 1.. for content
    plaintext_size: int
    plaintext_sha256: str
    ciphertext_size: int
    ciphertext_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "index": self.index,
            "file": self.file,
            "recipient": self.recipient,
            "plaintext_size": self.plaintext_size,
            "plaintext_sha256": self.plaintext_sha256,
            "ciphertext_size": self.ciphertext_size,
            "ciphertext_sha256": self.ciphertext_sha256,
        }


@dataclass(frozen=True)
class Manifest:
    kommunenr: str
    bydel: str
    year: int
    created: str
    contact_email: str
    contact_mobile: str
    certificates: dict[str, dict[str, str]]
    persons: int
    content_plaintext_size: int
    content_plaintext_sha256: str
    parts: list[PartInfo] = field(default_factory=list)
    content_format: str = "iplos-uttrekk-v1 (urn:iplos-tui:uttrekk:1), without personId"
    format: str = FORMAT
    version: int = VERSION

    @property
    def content_parts(self) -> list[PartInfo]:
        return [p for p in self.parts if p.role == "content"]

    @property
    def identity_part(self) -> PartInfo:
        return next(p for p in self.parts if p.role == "identity")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "version": self.version,
            "kommunenr": self.kommunenr,
            "bydel": self.bydel,
            "year": self.year,
            "created": self.created,
            "contact": {"email": self.contact_email, "mobile": self.contact_mobile},
            "encryption": dict(ENCRYPTION),
            "certificates": self.certificates,
            "content": {
                "format": self.content_format,
                "parts": len(self.content_parts),
                "persons": self.persons,
                "plaintext_size": self.content_plaintext_size,
                "plaintext_sha256": self.content_plaintext_sha256,
            },
            "parts": [p.to_dict() for p in self.parts],
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise EnvelopeError("manifest_format", found=f"{data.get('format')} {data.get('version')}")
        try:
            content = data["content"]
            return cls(
                kommunenr=str(data["kommunenr"]),
                bydel=str(data["bydel"]),
                year=int(data["year"]),
                created=str(data["created"]),
                contact_email=str(data["contact"]["email"]),
                contact_mobile=str(data["contact"]["mobile"]),
                certificates={str(k): dict(v) for k, v in data["certificates"].items()},
                persons=int(content["persons"]),
                content_plaintext_size=int(content["plaintext_size"]),
                content_plaintext_sha256=str(content["plaintext_sha256"]),
                content_format=str(content["format"]),
                parts=[
                    PartInfo(
                        role=str(p["role"]),
                        file=_safe_part_name(str(p["file"])),
                        recipient=str(p["recipient"]),
                        index=int(p["index"]),
                        plaintext_size=int(p["plaintext_size"]),
                        plaintext_sha256=str(p["plaintext_sha256"]),
                        ciphertext_size=int(p["ciphertext_size"]),
                        ciphertext_sha256=str(p["ciphertext_sha256"]),
                    )
                    for p in data["parts"]
                ],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EnvelopeError("manifest_invalid", detail=exc) from None


@dataclass(frozen=True)
class EncryptResult:
    manifest: Manifest
    out_dir: Path
    manifest_path: Path
    manifest_sha256: str
    extract_path: Path
    extract_size: int
    extract_sha256: str  # for the journal: which extract this envelope was made from
    content_sha256: str = ""  # what it says, whatever the file looks like (EnvelopeWriter)
    workers: int = 1  # processes that read the extract (core.encryption)


def _safe_part_name(name: str) -> str:
    if name != IDENTITY_FILE and name != MANIFEST_FILE and not CONTENT_RE.fullmatch(name):
        raise EnvelopeError("manifest_invalid", detail=f"file name {name!r}")
    return name


def load_manifest(out_dir: Path | str) -> Manifest:
    """Read ``out_dir/manifest.json`` (size-capped) into a ``Manifest``."""
    path = Path(out_dir) / MANIFEST_FILE
    try:
        with open(path, "rb") as handle:
            raw = handle.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise EnvelopeError("manifest_unreadable", path=path, error=exc.strerror or exc) from None
    if len(raw) > 4 * 1024 * 1024:
        raise EnvelopeError("manifest_invalid", detail="over 4 MiB")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError("manifest_invalid", detail=exc) from None
    if not isinstance(data, dict):
        raise EnvelopeError("manifest_invalid", detail="not an object")
    return Manifest.from_dict(data)


def verify_envelope(out_dir: Path | str, manifest: Manifest | None = None) -> list[str]:
    """Check every part's ciphertext size and SHA-256 against the manifest; messages, or []."""
    out_dir = Path(out_dir)
    manifest = manifest or load_manifest(out_dir)
    problems = []
    for part in manifest.parts:
        path = out_dir / part.file
        try:
            digest, size = _file_sha256(path)
        except OSError as exc:
            problems.append(t("envelope.verify_missing", file=part.file, error=safe_text(exc.strerror or str(exc))))
            continue
        if size != part.ciphertext_size or digest != part.ciphertext_sha256:
            problems.append(t("envelope.verify_mismatch", file=part.file))
    return problems


def _file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(view):
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


def cert_summary(cert: x509.Certificate) -> dict[str, str]:
    from iplos_tui.core.keys import describe

    info = describe(cert)
    return {
        "sha256": info.sha256,
        "spki_sha256": info.spki_sha256,
        "subject": info.subject,
        "serial": info.serial,
        "not_after": info.not_after.isoformat(),
    }


def load_cert(value: x509.Certificate | Path | str) -> x509.Certificate:
    from cryptography import x509

    from iplos_tui.core.keys import load_certificate

    if isinstance(value, x509.Certificate):
        return value
    return load_certificate(value)


def check_certificates(
    ssb_cert: x509.Certificate,
    tpf_cert: x509.Certificate,
    year: int,
    params: EnvelopeParams,
    now: dt.datetime | None = None,
) -> None:
    """Raise ``EnvelopeError`` when either certificate may not be used (I13, I14)."""
    from iplos_tui.core.keys import check_for_encryption, spki_sha256

    for role, cert, pin in (("SSB", ssb_cert, params.ssb_fingerprint), ("TPF", tpf_cert, params.tpf_fingerprint)):
        problems = check_for_encryption(cert, year, expected_fingerprint=pin or None, now=now)
        if problems:
            raise EnvelopeError(
                "cert_refused", problems, role=role, details="; ".join(p.message for p in problems)
            )
    if spki_sha256(ssb_cert) == spki_sha256(tpf_cert):
        raise EnvelopeError("same_key")
