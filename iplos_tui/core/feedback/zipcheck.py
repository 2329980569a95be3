"""Our own reading of a zip's structure, checked before a single byte is decrypted.

pyzipper (a fork of Python 3.7's ``zipfile``) has no overlap check, silently keeps the last of
duplicate names, trusts ``compress_size`` and takes the real compression method from the
unauthenticated 0x9901 extra field. So we parse the end record, the central directory and every
local header ourselves, refuse anything outside the policy, and later require that pyzipper
sees exactly the same entries (no parser differential).

Pure ``struct`` work on bytes in memory; no decryption, no decompression, no pyzipper.
"""

from __future__ import annotations

import stat
import struct
import unicodedata
from dataclasses import dataclass

from iplos_tui.core.feedback.errors import ZipRefusal

EOCD_SIG = b"PK\x05\x06"
CD_SIG = b"PK\x01\x02"
LFH_SIG = b"PK\x03\x04"
DD_SIG = b"PK\x07\x08"
ZIP64_LOCATOR_SIG = b"PK\x06\x07"

EOCD_SIZE = 22
CD_SIZE = 46
LFH_SIZE = 30
ZIP64_LOCATOR_SIZE = 20

METHOD_STORED = 0
METHOD_DEFLATED = 8
METHOD_AES = 99
ALLOWED_METHODS = (METHOD_STORED, METHOD_DEFLATED)
EXTRA_ZIP64 = 0x0001
EXTRA_AES = 0x9901
AES_STRENGTH_256 = 3
AES_SALT = {1: 8, 2: 12, 3: 16}
AES_OVERHEAD_AFTER_SALT = 2 + 10  # password check value + HMAC-SHA1-80

FLAG_ENCRYPTED = 0x0001
FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_PATCHED = 0x0020
FLAG_STRONG = 0x0040
FLAG_UTF8 = 0x0800
FLAG_CD_MASKED = 0x2000

NESTED_ARCHIVE_SUFFIXES = (".zip", ".7z", ".rar", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst", ".jar", ".cab", ".lzma")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """The documented limits (docs/feedback.md). Feedback zips seen so far are ~24 KB."""

    max_zip_bytes: int = 64 * MiB
    max_entries: int = 64
    max_entry_size: int = 64 * MiB
    max_total_size: int = 128 * MiB
    max_ratio: int = 200  # uncompressed / compressed, checked for entries above ratio_min_size
    ratio_min_size: int = 1 * MiB
    max_name_bytes: int = 255
    require_aes256: bool = True  # policy: every file entry WinZip AES-256 (AE-1 or AE-2)


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class ZipEntry:
    index: int
    name: str
    raw_name: bytes
    flags: int
    method: int  # as written in the headers (99 for WinZip AES)
    real_method: int  # the method inside the 0x9901 field for AES entries, else ``method``
    aes_version: int | None  # 1 (AE-1) or 2 (AE-2); None when not AES
    aes_strength: int | None
    crc: int
    compress_size: int
    file_size: int
    header_offset: int
    data_offset: int
    end_offset: int  # end of data (and data descriptor, if any)
    create_system: int
    external_attr: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & FLAG_ENCRYPTED)


@dataclass(frozen=True)
class ZipLayout:
    entries: tuple[ZipEntry, ...]
    cd_offset: int
    size: int

    @property
    def files(self) -> tuple[ZipEntry, ...]:
        return tuple(e for e in self.entries if not e.is_dir)


def _find_eocd(data: bytes) -> int:
    """Offset of the end record: last 22 bytes (no comment) or the last signature before them."""
    size = len(data)
    if size < EOCD_SIZE:
        raise ZipRefusal("not_zip")
    if data[size - EOCD_SIZE : size - EOCD_SIZE + 4] == EOCD_SIG and data[-2:] == b"\0\0":
        return size - EOCD_SIZE
    start = max(size - 0xFFFF - EOCD_SIZE, 0)
    offset = data.rfind(EOCD_SIG, start)
    if offset < 0:
        raise ZipRefusal("not_zip")
    return offset


def _parse_extra(extra: bytes, entry_name: str) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    pos = 0
    while pos < len(extra):
        if pos + 4 > len(extra):
            raise ZipRefusal("corrupt_extra", entry_name)
        tag, length = struct.unpack_from("<HH", extra, pos)
        if pos + 4 + length > len(extra):
            raise ZipRefusal("corrupt_extra", entry_name)
        if tag in fields and tag in (EXTRA_AES, EXTRA_ZIP64):
            raise ZipRefusal("corrupt_extra", entry_name)
        fields[tag] = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return fields


def _aes_fields(fields: dict[int, bytes], entry_name: str) -> tuple[int, int, int] | None:
    """(version, strength, real method) from a 0x9901 field, or None when absent."""
    body = fields.get(EXTRA_AES)
    if body is None:
        return None
    if len(body) != 7:
        raise ZipRefusal("corrupt_extra", entry_name)
    version, vendor, strength, real_method = struct.unpack("<H2sBH", body)
    if vendor != b"AE" or version not in (1, 2) or strength not in AES_SALT:
        raise ZipRefusal("corrupt_extra", entry_name)
    return version, strength, real_method


def check_name(name: str, raw: bytes, limits: ZipLimits) -> None:
    """Refuse names that could point anywhere but a plain relative file (never rewrite them)."""
    if not name or len(raw) > limits.max_name_bytes:
        raise ZipRefusal("bad_name", name)
    if "\0" in name or "\\" in name or ":" in name:
        raise ZipRefusal("bad_name", name)
    if name.startswith("/") or (len(name) >= 2 and name[1] == ":"):
        raise ZipRefusal("bad_name", name)
    parts = name[:-1].split("/") if name.endswith("/") else name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ZipRefusal("bad_name", name)


def _name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _end_record(data: bytes, limits: ZipLimits) -> tuple[int, int, int]:
    """(entry count, central directory offset, end record offset), every field checked."""
    size = len(data)
    if size > limits.max_zip_bytes:
        raise ZipRefusal("zip_too_large", size=size, limit=limits.max_zip_bytes)
    eocd = _find_eocd(data)
    if eocd + EOCD_SIZE > size:
        raise ZipRefusal("not_zip")
    (_, disk, cd_disk, count_disk, count, cd_size, cd_offset, comment_len) = struct.unpack_from(
        "<4sHHHHIIH", data, eocd
    )
    if eocd + EOCD_SIZE + comment_len != size:
        raise ZipRefusal("bad_structure")  # trailing bytes, or a forged end record in a comment
    if 0xFFFF in (count_disk, count) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise ZipRefusal("zip64")
    if eocd >= ZIP64_LOCATOR_SIZE and data[eocd - ZIP64_LOCATOR_SIZE : eocd - ZIP64_LOCATOR_SIZE + 4] == ZIP64_LOCATOR_SIG:
        raise ZipRefusal("zip64")
    if disk != 0 or cd_disk != 0 or count_disk != count:
        raise ZipRefusal("bad_structure")
    if count > limits.max_entries:
        raise ZipRefusal("too_many_entries", count=count, limit=limits.max_entries)
    if cd_offset + cd_size != eocd:
        raise ZipRefusal("bad_structure")  # prepended data or a central directory that lies
    return count, cd_offset, eocd


def _check_mode(name: str, external_attr: int) -> tuple[int, int]:
    """(mode, file type) from the Unix mode bits; a symlink, device or FIFO is refused."""
    mode = external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ZipRefusal("symlink", name)
    if mode and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise ZipRefusal("special_file", name)
    return mode, kind


def _real_method(name: str, method: int, flags: int, aes: tuple[int, int, int] | None) -> tuple[int | None, int | None, int]:
    """(AES version, AES strength, real compression method); a method we do not read is refused."""
    aes_version = aes_strength = None
    real_method = method
    if method == METHOD_AES:
        if aes is None or not flags & FLAG_ENCRYPTED:
            raise ZipRefusal("corrupt_extra", name)
        aes_version, aes_strength, real_method = aes
    elif aes is not None:
        raise ZipRefusal("corrupt_extra", name)
    if real_method not in ALLOWED_METHODS:
        raise ZipRefusal("bad_method", name, method=real_method)
    return aes_version, aes_strength, real_method


def _check_file(name: str, flags: int, method: int, real_method: int, aes_strength: int | None, compress_size: int, file_size: int, limits: ZipLimits) -> None:
    """The policy for one file entry: WinZip AES-256, no nested archive, sizes that add up."""
    if limits.require_aes256:
        if not flags & FLAG_ENCRYPTED:
            raise ZipRefusal("not_encrypted", name)
        if method != METHOD_AES:
            raise ZipRefusal("not_aes", name)  # ZipCrypto or another scheme
        if aes_strength != AES_STRENGTH_256:
            raise ZipRefusal("not_aes256", name)
    elif flags & FLAG_ENCRYPTED and method != METHOD_AES:
        raise ZipRefusal("not_aes", name)
    if name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
        raise ZipRefusal("nested_archive", name)
    if aes_strength is not None and compress_size < AES_SALT[aes_strength] + AES_OVERHEAD_AFTER_SALT:
        raise ZipRefusal("bad_structure", name)
    if real_method == METHOD_STORED:
        overhead = AES_SALT[aes_strength] + AES_OVERHEAD_AFTER_SALT if aes_strength else 0
        if compress_size - overhead != file_size:
            raise ZipRefusal("bad_structure", name)
    if file_size > limits.max_entry_size:
        raise ZipRefusal("entry_too_large", name, size=file_size, limit=limits.max_entry_size)
    if file_size > limits.ratio_min_size and file_size > limits.max_ratio * max(compress_size, 1):
        raise ZipRefusal("ratio", name, limit=limits.max_ratio)


def inspect_zip(data: bytes, limits: ZipLimits = DEFAULT_LIMITS) -> ZipLayout:
    """Check the archive's structure against ``limits``; return its entries or raise ZipRefusal."""
    size = len(data)
    count, cd_offset, eocd = _end_record(data, limits)
    entries: list[ZipEntry] = []
    seen: set[str] = set()
    total = 0
    pos = cd_offset
    for index in range(count):
        if pos + CD_SIZE > eocd or data[pos : pos + 4] != CD_SIG:
            raise ZipRefusal("bad_structure")
        (
            _sig, _made_by_ver, create_system, _need_ver, flags, method, _time, _date, crc,
            compress_size, file_size, name_len, extra_len, comment_len, _disk_start, _int_attr,
            external_attr, header_offset,
        ) = struct.unpack_from("<4sBBHHHHHIIIHHHHHII", data, pos)
        name_start = pos + CD_SIZE
        extra_start = name_start + name_len
        next_pos = extra_start + extra_len + comment_len
        if next_pos > eocd:
            raise ZipRefusal("bad_structure")
        raw_name = data[name_start:extra_start]
        try:
            name = raw_name.decode("utf-8" if flags & FLAG_UTF8 else "cp437")
        except UnicodeDecodeError:
            raise ZipRefusal("bad_name", raw_name.decode("utf-8", errors="replace")) from None
        fields = _parse_extra(data[extra_start : extra_start + extra_len], name)
        pos = next_pos

        check_name(name, raw_name, limits)
        key = _name_key(name)
        if key in seen:
            raise ZipRefusal("duplicate", name)
        seen.add(key)

        if EXTRA_ZIP64 in fields or 0xFFFFFFFF in (compress_size, file_size, header_offset):
            raise ZipRefusal("zip64", name)
        if flags & (FLAG_PATCHED | FLAG_STRONG | FLAG_CD_MASKED):
            raise ZipRefusal("bad_method", name)

        mode, kind = _check_mode(name, external_attr)
        aes = _aes_fields(fields, name)
        aes_version, aes_strength, real_method = _real_method(name, method, flags, aes)

        is_dir = name.endswith("/")
        if is_dir:
            # 7-Zip writes empty plain directory entries; pyzipper encrypts (and deflates) them.
            if file_size or compress_size > 64 or (mode and kind == stat.S_IFREG):
                raise ZipRefusal("bad_structure", name)
        else:
            _check_file(name, flags, method, real_method, aes_strength, compress_size, file_size, limits)
            total += file_size
            if total > limits.max_total_size:
                raise ZipRefusal("total_too_large", name, size=total, limit=limits.max_total_size)

        data_offset, end_offset = _check_local_header(
            data, name, raw_name, header_offset, flags, method, crc, compress_size, file_size, aes, cd_offset
        )
        entries.append(
            ZipEntry(
                index=index, name=name, raw_name=raw_name, flags=flags, method=method,
                real_method=real_method, aes_version=aes_version, aes_strength=aes_strength, crc=crc,
                compress_size=compress_size, file_size=file_size, header_offset=header_offset,
                data_offset=data_offset, end_offset=end_offset, create_system=create_system,
                external_attr=external_attr,
            )
        )
    if pos != eocd:
        raise ZipRefusal("bad_structure")  # the directory holds more than the end record counts

    ordered = sorted(entries, key=lambda e: e.header_offset)
    for before, after in zip(ordered, ordered[1:]):
        if before.end_offset > after.header_offset:
            raise ZipRefusal("overlap", after.name)
    return ZipLayout(entries=tuple(entries), cd_offset=cd_offset, size=size)


def _check_local_header(
    data: bytes, name: str, raw_name: bytes, offset: int, flags: int, method: int, crc: int,
    compress_size: int, file_size: int, aes: tuple[int, int, int] | None, cd_offset: int,
) -> tuple[int, int]:
    """Compare the local header with the central directory; return (data start, data end)."""
    if offset + LFH_SIZE > cd_offset or data[offset : offset + 4] != LFH_SIG:
        raise ZipRefusal("bad_structure", name)
    (_sig, _ver, l_flags, l_method, _time, _date, l_crc, l_csize, l_usize, name_len, extra_len) = struct.unpack_from(
        "<4sHHHHHIIIHH", data, offset
    )
    name_start = offset + LFH_SIZE
    data_offset = name_start + name_len + extra_len
    if data_offset > cd_offset:
        raise ZipRefusal("bad_structure", name)
    if data[name_start : name_start + name_len] != raw_name:
        raise ZipRefusal("header_mismatch", name)
    mask = FLAG_ENCRYPTED | FLAG_DATA_DESCRIPTOR | FLAG_UTF8 | FLAG_STRONG
    if (l_flags & mask) != (flags & mask) or l_method != method:
        raise ZipRefusal("header_mismatch", name)
    l_fields = _parse_extra(data[name_start + name_len : data_offset], name)
    if EXTRA_ZIP64 in l_fields:
        raise ZipRefusal("zip64", name)
    if _aes_fields(l_fields, name) != aes:
        raise ZipRefusal("header_mismatch", name)  # e.g. another real method in the local copy
    if not flags & FLAG_DATA_DESCRIPTOR and (l_crc, l_csize, l_usize) != (crc, compress_size, file_size):
        raise ZipRefusal("header_mismatch", name)
    end = data_offset + compress_size
    if flags & FLAG_DATA_DESCRIPTOR:
        end += 16 if data[end : end + 4] == DD_SIG else 12
    if end > cd_offset:
        raise ZipRefusal("size_beyond_file", name)  # forged compress_size (cpython #151307 style)
    return data_offset, end
