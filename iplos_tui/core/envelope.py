"""Making the envelope: one extract -> ``identity.p7m`` (TPF), ``content-NNNN.p7m`` (SSB), ``manifest.json``.

``EnvelopeWriter`` takes the extract's records in order (docs/envelope-format.md is the contract):

* each ``Person`` is written again without its fnr (the local id stands in for it) into a
  plaintext buffer of at most ``part_size`` bytes; a full buffer becomes one CMS EnvelopedData
  (DER, AES-256-CBC, RSA key transport) to the SSB certificate only (``seal_part``);
* the pairs local id -> fnr collect in a small table, encrypted at the end to the TPF
  certificate only (about 25 bytes per person);
* plaintext lives only in memory; only ciphertext and the manifest are written, into a
  ``StagingDir`` beside ``out_dir`` (inside the secure directory), each file temp -> fsync ->
  rename. ``publish()`` renames the staging directory to ``out_dir`` in one step, so an
  interrupted run leaves no ``out_dir`` at all, just a hidden staging directory the next run removes.

``encrypt_extract`` is the writer fed by the one read of the extract (``core.extract_pass``),
which hashes the file as it is read and refuses a file changed meanwhile (I11). Peak memory is
about four part sizes (cryptography's pkcs7 encrypts a part in memory) plus about 100 bytes per
person (the identity table and the duplicate check), never the extract or the content as a whole.

``seal_part`` is a plain function of picklable values (bytes, a DER certificate, a path), so that
a process pool can run the per-part work.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import os
import re
import shutil
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.envelope_format import (
    CONTENT_PATTERN,
    CONTENT_RE,
    DEFAULT_PART_SIZE,
    ENCRYPTION,
    FORMAT,
    IDENTITY_COLUMNS,
    IDENTITY_FILE,
    MANIFEST_FILE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    READ_SIZE,
    STAGING_PREFIX,
    VERSION,
    EncryptResult,
    EnvelopeError,
    EnvelopeParams,
    Manifest,
    PartInfo,
    Progress,
    cert_summary,
    check_certificates,
    load_cert,
    load_manifest,
    verify_envelope,
)
from iplos_tui.core.errors import Cancelled
from iplos_tui.core.extract.uttrekk_v1 import person_xml
from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir, fsync_dir, process_alive

if TYPE_CHECKING:
    from concurrent.futures import Future

    from cryptography import x509

    from iplos_tui.core.extract.model import Header, Person

__all__ = [  # the format's names are part of this module's interface
    "CONTENT_PATTERN", "CONTENT_RE", "DEFAULT_PART_SIZE", "ENCRYPTION", "FORMAT", "IDENTITY_COLUMNS",
    "IDENTITY_FILE", "MANIFEST_FILE", "MAX_PART_SIZE", "MAX_PARTS", "MIN_PART_SIZE", "READ_SIZE",
    "STAGING_PREFIX", "VERSION", "EncryptResult", "EnvelopeError", "EnvelopeParams", "EnvelopeWriter",
    "Manifest", "PartInfo", "Progress", "StagingDir", "cert_summary", "check_certificates",
    "encrypt_extract", "load_cert", "load_manifest", "remove_stale_staging", "scan_for_person_ids",
    "seal", "seal_part", "verify_envelope",
]  # fmt: skip

_CSV_SPECIAL = re.compile('[;"\r\n]')
MAX_SEALING = 4  # content parts being sealed elsewhere at once (each holds its plaintext)
Sealer = Callable[[str, str, bytes, bytes], "Future[tuple[int, str]]"]


# --- the per-part work: plain functions of picklable values ---------------------------------


def seal(plaintext: bytes | bytearray, cert_der: bytes) -> bytes:
    """One CMS EnvelopedData (DER, AES-256-CBC, RSA key transport) of ``plaintext`` to the
    certificate ``cert_der`` only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers import algorithms
    from cryptography.hazmat.primitives.serialization import pkcs7

    builder = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(bytes(plaintext))
        .add_recipient(x509.load_der_x509_certificate(cert_der))
        .set_content_encryption_algorithm(algorithms.AES256)
    )
    return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def seal_part(directory: str, name: str, plaintext: bytes | bytearray, cert_der: bytes) -> tuple[int, str]:
    """Seal ``plaintext`` into ``directory/name`` (temp -> fsync -> rename); (size, sha256)."""
    ciphertext = seal(plaintext, cert_der)
    atomic_write_bytes(Path(directory) / name, ciphertext)
    return len(ciphertext), hashlib.sha256(ciphertext).hexdigest()


def scan_for_person_ids(plaintext: bytes | bytearray, marks: list[tuple[int, int]]) -> None:
    """Refuse content that holds a person id with valid check digits, in any of the shapes of
    ``core.person_id`` (the same detector the feedback masker uses).

    ``marks`` maps buffer offsets to extract lines, so the error can say where (never what).
    """
    from iplos_tui.core.person_id import first_valid_in_utf8

    position = first_valid_in_utf8(plaintext)
    if position is not None:
        index = bisect.bisect_right(marks, (position, float("inf"))) - 1
        raise EnvelopeError("fnr_in_content", line=marks[index][1] if index >= 0 else 0)


def pseudonymise(record: Person) -> tuple[bytes, bytes]:
    """A person as the content part has it (without the fnr: the local id stands in for it) and
    its row of the identity table. Raises ``EnvelopeError`` for a person without a local id, or
    whose own id is still in the rewritten text (even a malformed one of 8 characters or more)."""
    local_id = record.local_id or ""
    if not local_id:
        raise EnvelopeError("no_local_id", line=record.line)
    data = person_xml(record, include_person_id=False).encode("utf-8")
    person_id = record.person_id
    if person_id and len(person_id) >= 8 and person_id.encode("utf-8") in data:
        raise EnvelopeError("fnr_in_content", line=record.line)
    return data, f"{_csv_field(local_id)};{_csv_field(person_id or '')}\n".encode("utf-8")


@dataclass
class Rewritten:
    """A chunk's persons after ``pseudonymise``, for ``EnvelopeWriter.add_persons`` (picklable):
    their content text one after another, each one's size, line and local id, their identity
    rows, and the refusal (key, values) of the person where it stopped, if one was refused."""

    plaintext: bytes
    sizes: array[int]
    lines: array[int]
    local_ids: list[str]
    identity: bytes
    refusal: tuple[str, dict[str, str]] | None = None


# --- the staging directory ------------------------------------------------------------------


class StagingDir:
    """A hidden directory beside ``out_dir`` that becomes ``out_dir`` in one rename (``publish``),
    or disappears (leaving the ``with`` block without publishing)."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(os.path.abspath(out_dir))
        self.path: Path | None = None

    def __enter__(self) -> StagingDir:
        _prepare_out_dir(self.out_dir)
        remove_stale_staging(self.out_dir.parent)
        path = self.out_dir.parent / f"{STAGING_PREFIX}{self.out_dir.name}.{os.getpid()}.{os.urandom(4).hex()}"
        try:
            os.mkdir(path, 0o700)
        except OSError as exc:
            raise EnvelopeError("io_failed", path=self.out_dir, error=exc.strerror or exc) from None
        self.path = path
        return self

    def publish(self) -> Path:
        """Make every file appear at once as ``out_dir``."""
        if self.path is None:
            raise RuntimeError("not staged")
        try:
            fsync_dir(self.path)
            os.rename(self.path, self.out_dir)
            self.path = None
            fsync_dir(self.out_dir.parent)
        except OSError as exc:
            raise EnvelopeError("io_failed", path=self.out_dir, error=exc.strerror or exc) from None
        return self.out_dir

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


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
            if pid.isdigit() and process_alive(int(pid)):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


# --- the writer -----------------------------------------------------------------------------


class _ContentParts:
    """Cuts the pseudonymised extract into parts of at most ``part_size`` plaintext bytes,
    at record boundaries where a record fits, and seals each full part to SSB."""

    def __init__(self, directory: Path, cert_der: bytes, part_size: int, on_part: Callable[[], None], sealer: Sealer | None = None) -> None:
        self.directory = str(directory)
        self.sealer = sealer
        self.sealing: dict[int, Future[tuple[int, str]]] = {}  # part index -> its sealing elsewhere
        self.cert_der = cert_der
        self.part_size = part_size
        self.buffer = bytearray()
        self.marks: list[tuple[int, int]] = []  # (offset in buffer, extract line) per record
        self.parts: list[PartInfo] = []
        self.total = hashlib.sha256()
        self.total_size = 0
        self.on_part = on_part

    def add(self, data: bytes | memoryview, line: int = 0) -> None:
        if self.buffer and len(self.buffer) + len(data) > self.part_size:
            self.flush()
        if len(data) <= self.part_size:
            self.marks.append((len(self.buffer), line))
            self.buffer += data
            return
        # A record larger than a part: scan it whole (a cut could split a number), then cut by bytes.
        scan_for_person_ids(bytes(data), [(0, line)])
        view = memoryview(data)
        for start in range(0, len(data), self.part_size):
            self.buffer += view[start : start + self.part_size]
            if len(self.buffer) >= self.part_size:
                self.flush(scanned=True)

    def flush(self, scanned: bool = False) -> None:
        if not self.buffer:
            return
        if not scanned:
            scan_for_person_ids(self.buffer, self.marks)
        self.marks = []
        index = len(self.parts) + 1
        if index > MAX_PARTS:
            raise EnvelopeError("too_many_parts", max=MAX_PARTS, size=self.part_size)
        name = CONTENT_PATTERN.format(index=index)
        plain_sha = hashlib.sha256(self.buffer).hexdigest()
        plain_size = len(self.buffer)
        self.total.update(self.buffer)  # the parts in order are the whole content
        self.total_size += plain_size
        if self.sealer is not None:
            if len(self.sealing) >= MAX_SEALING:
                self.sealed(wait_for=min(self.sealing))  # memory: a few parts in flight, never the content
            self.sealing[index] = self.sealer(self.directory, name, bytes(self.buffer), self.cert_der)
            size, digest = 0, ""
        else:
            size, digest = seal_part(self.directory, name, self.buffer, self.cert_der)
        self.buffer = bytearray()
        self.parts.append(PartInfo("content", name, "ssb", index, plain_size, plain_sha, size, digest))
        self.on_part()

    def sealed(self, wait_for: int | None = None) -> list[PartInfo]:
        """The parts, with the ciphertext of those sealed elsewhere (waits for part ``wait_for``,
        by default for every one); a sealing that failed raises its error here."""
        for index in sorted(self.sealing):
            if wait_for is not None and index > wait_for:
                break
            size, digest = self.sealing.pop(index).result()
            self.parts[index - 1] = dataclasses.replace(self.parts[index - 1], ciphertext_size=size, ciphertext_sha256=digest)
        return self.parts


def _csv_field(value: str) -> str:
    """RFC 4180 quoting with ``;`` as the separator, only where needed."""
    if _CSV_SPECIAL.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def _check_unique_ids(identity: bytearray, hashes: array[int], lines: array[int]) -> None:
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


def _header_value(profile_value: str, header_value: str | None, name: str) -> str:
    header_value = (header_value or "").strip()
    if profile_value and header_value and profile_value != header_value:
        raise EnvelopeError("header_mismatch", field=name, profile=profile_value, extract=header_value)
    return profile_value or header_value


class EnvelopeWriter:
    """Writes one envelope into ``directory`` from the extract's records, fed in order with
    ``record()``; ``finish()`` seals the identity part and writes the manifest.

    ``content_sha256`` (after ``finish``) identifies what the extract says, not how the file
    looks: the header's kommunenr, bydel, year and orgnr and every person in order, but not
    ``ProducedAt``, contact or source system. Two exports of the same data have the same one.
    """

    def __init__(
        self,
        directory: Path,
        ssb_cert: x509.Certificate,
        tpf_cert: x509.Certificate,
        params: EnvelopeParams,
        part_size: int,
        *,
        now: dt.datetime | None = None,
        on_part: Callable[[int], None] | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        """``sealer``: seals a content part elsewhere (a process pool's ``submit(seal_part, ...)``)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        from iplos_tui.core.extract.model import Header
        from iplos_tui.core.extract.uttrekk_v1 import write_footer, write_header

        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise EnvelopeError("part_size", size=part_size, min=MIN_PART_SIZE, max=MAX_PART_SIZE)
        self._header_type = Header
        self._write_header, self._write_footer = write_header, write_footer
        self.directory = directory
        self.ssb, self.tpf = ssb_cert, tpf_cert
        self.params = params
        self.now = now
        self._on_part = on_part
        self.content = _ContentParts(directory, ssb_cert.public_bytes(Encoding.DER), part_size, self._part_done, sealer)
        # UTF-8 bytes, 1 byte per character (io.StringIO would keep 4).
        self.identity = bytearray(";".join(IDENTITY_COLUMNS).encode("ascii") + b"\n")
        # Duplicate local ids are found at the end from 64-bit hashes (12 bytes per person, not ~100).
        self._id_hashes = array("q")
        self._id_lines = array("I")
        self._persons_sha = hashlib.sha256()
        self.header: Header | None = None
        self.kommunenr = self.bydel = ""
        self.year = params.year
        self.persons = 0
        self._buffer = io.BytesIO()
        self.content_sha256 = ""

    def seal_with(self, sealer: Sealer | None) -> None:
        """Seal the next content parts with ``sealer`` (None: here); the parts sealed so far are
        waited for first."""
        self.content.sealed()
        self.content.sealer = sealer

    def _part_done(self) -> None:
        if self._on_part is not None:
            self._on_part(len(self.content.parts))

    def record(self, record: Header | Person) -> None:
        if isinstance(record, self._header_type):
            self._header(record)
        else:
            self._person(record)

    def _header(self, record: Header) -> None:
        params = self.params
        self.header = record
        self.kommunenr = _header_value(params.kommunenr, record.kommunenr, "kommunenr")
        self.bydel = _header_value(params.bydel, record.bydel, "bydel")
        header_year = (record.year or "").strip()
        if self.year is not None and header_year and header_year != str(self.year):
            raise EnvelopeError("header_mismatch", field="year", profile=self.year, extract=header_year)
        if self.year is None:
            if not header_year.isdigit():
                raise EnvelopeError("no_year")
            self.year = int(header_year)
            check_certificates(self.ssb, self.tpf, self.year, params, self.now)
        self._write_header(self._buffer, record)
        self._add(record.line)

    def _person(self, record: Person) -> None:
        if self.header is None:
            raise EnvelopeError("no_header")
        data, row = pseudonymise(record)
        self._id_hashes.append(hash(record.local_id))
        self._id_lines.append(record.line)
        self.content.add(data, record.line)
        self._persons_sha.update(data)
        self.identity += row
        self.persons += 1

    def add_persons(self, rewritten: Rewritten) -> None:
        """Persons that ``pseudonymise`` rewrote elsewhere (a process pool's chunk), in file
        order: the same parts, hashes and identity table as ``record`` for each of them; the
        chunk's refusal, if it had one, is raised where ``record`` would have raised it."""
        if self.header is None:
            raise EnvelopeError("no_header")
        view = memoryview(rewritten.plaintext)
        offset = 0
        for size, line in zip(rewritten.sizes, rewritten.lines):
            self.content.add(view[offset : offset + size], line)
            offset += size
        self._persons_sha.update(rewritten.plaintext)
        self._id_hashes.extend(map(hash, rewritten.local_ids))
        self._id_lines.extend(rewritten.lines)
        self.identity += rewritten.identity
        self.persons += len(rewritten.sizes)
        if rewritten.refusal is not None:
            key, values = rewritten.refusal
            raise EnvelopeError(key, None, **values)

    def _add(self, line: int) -> bytes:
        data = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        self.content.add(data, line)
        return data

    def finish(self) -> tuple[Manifest, bytes]:
        """Seal the last content part and the identity part, write the manifest: (manifest, its bytes)."""
        header = self.header
        if header is None or self.year is None:
            raise EnvelopeError("no_header")
        self._write_footer(self._buffer)
        self._add(0)
        self.content.flush()
        self.content.sealed()
        _check_unique_ids(self.identity, self._id_hashes, self._id_lines)
        del self._id_hashes, self._id_lines
        identity_sha = hashlib.sha256(self.identity).hexdigest()
        id_size, id_digest = seal_part(str(self.directory), IDENTITY_FILE, self.identity, self.tpf.public_bytes(_der()))
        identity_part = PartInfo("identity", IDENTITY_FILE, "tpf", 0, len(self.identity), identity_sha, id_size, id_digest)
        self.identity = bytearray()
        facts = f"{self.kommunenr}|{self.bydel}|{self.year}|{(header.orgnr or '').strip()}|{self._persons_sha.hexdigest()}|{identity_sha}"
        self.content_sha256 = hashlib.sha256(facts.encode("utf-8")).hexdigest()
        manifest = Manifest(
            kommunenr=self.kommunenr,
            bydel=self.bydel,
            year=int(self.year),
            created=(self.now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
            contact_email=self.params.contact_email or (header.contact_email or ""),
            contact_mobile=self.params.contact_mobile or (header.contact_mobile or ""),
            certificates={"ssb": cert_summary(self.ssb), "tpf": cert_summary(self.tpf)},
            persons=self.persons,
            content_plaintext_size=self.content.total_size,
            content_plaintext_sha256=self.content.total.hexdigest(),
            parts=[identity_part, *self.content.parts],
        )
        manifest_bytes = manifest.to_json()
        atomic_write_bytes(self.directory / MANIFEST_FILE, manifest_bytes)
        return manifest, manifest_bytes


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


# --- the whole job --------------------------------------------------------------------------


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
    reader: Callable[..., Any] | None = None,
) -> EncryptResult:
    """Make the envelope for ``extract_path`` in ``out_dir`` (which must not exist or be empty).

    Raises ``EnvelopeError`` (certificates refused, header disagrees with the profile, extract
    changed, output not writable, ...), ``Cancelled`` when ``cancel`` is set, and the extract
    package's ``ExtractError`` for a file that cannot be read as an extract. On any error
    nothing is left in ``out_dir``'s place. ``expected_sha256`` (from an earlier validation)
    makes a different extract an error. ``on_record`` sees every ``Header`` and ``Person`` as it
    is read, before the writer; an exception from it aborts the run. ``reader`` reads the file
    into the writer instead of ``read_extract`` (``core.encryption``: on every core).
    """
    from iplos_tui.core.extract_pass import read_extract

    params = params or EnvelopeParams()
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise EnvelopeError("part_size", size=part_size, min=MIN_PART_SIZE, max=MAX_PART_SIZE)
    ssb, tpf = load_cert(ssb_cert), load_cert(tpf_cert)
    if params.year is not None:
        check_certificates(ssb, tpf, int(params.year), params, now)
    state = {"read": 0, "total": 0}

    try:
        with StagingDir(out_dir) as staging:
            assert staging.path is not None

            def report(phase: str) -> None:
                if progress is not None:
                    progress(Progress(phase, state["read"], state["total"], writer.persons, len(writer.content.parts)))

            writer = EnvelopeWriter(staging.path, ssb, tpf, params, part_size, now=now, on_part=lambda parts: report("part"))

            def take(record: Any) -> None:
                if on_record is not None:
                    on_record(record)
                writer.record(record)
                if writer.persons and writer.persons % 1000 == 0 and writer.header is not None:
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    report("reading")

            def read(done: int, total: int) -> None:
                state["read"], state["total"] = done, total

            if reader is None:
                passed = read_extract(extract_path, take, progress=read, cancel=cancel, max_bytes=max_bytes, allowed_dir=allowed_dir)
            else:
                passed = reader(extract_path, writer, progress=read, cancel=cancel, max_bytes=max_bytes, allowed_dir=allowed_dir, on_persons=lambda: report("reading"))
            if expected_sha256 and expected_sha256.lower() != passed.sha256:
                raise EnvelopeError("extract_not_validated", path=extract_path)
            state["total"] = passed.identity.size
            report("identity")
            manifest, manifest_bytes = writer.finish()
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            published = staging.publish()
    except OSError as exc:
        raise EnvelopeError("io_failed", path=out_dir, error=exc.strerror or exc) from None
    report("done")
    return EncryptResult(
        manifest=manifest,
        out_dir=published,
        manifest_path=published / MANIFEST_FILE,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        extract_path=Path(extract_path),
        extract_size=passed.identity.size,
        extract_sha256=passed.sha256,
        content_sha256=writer.content_sha256,
    )
