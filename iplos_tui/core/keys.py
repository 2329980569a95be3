"""Recipient certificates (SSB, TPF): load strictly, describe, and check them for encryption.

Pure functions over bytes and ``x509.Certificate`` objects, shared by ``iplos keys``, the
envelope and preflight. cryptography is imported inside the functions (start-up time).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from cryptography import x509

MAX_CERT_FILE = 1 << 20  # a certificate is a few KiB; refuse anything near a MiB
MIN_RSA_BITS = 2048
# Norway is always on CET (UTC+1) in January, so a fixed offset is exact for the window.
OSLO_WINTER = dt.timezone(dt.timedelta(hours=1), "CET")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.S)
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}


class CertificateError(Exception):
    """A certificate file we cannot use; ``str()`` is the translated, sanitised message."""

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = {k: safe_text(str(v), one_line=True) for k, v in values.items()}
        super().__init__(t(f"keys.{key}", **self.values))

    def __str__(self) -> str:  # re-translate, in case the language changed since raising
        return t(f"keys.{self.key}", **self.values)


@dataclass(frozen=True)
class Problem:
    """One reason a certificate may not be used for encryption."""

    code: str  # key_type | key_size | key_usage | expired | not_yet_valid | window | fingerprint
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    serial: str  # hex, as openssl prints it
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_size: int | None
    sha256: str  # of the certificate's DER, lower-case hex
    spki_sha256: str  # of the SubjectPublicKeyInfo DER
    key_detail: str = ""  # e.g. the EC curve
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["not_before"] = self.not_before.isoformat()
        data["not_after"] = self.not_after.isoformat()
        data.pop("extra")
        data.update(self.extra)
        return data


# --- loading ---------------------------------------------------------------------------------


def read_certificate_file(path: Path | str) -> bytes:
    """The bytes of a certificate file: a regular file, at most ``MAX_CERT_FILE`` bytes.

    Opened non-blocking and checked with fstat, so a FIFO or device never blocks the caller.
    """
    path = Path(path)
    shown = safe_text(str(path), one_line=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise CertificateError("file_missing", path=shown) from None
    except OSError as exc:
        raise CertificateError("file_unreadable", path=shown, error=exc.strerror or exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CertificateError("not_regular_file", path=shown)
        if st.st_size > MAX_CERT_FILE:
            raise CertificateError("file_too_large", path=shown, size=st.st_size, limit=MAX_CERT_FILE)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_CERT_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CERT_FILE:
        raise CertificateError("file_too_large", path=shown, size=len(data), limit=MAX_CERT_FILE)
    return data


def load_certificate(path: Path | str) -> x509.Certificate:
    """Read and parse one X.509 certificate (PEM or DER) from ``path``."""
    return parse_certificate(read_certificate_file(path), source=str(path))


def parse_certificate(data: bytes, source: str = "") -> x509.Certificate:
    """Parse exactly one X.509 certificate, PEM or DER, strictly.

    Refused with a ``CertificateError``: empty input, a bare public key (a certificate is
    needed), a private key, several certificates, NUL or other binary bytes in a PEM file,
    anything after the DER structure, and undecodable content.
    """
    from cryptography import x509

    shown = safe_text(source or "-", one_line=True)
    stripped = data.strip(b" \t\r\n")
    if not stripped:
        raise CertificateError("empty", path=shown)
    if b"-----BEGIN" in data or all(b in _TEXT_BYTES for b in data[:256]):
        return _parse_pem(data, shown)
    # Binary: DER.
    if data[:1] != b"\x30":
        raise CertificateError("not_certificate", path=shown)
    try:
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        if _is_der_public_key(data):
            raise CertificateError("bare_public_key", path=shown) from None
        if _is_der_private_key(data):
            raise CertificateError("private_key", path=shown) from None
        if "ExtraData" in str(exc):
            raise CertificateError("der_trailing", path=shown) from None
        raise CertificateError("der_invalid", path=shown, error=_short(exc)) from None


def _parse_pem(data: bytes, shown: str) -> x509.Certificate:
    from cryptography import x509

    for offset, byte in enumerate(data):
        if byte not in _TEXT_BYTES:
            if byte == 0:
                raise CertificateError("pem_nul", path=shown, offset=offset)
            raise CertificateError("pem_binary", path=shown, offset=offset, byte=f"0x{byte:02x}")
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks and b"-----BEGIN" not in data and b"-----END" not in data:
        raise CertificateError("pem_no_block", path=shown)
    # An unterminated block, or an end without a beginning.
    if data.count(b"-----BEGIN") != len(blocks) or data.count(b"-----END") != len(blocks):
        raise CertificateError("pem_unterminated", path=shown)
    labels = [m.group(1).decode("ascii") for m in blocks]
    for match in blocks:
        if match.group(1) != match.group(3):
            raise CertificateError("pem_mismatch", path=shown, begin=match.group(1).decode(), end=match.group(3).decode())
    certs = [m for m, label in zip(blocks, labels) if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")]
    if not certs:
        if any("PRIVATE KEY" in label for label in labels):
            raise CertificateError("private_key", path=shown)
        if any("PUBLIC KEY" in label for label in labels):
            raise CertificateError("bare_public_key", path=shown)
        raise CertificateError("pem_wrong_label", path=shown, label=labels[0])
    if len(certs) > 1:
        raise CertificateError("several_certs", path=shown, count=len(certs))
    if any("PRIVATE KEY" in label for label in labels):
        # A certificate bundled with its private key: never accept the key near the console.
        raise CertificateError("private_key", path=shown)
    if len(blocks) > 1:
        raise CertificateError("pem_extra_block", path=shown, label=next(lb for lb in labels if "CERTIFICATE" not in lb))
    block = certs[0].group(0)
    try:
        cert = x509.load_pem_x509_certificate(block)
    except ValueError as exc:
        raise CertificateError("pem_invalid", path=shown, error=_short(exc)) from None
    return cert


def _is_der_public_key(data: bytes) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_der_public_key(data)
    except (ValueError, TypeError, Exception):
        return False
    return True


def _is_der_private_key(data: bytes) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True  # encrypted private key: still a private key
    except Exception:
        return False
    return True


def _short(exc: Exception) -> str:
    return safe_text(str(exc), one_line=True, limit=200)


# --- describing ------------------------------------------------------------------------------


def cert_sha256(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def spki_sha256(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def normalise_fingerprint(value: str) -> str:
    """``"AB:CD ..."``, ``"sha256:abcd..."``, ``"ab cd"`` -> ``"abcd..."`` (lower-case hex)."""
    text = value.strip().lower()
    if text.startswith("sha256:") or text.startswith("sha256/"):
        text = text[7:]
    elif text.startswith("sha256="):
        text = text[7:]
    return re.sub(r"[\s:]", "", text)


def format_fingerprint(hex_digest: str) -> str:
    """Colon-separated upper-case hex, as ``openssl x509 -fingerprint -sha256`` prints it."""
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()


def key_description(cert: x509.Certificate) -> tuple[str, int | None, str]:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, ""
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, key.curve.name
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, ""
    for cls, name, size in (
        (ed25519.Ed25519PublicKey, "Ed25519", 256),
        (ed448.Ed448PublicKey, "Ed448", 456),
        (x25519.X25519PublicKey, "X25519", 256),
        (x448.X448PublicKey, "X448", 448),
    ):
        if isinstance(key, cls):
            return name, size, ""
    return type(key).__name__, None, ""


def describe(cert: x509.Certificate) -> CertInfo:
    key_type, key_size, detail = key_description(cert)
    return CertInfo(
        subject=safe_text(cert.subject.rfc4514_string(), one_line=True),
        issuer=safe_text(cert.issuer.rfc4514_string(), one_line=True),
        serial=f"{cert.serial_number:X}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        sha256=cert_sha256(cert),
        spki_sha256=spki_sha256(cert),
        key_detail=detail,
    )


# --- checking --------------------------------------------------------------------------------


def submission_window(year: int) -> tuple[dt.datetime, dt.datetime]:
    """The sending window for reporting ``year``: 2 January 00:00 to 15 January 24:00 of year+1, Oslo time."""
    start = dt.datetime(year + 1, 1, 2, tzinfo=OSLO_WINTER)
    end = dt.datetime(year + 1, 1, 16, tzinfo=OSLO_WINTER)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_for_encryption(
    cert: x509.Certificate,
    year: int,
    expected_fingerprint: str | None = None,
    now: dt.datetime | None = None,
) -> list[Problem]:
    """Every reason not to encrypt to ``cert`` for reporting ``year``; an empty list means fine.

    ``expected_fingerprint`` (the configured pin) may be the SHA-256 of the certificate or of its
    SPKI, in any usual spelling.
    """
    from cryptography import x509

    problems: list[Problem] = []
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    key_type, key_size, detail = key_description(cert)
    if key_type != "RSA":
        shown = f"{key_type} {detail or key_size or ''}".strip()
        problems.append(Problem("key_type", t("keys.problem_key_type", key=shown)))
    elif (key_size or 0) < MIN_RSA_BITS:
        problems.append(Problem("key_size", t("keys.problem_key_size", bits=key_size, min=MIN_RSA_BITS)))
    if key_type == "RSA":
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not usage.key_encipherment:
            problems.append(Problem("key_usage", t("keys.problem_key_usage")))
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now > not_after:
        problems.append(Problem("expired", t("keys.problem_expired", not_after=_when(not_after), now=_when(now))))
    elif now < not_before:
        problems.append(
            Problem("not_yet_valid", t("keys.problem_not_yet_valid", not_before=_when(not_before), now=_when(now)))
        )
    start, end = submission_window(year)
    if not_before > start or not_after < end:
        problems.append(
            Problem(
                "window",
                t(
                    "keys.problem_window",
                    year=year,
                    start=f"{year + 1}-01-02",
                    end=f"{year + 1}-01-15",
                    not_before=_when(not_before),
                    not_after=_when(not_after),
                ),
            )
        )
    if expected_fingerprint:
        expected = normalise_fingerprint(expected_fingerprint)
        if expected not in (cert_sha256(cert), spki_sha256(cert)):
            problems.append(
                Problem(
                    "fingerprint",
                    t(
                        "keys.problem_fingerprint",
                        expected=safe_text(expected_fingerprint, one_line=True, limit=120),
                        actual=format_fingerprint(cert_sha256(cert)),
                    ),
                )
            )
    return problems
