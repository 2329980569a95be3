"""Crafting zip files for the feedback reader's tests: real AES zips (pyzipper, 7z) and hostile ones.

``raw_zip()`` writes local headers, data, a central directory and an end record from plain
fields, so a test can lie in exactly one place. ``patch_cd()`` / ``patch_lfh()`` rewrite fields
of an existing archive.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyzipper

from tests.support import PIN_CANARY as PIN
FEILLISTE = (
    "\ufefflokal_id;regel;alvorlighet;felt;verdi;melding\r\n"
    "P0001;F001;feil;fnr;01017012345;Ugyldig fødselsnummer\r\n"
    "P0002;F014;advarsel;timer;170;Mer enn 168 timer per uke\r\n"
    "P0003;F014;advarsel;timer;200;Mer enn 168 timer per uke\r\n"
).encode("utf-8")
KONTROLL = (
    "\ufefftjeneste;aldersgruppe;brukere;timer;dagtall\r\n"
    + "".join(f"{code};{age};{(code * 7 + age) % 97};{code * 3.5};{age * 11}\r\n" for code in range(1, 40) for age in (0, 18, 67, 80))
).encode("utf-8")
FEEDBACK_NAME = "040300_iplos_tilbakemelding_20170207.zip"


def aes_zip(
    entries: dict[str, bytes] | list[tuple[str, bytes]],
    pin: str = PIN,
    *,
    version: int = 2,
    compression: int = pyzipper.ZIP_DEFLATED,
    nbits: int = 256,
    external_attr: int | None = None,
) -> bytes:
    buffer = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with pyzipper.AESZipFile(buffer, "w", compression=compression, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(pin.encode())
        archive.setencryption(pyzipper.WZ_AES, nbits=nbits, force_wz_aes_version=version)
        for name, data in items:
            info = pyzipper.zipfile_aes.AESZipInfo(name, date_time=(2017, 2, 7, 8, 0, 0))
            info.compress_type = compression
            if external_attr is not None:
                info.external_attr = external_attr
            archive.writestr(info, data)
    return buffer.getvalue()


def plain_zip(entries: dict[str, bytes], compression: int = zlib.DEFLATED) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def seven_zip() -> str | None:
    return shutil.which("7z") or shutil.which("7za") or shutil.which("7zz")


def seven_zip_archive(workdir: Path, files: dict[str, bytes], pin: str = PIN, *, method: str = "AES256", level: int = 5) -> bytes:
    exe = seven_zip()
    assert exe
    src = workdir / "src"
    src.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (src / name).write_bytes(data)
    out = workdir / "out.zip"
    subprocess.run(
        [exe, "a", "-tzip", f"-mem={method}", f"-mx={level}", f"-p{pin}", str(out), *files],
        cwd=src, check=True, capture_output=True, timeout=60,
    )
    data = out.read_bytes()
    shutil.rmtree(src)
    out.unlink()
    return data


# ---- structure surgery ------------------------------------------------------------------------

def eocd_offset(data: bytes) -> int:
    return data.rfind(b"PK\x05\x06")


def cd_entries(data: bytes) -> list[int]:
    """Offsets of every central directory record."""
    eocd = eocd_offset(data)
    count, _size, offset = struct.unpack_from("<HII", data, eocd + 10)
    out, pos = [], offset
    for _ in range(count):
        out.append(pos)
        n, e, c = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + n + e + c
    return out


_CD_FIELDS = {"flags": (8, "H"), "method": (10, "H"), "crc": (16, "I"), "csize": (20, "I"), "usize": (24, "I"), "external_attr": (38, "I"), "offset": (42, "I")}
_LFH_FIELDS = {"flags": (6, "H"), "method": (8, "H"), "crc": (14, "I"), "csize": (18, "I"), "usize": (22, "I")}


def patch_cd(data: bytes, index: int, **fields: int) -> bytes:
    buf = bytearray(data)
    pos = cd_entries(data)[index]
    for key, value in fields.items():
        off, fmt = _CD_FIELDS[key]
        struct.pack_into("<" + fmt, buf, pos + off, value)
    return bytes(buf)


def lfh_offset(data: bytes, index: int) -> int:
    return struct.unpack_from("<I", data, cd_entries(data)[index] + 42)[0]


def patch_lfh(data: bytes, index: int, **fields: int) -> bytes:
    buf = bytearray(data)
    pos = lfh_offset(data, index)
    for key, value in fields.items():
        off, fmt = _LFH_FIELDS[key]
        struct.pack_into("<" + fmt, buf, pos + off, value)
    return bytes(buf)


def patch_aes_method(data: bytes, method: int, *, central: bool = True, local: bool = True) -> bytes:
    """Rewrite the real compression method inside every 0x9901 field (central and/or local)."""
    buf = bytearray(data)
    cd_start = struct.unpack_from("<I", data, eocd_offset(data) + 16)[0]
    pos = 0
    while True:
        pos = data.find(b"\x01\x99\x07\x00", pos)
        if pos < 0:
            break
        if (pos >= cd_start and central) or (pos < cd_start and local):
            struct.pack_into("<H", buf, pos + 9, method)
        pos += 4
    return bytes(buf)


def data_offset(data: bytes, index: int) -> int:
    pos = lfh_offset(data, index)
    n, e = struct.unpack_from("<HH", data, pos + 26)
    return pos + 30 + n + e


# ---- raw writer -------------------------------------------------------------------------------

def aes_extra(real_method: int = 8, strength: int = 3, version: int = 2) -> bytes:
    return struct.pack("<HHH2sBH", 0x9901, 7, version, b"AE", strength, real_method)


@dataclass
class RawEntry:
    name: str
    data: bytes  # the bytes stored after the local header (ciphertext container for AES)
    method: int = 99
    flags: int = 0x0001
    extra: bytes = field(default_factory=aes_extra)
    usize: int | None = None
    crc: int = 0
    external_attr: int = 0o100644 << 16
    offset: int | None = None  # override the central directory's local header offset
    write_local: bool = True


def raw_zip(entries: list[RawEntry], *, prefix: bytes = b"", count: int | None = None, comment: bytes = b"") -> bytes:
    out = bytearray(prefix)
    offsets = []
    for entry in entries:
        name = entry.name.encode("utf-8")
        flags = entry.flags | 0x0800
        usize = len(entry.data) if entry.usize is None else entry.usize
        offsets.append(len(out))
        if entry.write_local:
            out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 51, flags, entry.method, 0, 0x4E47, entry.crc, len(entry.data), usize, len(name), len(entry.extra))
            out += name + entry.extra + entry.data
    cd_start = len(out)
    for entry, offset in zip(entries, offsets):
        name = entry.name.encode("utf-8")
        flags = entry.flags | 0x0800
        usize = len(entry.data) if entry.usize is None else entry.usize
        out += struct.pack(
            "<4sBBHHHHHIIIHHHHHII", b"PK\x01\x02", 63, 3, 51, flags, entry.method, 0, 0x4E47, entry.crc,
            len(entry.data), usize, len(name), len(entry.extra), 0, 0, 0, entry.external_attr,
            offset if entry.offset is None else entry.offset,
        )
        out += name + entry.extra
    cd_size = len(out) - cd_start
    n = len(entries) if count is None else count
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n & 0xFFFF, n & 0xFFFF, cd_size, cd_start, len(comment)) + comment
    return bytes(out)
