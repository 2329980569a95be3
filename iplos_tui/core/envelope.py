"""The envelope: one extract -> ``identity.p7m`` (TPF), ``content-NNNN.p7m`` (SSB), ``manifest.json``.

One streaming pass over the extract (docs/envelope-format.md is the contract):

* each ``Person`` is written again without its fnr (the local id stands in for it) into a
  plaintext buffer of at most ``part_size`` bytes; a full buffer becomes one CMS EnvelopedData
  (DER, AES-256-CBC, RSA key transport) to the SSB certificate only;
* the pairs local id -> fnr collect in a small table, encrypted at the end to the TPF
  certificate only (about 25 bytes per person);
* plaintext lives only in memory; only ciphertext and the manifest are written, into a staging
  directory beside ``out_dir`` (inside the secure directory), each file temp -> fsync -> rename.
  At the end the staging directory is renamed to ``out_dir`` in one step, so an interrupted run
  leaves no ``out_dir`` at all, just a hidden staging directory the next run removes.

The extract is hashed as it is read; its size, mtime, inode and hash are checked again at the
end, so a file changed during the run aborts it (I11). Peak memory is about four part sizes
(cryptography's pkcs7 encrypts a part in memory) plus about 100 bytes per person (the identity
table and the duplicate check), never the extract or the content as a whole.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.fsutil import TEMP_PREFIX, atomic_write_bytes, ensure_private_dir, fsync_dir
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
CONTENT_RE = re.compile(r"^content-(\d{4})\.p7m$")
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

_DIGIT_MAP = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_ELEVEN = b"0" * 11
_CSV_SPECIAL = re.compile('[;"\r\n]')


# --- results and errors ----------------------------------------------------------------------


class EnvelopeError(Exception):
    """The envelope cannot be made; ``str()`` is the translated message, ``problems`` the
    certificate problems when a certificate was refused."""

    def __init__(self, key: str, problems: list[Problem] | None = None, **values: object) -> None:
        self.key = key
        self.problems = list(problems or [])
        self.values = {k: safe_text(str(v), one_line=True, limit=300) for k, v in values.items()}
        super().__init__(key)

    def __str__(self) -> str:
        return t(f"envelope.{self.key}", **self.values)


class EnvelopeCancelled(EnvelopeError):
    def __init__(self) -> None:
        super().__init__("cancelled")


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


def _safe_part_name(name: str) -> str:
    if name != IDENTITY_FILE and name != MANIFEST_FILE and not CONTENT_RE.match(name):
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


# --- the pass --------------------------------------------------------------------------------


class _HashingReader:
    """The extract's bytes as the parser reads them: hashed, counted, cancellable."""

    def __init__(self, fd: int, cancel: threading.Event | None) -> None:
        self._fd = fd
        self._cancel = cancel
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def read(self, size: int = READ_SIZE) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            raise EnvelopeCancelled()
        if size is None or size < 0:
            size = READ_SIZE
        data = os.read(self._fd, size)
        self.sha256.update(data)
        self.bytes_read += len(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while self.read(READ_SIZE):
            pass


class _Encryptor:
    def __init__(self, staging: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.ciphers import algorithms
        from cryptography.hazmat.primitives.serialization import pkcs7

        self._pkcs7 = pkcs7
        self._der = serialization.Encoding.DER
        self._aes256 = algorithms.AES256
        self.staging = staging

    def write(self, name: str, plaintext: bytes | bytearray, cert: x509.Certificate) -> tuple[int, str]:
        builder = (
            self._pkcs7.PKCS7EnvelopeBuilder()
            .set_data(plaintext)
            .add_recipient(cert)
            .set_content_encryption_algorithm(self._aes256)
        )
        ciphertext = builder.encrypt(self._der, [self._pkcs7.PKCS7Options.Binary])
        atomic_write_bytes(self.staging / name, ciphertext)
        size, digest = len(ciphertext), hashlib.sha256(ciphertext).hexdigest()
        del ciphertext
        return size, digest


class _ContentParts:
    """Cuts the pseudonymised extract into parts of at most ``part_size`` plaintext bytes,
    at record boundaries where a record fits, and encrypts each full part to SSB."""

    def __init__(self, encryptor: _Encryptor, cert: x509.Certificate, part_size: int, on_part: Callable[[], None]) -> None:
        self.encryptor = encryptor
        self.cert = cert
        self.part_size = part_size
        self.buffer = bytearray()
        self.marks: list[tuple[int, int]] = []  # (offset in buffer, extract line) per record
        self.parts: list[PartInfo] = []
        self.total = hashlib.sha256()
        self.total_size = 0
        self.on_part = on_part

    def add(self, data: bytes, line: int = 0) -> None:
        if self.buffer and len(self.buffer) + len(data) > self.part_size:
            self.flush()
        if len(data) <= self.part_size:
            self.marks.append((len(self.buffer), line))
            self.buffer += data
            return
        # A record larger than a part: scan it whole (a cut could split a number), then cut by bytes.
        _raise_on_fnr(data, [(0, line)])
        view = memoryview(data)
        for start in range(0, len(data), self.part_size):
            self.buffer += view[start : start + self.part_size]
            if len(self.buffer) >= self.part_size:
                self.flush(scanned=True)

    def flush(self, scanned: bool = False) -> None:
        if not self.buffer:
            return
        if not scanned:
            _raise_on_fnr(self.buffer, self.marks)
        self.marks = []
        index = len(self.parts) + 1
        if index > MAX_PARTS:
            raise EnvelopeError("too_many_parts", max=MAX_PARTS, size=self.part_size)
        name = CONTENT_PATTERN.format(index=index)
        plain_sha = hashlib.sha256(self.buffer).hexdigest()
        plain_size = len(self.buffer)
        self.total.update(self.buffer)  # the parts in order are the whole content
        self.total_size += plain_size
        size, digest = self.encryptor.write(name, self.buffer, self.cert)
        self.buffer = bytearray()
        self.parts.append(PartInfo("content", name, "ssb", index, plain_size, plain_sha, size, digest))
        self.on_part()


def _raise_on_fnr(plaintext: bytes | bytearray, marks: list[tuple[int, int]]) -> None:
    """Refuse content that holds a run of exactly 11 digits with valid fødselsnummer check digits.

    ``marks`` maps buffer offsets to extract lines, so the error can say where (never what).
    Digits are mapped to ``0`` and everything else to a space with one ``translate`` (C speed),
    so only the rare 11-digit runs reach Python.
    """
    from iplos_tui.core.identifiers import person_id_check_digits

    mapped = plaintext.translate(_DIGIT_MAP)
    length = len(mapped)
    position = mapped.find(_ELEVEN)
    while position >= 0:
        end = position + 11
        while end < length and mapped[end] == 0x30:
            end += 1
        if end - position == 11:
            digits = bytes(plaintext[position:end]).decode("ascii")
            if person_id_check_digits(digits[:9]) == (int(digits[9]), int(digits[10])):
                index = bisect.bisect_right(marks, (position, float("inf"))) - 1
                raise EnvelopeError("fnr_in_content", line=marks[index][1] if index >= 0 else 0)
        position = mapped.find(_ELEVEN, end)


def _csv_field(value: str) -> str:
    """RFC 4180 quoting with ``;`` as the separator, only where needed."""
    if _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _check_unique_ids(identity: bytearray, hashes: array, lines: array) -> None:
    ordered = sorted(hashes)
    suspects = {a for a, b in zip(ordered, ordered[1:]) if a == b}
    del ordered
    if not suspects:
        return
    seen: set[str] = set()
    rows = csv.reader(io.StringIO(identity.decode("utf-8")), delimiter=";")
    next(rows)
    for index, row in enumerate(rows):
        local_id = row[0]
        if hash(local_id) in suspects:
            if local_id in seen:
                raise EnvelopeError("duplicate_local_id", line=lines[index])
            seen.add(local_id)


def _cert_summary(cert: x509.Certificate) -> dict[str, str]:
    from iplos_tui.core.keys import describe

    info = describe(cert)
    return {
        "sha256": info.sha256,
        "spki_sha256": info.spki_sha256,
        "subject": info.subject,
        "serial": info.serial,
        "not_after": info.not_after.isoformat(),
    }


def _load_cert(value: x509.Certificate | Path | str) -> x509.Certificate:
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


def _header_value(profile_value: str, header_value: str | None, name: str) -> str:
    header_value = (header_value or "").strip()
    if profile_value and header_value and profile_value != header_value:
        raise EnvelopeError("header_mismatch", field=name, profile=profile_value, extract=header_value)
    return profile_value or header_value


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.is_symlink():
        raise EnvelopeError("out_not_empty", path=out_dir)
    if out_dir.exists():
        if not out_dir.is_dir() or any(out_dir.iterdir()):
            raise EnvelopeError("out_not_empty", path=out_dir)
    parent = out_dir.parent
    if not parent.exists():
        ensure_private_dir(parent)
    elif not parent.is_dir():
        raise EnvelopeError("out_parent", path=parent)


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove staging directories left in ``parent`` by a run that was killed (its pid is gone)."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in Path(parent).iterdir():
            if not entry.name.startswith(STAGING_PREFIX) or entry.is_symlink() or not entry.is_dir():
                continue
            pid = entry.name.rsplit(".", 2)[-2] if entry.name.count(".") >= 2 else ""
            if pid.isdigit() and _alive(int(pid)):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_file(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_dev, before.st_ino, before.st_size, before.st_mtime_ns) == (
        after.st_dev,
        after.st_ino,
        after.st_size,
        after.st_mtime_ns,
    )


def encrypt_extract(
    extract_path: Path | str,
    out_dir: Path | str,
    ssb_cert: x509.Certificate | Path | str,
    tpf_cert: x509.Certificate | Path | str,
    params: EnvelopeParams | None = None,
    part_size: int = DEFAULT_PART_SIZE,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    now: dt.datetime | None = None,
    expected_sha256: str | None = None,
    max_bytes: int | None = None,
    allowed_dir: Path | str | None = None,
    on_record: Callable[[Any], None] | None = None,
) -> EncryptResult:
    """Make the envelope for ``extract_path`` in ``out_dir`` (which must not exist or be empty).

    Raises ``EnvelopeError`` (certificates refused, header disagrees with the profile, extract
    changed, output not writable, ...), ``EnvelopeCancelled`` when ``cancel`` is set, and the
    extract package's ``ExtractError`` for a file that cannot be read as an extract. On any error
    nothing is left in ``out_dir``'s place. ``expected_sha256`` (from an earlier validation)
    makes a different extract an error. ``on_record`` sees every ``Header`` and ``Person`` as it
    is read (validation in the same pass); an exception from it aborts the run.
    """
    from iplos_tui.core.extract import importer as extract_importer
    from iplos_tui.core.extract.model import Header, Person
    from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header, write_person

    params = params or EnvelopeParams()
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise EnvelopeError("part_size", size=part_size, min=MIN_PART_SIZE, max=MAX_PART_SIZE)
    extract_path = Path(extract_path)
    out_dir = Path(os.path.abspath(out_dir))
    ssb = _load_cert(ssb_cert)
    tpf = _load_cert(tpf_cert)
    if params.year is not None:
        check_certificates(ssb, tpf, int(params.year), params, now)
    _prepare_out_dir(out_dir)
    remove_stale_staging(out_dir.parent)

    kwargs: dict[str, Any] = {}
    if max_bytes is not None:
        kwargs["max_bytes"] = max_bytes
    if allowed_dir is not None:
        kwargs["allowed_dir"] = allowed_dir
    opened = extract_importer.open_extract(extract_path, **kwargs)
    staging: Path | None = None
    fd = -1
    try:
        fd = os.open(opened.path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        before = os.fstat(fd)
        if before.st_size != opened.size:
            raise EnvelopeError("extract_changed", path=extract_path)
        staging = out_dir.parent / f"{STAGING_PREFIX}{out_dir.name}.{os.getpid()}.{os.urandom(4).hex()}"
        os.mkdir(staging, 0o700)
        reader = _HashingReader(fd, cancel)
        encryptor = _Encryptor(staging)
        total = before.st_size
        state = {"persons": 0}

        def report(phase: str) -> None:
            if progress is not None:
                progress(Progress(phase, reader.bytes_read, total, state["persons"], len(content.parts)))

        def part_done() -> None:
            # Cheap early check (I11): the file must not change under us.
            if not _same_file(before, os.fstat(fd)):
                raise EnvelopeError("extract_changed", path=extract_path)
            report("part")

        content = _ContentParts(encryptor, ssb, part_size, part_done)
        # UTF-8 bytes, 1 byte per character (io.StringIO would keep 4).
        identity = bytearray(";".join(IDENTITY_COLUMNS).encode("ascii") + b"\n")
        # Duplicate local ids are found at the end from 64-bit hashes (12 bytes per person, not ~100).
        id_hashes = array("q")
        id_lines = array("I")
        header: Header | None = None
        kommunenr = bydel = ""
        year = params.year
        record_buffer = io.BytesIO()

        for record in opened.importer.iter_records(reader):  # type: ignore[arg-type]
            if isinstance(record, Header):
                header = record
                kommunenr = _header_value(params.kommunenr, record.kommunenr, "kommunenr")
                bydel = _header_value(params.bydel, record.bydel, "bydel")
                header_year = (record.year or "").strip()
                if year is not None and header_year and header_year != str(year):
                    raise EnvelopeError("header_mismatch", field="year", profile=year, extract=header_year)
                if year is None:
                    if not header_year.isdigit():
                        raise EnvelopeError("no_year")
                    year = int(header_year)
                    check_certificates(ssb, tpf, year, params, now)
                write_header(record_buffer, record)
                data = record_buffer.getvalue()
            elif isinstance(record, Person):
                local_id = record.local_id or ""
                if not local_id:
                    raise EnvelopeError("no_local_id", line=record.line)
                id_hashes.append(hash(local_id))
                id_lines.append(record.line)
                write_person(record_buffer, record, include_person_id=False)
                data = record_buffer.getvalue()
                # The person's own id, even a malformed one (too short to mean anything below 8).
                if record.person_id and len(record.person_id) >= 8 and record.person_id.encode("utf-8") in data:
                    raise EnvelopeError("fnr_in_content", line=record.line)
                identity += f"{_csv_field(local_id)};{_csv_field(record.person_id or '')}\n".encode("utf-8")
                state["persons"] += 1
                if state["persons"] % 1000 == 0:
                    if cancel is not None and cancel.is_set():
                        raise EnvelopeCancelled()
                    report("reading")
            else:  # pragma: no cover - the importer yields only these two
                continue
            if on_record is not None:
                on_record(record)
            content.add(data, record.line)
            record_buffer.seek(0)
            record_buffer.truncate()
        if header is None or year is None:
            raise EnvelopeError("no_header")
        write_footer(record_buffer)
        content.add(record_buffer.getvalue())
        content.flush()
        reader.drain()  # the hash covers the whole file, also anything after the root element

        # I11: the same file, unchanged, from start to end.
        extract_sha256 = reader.sha256.hexdigest()
        try:
            after_path = os.stat(opened.path)
        except OSError:
            raise EnvelopeError("extract_changed", path=extract_path) from None
        if not (_same_file(before, os.fstat(fd)) and _same_file(before, after_path)):
            raise EnvelopeError("extract_changed", path=extract_path)
        if reader.bytes_read != before.st_size or _file_sha256(Path(opened.path))[0] != extract_sha256:
            raise EnvelopeError("extract_changed", path=extract_path)
        if expected_sha256 and expected_sha256.lower() != extract_sha256:
            raise EnvelopeError("extract_not_validated", path=extract_path)
        if cancel is not None and cancel.is_set():
            raise EnvelopeCancelled()

        report("identity")
        _check_unique_ids(identity, id_hashes, id_lines)
        identity_plain = identity
        del id_hashes, id_lines
        id_size, id_digest = encryptor.write(IDENTITY_FILE, identity_plain, tpf)
        identity_part = PartInfo(
            "identity",
            IDENTITY_FILE,
            "tpf",
            0,
            len(identity_plain),
            hashlib.sha256(identity_plain).hexdigest(),
            id_size,
            id_digest,
        )
        del identity_plain

        manifest = Manifest(
            kommunenr=kommunenr,
            bydel=bydel,
            year=int(year),
            created=(now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
            contact_email=params.contact_email or (header.contact_email or ""),
            contact_mobile=params.contact_mobile or (header.contact_mobile or ""),
            certificates={"ssb": _cert_summary(ssb), "tpf": _cert_summary(tpf)},
            persons=state["persons"],
            content_plaintext_size=content.total_size,
            content_plaintext_sha256=content.total.hexdigest(),
            parts=[identity_part, *content.parts],
        )
        manifest_bytes = manifest.to_json()
        atomic_write_bytes(staging / MANIFEST_FILE, manifest_bytes)
        if cancel is not None and cancel.is_set():
            raise EnvelopeCancelled()

        # Publish: one rename makes the whole envelope appear at once.
        fsync_dir(staging)
        os.rename(staging, out_dir)
        staging = None
        fsync_dir(out_dir.parent)
        report("done")
        return EncryptResult(
            manifest=manifest,
            out_dir=out_dir,
            manifest_path=out_dir / MANIFEST_FILE,
            manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
            extract_path=extract_path,
            extract_size=before.st_size,
            extract_sha256=extract_sha256,
        )
    except OSError as exc:
        raise EnvelopeError("io_failed", path=out_dir, error=exc.strerror or exc) from None
    finally:
        if fd >= 0:
            os.close(fd)
        opened.close()
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
