"""The feedback zip reader: interop (7-Zip, pyzipper AE-1/AE-2) and every refusal, I24–I35, F19."""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import sys
import zlib
from pathlib import Path

import pyzipper
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zipcraft import (
    FEEDBACK_NAME,
    FEILLISTE,
    KONTROLL,
    PIN,
    RawEntry,
    aes_extra,
    aes_zip,
    cd_entries,
    data_offset,
    patch_aes_method,
    patch_cd,
    patch_lfh,
    plain_zip,
    raw_zip,
    seven_zip,
    seven_zip_archive,
)

from iplos_tui.core.feedback import (
    FeedbackError,
    FeedbackFileError,
    NameRefusal,
    WrongPinOrDamaged,
    ZipLimits,
    ZipRefusal,
    inspect_zip,
    open_feedback,
)
from iplos_tui.core.i18n import set_language
from iplos_tui.core.secrets import Secret

FILES = {"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": KONTROLL}
OPEN_POLICY = ZipLimits(require_aes256=False)


def opened(data: bytes, pin: object = PIN, **kw):
    """Open ``data`` from a file in a fresh directory; afterwards that directory holds only it."""
    kw.setdefault("check_name", False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FEEDBACK_NAME
        path.write_bytes(data)
        try:
            return open_feedback(path, pin, **kw)
        finally:
            assert os.listdir(folder) == [FEEDBACK_NAME]  # nothing extracted, nothing half-written


def refused(data: bytes, reason: str, pin: object = PIN, **kw) -> ZipRefusal:
    with pytest.raises(ZipRefusal) as info:
        opened(data, pin, **kw)
    assert info.value.reason == reason, info.value
    return info.value


def test_snapshot_of_the_tree_is_untouched(tmp_path):
    """Reading never writes: a directory holding only the zip holds only the zip afterwards."""
    path = tmp_path / FEEDBACK_NAME
    path.write_bytes(aes_zip(FILES))
    before = sorted(os.listdir(tmp_path))
    archive = open_feedback(path, Secret(PIN), kommunenr="0403", bydel="00")
    assert [e.name for e in archive.entries] == list(FILES)
    with pytest.raises(WrongPinOrDamaged):
        open_feedback(path, "wrong-pin", kommunenr="0403", bydel="00")
    assert sorted(os.listdir(tmp_path)) == before


# ---- interop ----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", [1, 2], ids=["AE-1", "AE-2"])
@pytest.mark.parametrize("compression", [pyzipper.ZIP_STORED, pyzipper.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_pyzipper_zips_open_byte_identical(version, compression):
    data = aes_zip(FILES, version=version, compression=compression)
    layout = inspect_zip(data)
    assert {e.aes_version for e in layout.files} == {version}
    assert {e.real_method for e in layout.files} == {compression}
    archive = opened(data, Secret(PIN))
    assert {e.name: e.data for e in archive.entries} == FILES


@pytest.mark.skipif(seven_zip() is None, reason="7z is not installed (p7zip-full); interop with 7-Zip not tested")
@pytest.mark.parametrize("level", [0, 5], ids=["stored", "deflated"])
def test_7zip_zips_open_byte_identical(tmp_path, level):
    big = KONTROLL * 20  # large enough that 7-Zip deflates it
    files = {"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": big, "tom.csv": b""}
    data = seven_zip_archive(tmp_path, files, level=level)
    layout = inspect_zip(data)
    assert {e.aes_strength for e in layout.files} == {3}
    if level == 0:
        assert {e.real_method for e in layout.files} == {0}
    else:
        assert 8 in {e.real_method for e in layout.files}
    archive = opened(data)
    assert {e.name: e.data for e in archive.entries} == files


@pytest.mark.skipif(seven_zip() is None, reason="7z is not installed (p7zip-full)")
def test_7zip_reads_what_pyzipper_wrote(tmp_path):
    """The other direction: a peer accepts the format our fixtures (and the sandbox) write."""
    path = tmp_path / "x.zip"
    path.write_bytes(aes_zip(FILES))
    out = subprocess.run([seven_zip(), "t", f"-p{PIN}", str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout[-500:]


def test_unicode_and_directory_entries():
    data = aes_zip([("mappe/", b""), ("mappe/feil æøå.csv", FEILLISTE)])
    archive = opened(data)
    assert [e.name for e in archive.entries] == ["mappe/feil æøå.csv"]


# ---- names (I24) and the profile check ----------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "/etc/x", "C:\\x", "..\\x", "a/../../b", "./x", "a//b", "C:x", "x\\y"])
def test_traversal_names_are_refused_not_rewritten(name):
    refused(aes_zip({name: b"1;2\n"}), "bad_name")


def test_nul_in_name_is_refused():
    data = raw_zip([RawEntry("a\0b.csv", b"\0" * 40, extra=aes_extra(0), usize=12)])
    refused(data, "bad_name")


@pytest.mark.parametrize(
    "name,kommunenr,bydel,reason",
    [
        ("030100_iplos_tilbakemelding_20170207.zip", "0403", "00", "name_kommune"),
        ("040301_iplos_tilbakemelding_20170207.zip", "0403", "00", "name_bydel"),
        ("feedback.zip", "0403", "00", "name_unknown"),
        ("040300_iplos_tilbakemelding_20171345.zip", "0403", "00", "name_unknown"),
    ],
)
def test_file_name_must_match_profile(tmp_path, name, kommunenr, bydel, reason):
    path = tmp_path / name
    path.write_bytes(aes_zip(FILES))
    with pytest.raises(NameRefusal) as info:
        open_feedback(path, PIN, kommunenr=kommunenr, bydel=bydel)
    assert info.value.reason == reason


def test_name_parts_and_loose_test_name(tmp_path):
    for name, date in ((FEEDBACK_NAME, "2017-02-07"), ("040300_iplos_test.zip", None)):
        path = tmp_path / name
        path.write_bytes(aes_zip(FILES))
        archive = open_feedback(path, PIN, kommunenr="0403", bydel="00")
        assert (archive.info.kommunenr, archive.info.bydel, archive.info.iso_date) == ("0403", "00", date)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "missing"])
def test_only_regular_files_are_read(tmp_path, kind):
    path = tmp_path / FEEDBACK_NAME
    if kind == "symlink":
        (tmp_path / "real.zip").write_bytes(aes_zip(FILES))
        path.symlink_to(tmp_path / "real.zip")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(FeedbackFileError):
        open_feedback(path, PIN, kommunenr="0403", bydel="00")


# ---- duplicates, overlaps, symlinks (I25, I26, I34) --------------------------------------------

def test_duplicate_names_are_refused():
    with pytest.warns(UserWarning):
        data = aes_zip([("feilliste.csv", b"a"), ("feilliste.csv", b"b")])
    refused(data, "duplicate")


def test_case_folded_duplicates_are_refused():
    refused(aes_zip([("Feilliste.csv", b"a"), ("feilliste.CSV", b"b")]), "duplicate")


def test_overlapping_entries_are_refused():
    data = aes_zip(FILES)
    first = cd_entries(data)
    grow = 40
    csize = struct.unpack_from("<I", data, first[0] + 20)[0] + grow
    data = patch_lfh(patch_cd(data, 0, csize=csize), 0, csize=csize)
    refused(data, "overlap")


def test_quoted_overlap_bomb_is_refused_before_decompression():
    """bamsoftware-style: entry A's data contains entry B's local header and data."""
    inner = aes_zip({"b.csv": b"x" * 1000})
    b_entry = inner[: cd_entries(inner)[0]]  # B's local header + data, as pyzipper wrote it
    a_name = "a.csv"
    a_data = b"\0" * 18 + b_entry + b"\0" * 10
    a = RawEntry(a_name, a_data, extra=aes_extra(8), usize=5000)
    b_offset = 30 + len(a_name) + len(a.extra) + 18
    b_csize, b_usize = struct.unpack_from("<II", b_entry, 18)
    b = RawEntry("b.csv", b"", extra=aes_extra(8), offset=b_offset, write_local=False)
    data = bytearray(raw_zip([a, b]))
    cd_b = cd_entries(bytes(data))[1]
    struct.pack_into("<II", data, cd_b + 20, b_csize, b_usize)
    # B's local header inside A carries pyzipper's flags/time; make the central copy agree
    struct.pack_into("<H", data, cd_b + 8, struct.unpack_from("<H", b_entry, 6)[0])
    refused(bytes(data), "overlap", pin="wrong")  # a wrong PIN: nothing was decrypted


@pytest.mark.parametrize("mode", [0o120777, 0o020644, 0o010644], ids=["symlink", "chardev", "fifo"])
def test_special_entries_are_refused(mode):
    data = aes_zip({"feilliste.csv": FEILLISTE}, external_attr=mode << 16)
    assert refused(data, "symlink" if mode == 0o120777 else "special_file").entry == "feilliste.csv"


# ---- bombs and sizes (I27, I28, I35) -----------------------------------------------------------

def test_ratio_bomb_is_refused_before_decrypting():
    zeros = aes_zip({"nuller.csv": b"\0" * (50 * 1024 * 1024)})
    assert len(zeros) < 200_000
    refused(zeros, "ratio", pin="wrong")


def test_entry_and_total_size_caps():
    data = aes_zip(FILES)
    refused(data, "entry_too_large", limits=ZipLimits(max_entry_size=1000))
    refused(data, "total_too_large", limits=ZipLimits(max_total_size=len(KONTROLL) + 10))
    refused(data, "zip_too_large", limits=ZipLimits(max_zip_bytes=1000))


def test_understated_size_stops_at_the_declared_bytes():
    """Headers claim 100 bytes for a 150 KB entry: reading stops there; the HMAC then fails."""
    data = aes_zip({"kontrolltabeller.csv": KONTROLL})
    data = patch_lfh(patch_cd(data, 0, usize=100), 0, usize=100)
    with pytest.raises(WrongPinOrDamaged):
        opened(data)


def test_100000_entries_are_refused_quickly():
    entries = [RawEntry(f"{i}.csv", b"", method=0, flags=0, extra=b"") for i in range(100_000)]
    data = raw_zip(entries)  # the 16-bit count wraps: 100000 & 0xFFFF = 34464
    refused(data, "too_many_entries")


def test_100000_entries_zip64_from_stdlib_is_refused_quickly():
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(100_000):
            archive.writestr(f"{i}", b"")
    refused(buffer.getvalue(), "zip64")


def test_forged_huge_compress_size_is_refused():
    data = aes_zip({"feilliste.csv": FEILLISTE})
    data = patch_lfh(patch_cd(data, 0, csize=0x7FFF0000), 0, csize=0x7FFF0000)
    refused(data, "size_beyond_file")


def test_forged_compress_size_in_central_directory_only():
    data = aes_zip({"feilliste.csv": FEILLISTE})
    refused(patch_cd(data, 0, csize=0x7FFF0000), "header_mismatch")


# ---- methods and encryption policy (I29, I30) ---------------------------------------------------

def test_unencrypted_entries_are_refused_by_policy():
    data = plain_zip(FILES)
    refused(data, "not_encrypted")
    archive = opened(data, limits=OPEN_POLICY)  # the policy switch exists for other formats
    assert archive.entry("feilliste.csv").data == FEILLISTE


def test_zipcrypto_is_refused():
    data = plain_zip({"feilliste.csv": FEILLISTE})
    data = patch_lfh(patch_cd(data, 0, flags=0x0001), 0, flags=0x0001)
    refused(data, "not_aes")
    refused(data, "not_aes", limits=OPEN_POLICY)


@pytest.mark.skipif(seven_zip() is None, reason="7z is not installed (p7zip-full)")
def test_zipcrypto_from_7zip_is_refused(tmp_path):
    refused(seven_zip_archive(tmp_path, {"feilliste.csv": FEILLISTE}, method="ZipCrypto"), "not_aes")


@pytest.mark.parametrize("nbits", [128, 192])
def test_short_aes_keys_are_refused(nbits):
    refused(aes_zip(FILES, nbits=nbits), "not_aes256")


@pytest.mark.parametrize("compression", [pyzipper.ZIP_LZMA, pyzipper.ZIP_BZIP2], ids=["lzma", "bzip2"])
def test_other_real_methods_in_aes_field_are_refused(compression):
    refused(aes_zip({"feilliste.csv": FEILLISTE}, compression=compression), "bad_method", pin="wrong")


def test_unknown_method_in_both_aes_fields_is_refused():
    refused(patch_aes_method(aes_zip(FILES), 77), "bad_method")


def test_method_swapped_only_in_local_aes_field_is_refused():
    """Kohno: the AES extra field is not authenticated; the local copy must agree."""
    refused(patch_aes_method(aes_zip(FILES), 0, central=False), "header_mismatch")


def test_plain_method_outside_allowlist_is_refused():
    data = plain_zip({"a.csv": b"1;2\n"}, compression=zlib.DEFLATED)
    data = patch_lfh(patch_cd(data, 0, method=12), 0, method=12)
    refused(data, "bad_method", limits=OPEN_POLICY)


def test_nested_archive_is_refused():
    refused(aes_zip({"inner.zip": b"PK\x05\x06" + b"\0" * 18}), "nested_archive")


# ---- PIN and damage (I31, I32, I33, F19) --------------------------------------------------------

def test_wrong_pin_one_message_in_both_languages():
    with pytest.raises(WrongPinOrDamaged) as info:
        opened(aes_zip(FILES), Secret("feil-pin"))
    assert "feil passord eller skadet fil" in info.value.message().lower()
    assert info.value.kind == "auth"
    set_language("en")
    try:
        assert "wrong password or damaged file" in info.value.message().lower()
    finally:
        set_language("nb")


def test_wrong_pin_that_passes_the_two_byte_check_is_the_same_error():
    """1 in 65536 wrong PINs pass the check value; then the HMAC fails (BadZipFile)."""
    from Cryptodome.Protocol.KDF import PBKDF2

    data = bytearray(aes_zip({"feilliste.csv": FEILLISTE}))
    start = data_offset(bytes(data), 0)
    salt = bytes(data[start : start + 16])
    check = PBKDF2(b"wrong-pin", salt, count=1000, dkLen=66)[64:]
    data[start + 16 : start + 18] = check
    with pytest.raises(WrongPinOrDamaged):
        opened(bytes(data), "wrong-pin")


def test_flipped_ciphertext_byte_fails_hmac_and_leaves_nothing(tmp_path):
    data = bytearray(aes_zip(FILES, version=2))
    start = data_offset(bytes(data), 1)
    data[start + 100] ^= 0x01
    path = tmp_path / FEEDBACK_NAME
    path.write_bytes(bytes(data))
    with pytest.raises(WrongPinOrDamaged) as info:
        open_feedback(path, PIN, kommunenr="0403", bydel="00")
    assert info.value.entry == "kontrolltabeller.csv"  # F19: the operator learns which entry
    assert os.listdir(tmp_path) == [FEEDBACK_NAME]


def test_ae1_crc_mismatch_is_damage():
    data = aes_zip({"feilliste.csv": FEILLISTE}, version=1)
    crc = struct.unpack_from("<I", data, cd_entries(data)[0] + 16)[0] ^ 1
    with pytest.raises(WrongPinOrDamaged):
        opened(patch_lfh(patch_cd(data, 0, crc=crc), 0, crc=crc))


@pytest.mark.parametrize(
    "mangle,reason",
    [
        (lambda d: d[: len(d) // 2], "not_zip"),
        (lambda d: b"garbage" * 100, "not_zip"),
        (lambda d: b"", "not_zip"),
        (lambda d: d[: d.rfind(b"PK\x01\x02")] + d[d.rfind(b"PK\x05\x06") :], "bad_structure"),
        (lambda d: d + b"trailing", "bad_structure"),
        (lambda d: d[:-22] + b"PK\x06\x07" + b"\0" * 16 + d[-22:], "zip64"),
    ],
    ids=["truncated", "garbage", "empty", "no-central-directory", "trailing-bytes", "zip64-locator-garbage"],
)
def test_damaged_structures_give_a_clear_error(mangle, reason):
    refused(mangle(aes_zip(FILES)), reason)


def test_inconsistent_zip64_end_record_is_refused():
    data = bytearray(aes_zip(FILES))
    eocd = data.rfind(b"PK\x05\x06")
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0xDEADBEEF, 1)
    data[eocd:eocd] = locator
    struct.pack_into("<I", data, eocd + 20 + 16, 0xFFFFFFFF)  # cd offset says "see ZIP64"
    refused(bytes(data), "zip64")


def test_entry_count_disagreeing_with_directory_is_refused():
    data = bytearray(aes_zip(FILES))
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 1, 1)
    refused(bytes(data), "bad_structure")


def test_name_differs_between_local_header_and_directory():
    data = bytearray(aes_zip({"feilliste.csv": FEILLISTE}))
    pos = data.find(b"feilliste.csv")  # the local header's copy comes first
    data[pos] = ord("g")
    refused(bytes(data), "header_mismatch")


def test_errors_carry_no_chained_pyzipper_traceback():
    with pytest.raises(WrongPinOrDamaged) as info:
        opened(aes_zip(FILES), "wrong")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ---- properties -------------------------------------------------------------------------------

_VALID = aes_zip({"feilliste.csv": FEILLISTE, "k.csv": KONTROLL[:3000]}, version=1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_mutated_zips_open_identically_or_fail_cleanly(flips):
    data = bytearray(_VALID)
    for pos, xor in flips:
        data[pos] ^= xor
    try:
        archive = opened(bytes(data))
    except FeedbackError:
        return
    # whatever survived must still be the authentic content
    assert {e.name: e.data for e in archive.entries} == {"feilliste.csv": FEILLISTE, "k.csv": KONTROLL[:3000]}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(_VALID)))
def test_truncations_fail_cleanly(cut):
    if cut == len(_VALID):
        return
    with pytest.raises(FeedbackError):
        opened(_VALID[:cut])


def test_import_does_not_load_pyzipper():
    code = "import sys, iplos_tui.core.feedback as f; print('pyzipper' in sys.modules, 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_reading_stops_at_the_cap_whatever_the_headers_say():
    data = aes_zip({"kontrolltabeller.csv": KONTROLL})
    data = patch_lfh(patch_cd(data, 0, usize=100), 0, usize=100)
    assert len(KONTROLL) > 2000
    err = refused(data, "entry_too_large", limits=ZipLimits(max_entry_size=1000))
    assert err.details["size"] <= 1000 + 64 * 1024
