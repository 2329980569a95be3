"""The envelope: round trips, recipient separation, refusals (I11, I13, I14), kill and disk faults (F10, F11)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs7

from iplos_tui.core import envelope
from iplos_tui.core.envelope import EnvelopeError, EnvelopeParams
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.extract.importer import open_extract
from iplos_tui.core.extract.model import Header, Person
from iplos_tui.core.extract.uttrekk_v1 import UttrekkV1Importer, write_footer, write_header, write_person
from iplos_tui.core.i18n import set_language
from iplos_tui.sandbox import certs

UTC = dt.timezone.utc
YEAR = 2017
# Valid from before the 2018 window until a year from now: fits both the window and the clock.
NOT_BEFORE = dt.datetime(2017, 11, 1, tzinfo=UTC)
PARAMS = EnvelopeParams(kommunenr="0403", bydel="00", year=YEAR, contact_email="iplos@hamar.example", contact_mobile="40000000")


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("nb")


@pytest.fixture(scope="module")
def ca():
    return certs.make_ca()


@pytest.fixture(scope="module")
def ssb(ca):
    return certs.issue_recipient(ca, "SSB IPLOS test", not_before=NOT_BEFORE)


@pytest.fixture(scope="module")
def tpf(ca):
    return certs.issue_recipient(ca, "TPF IPLOS test", not_before=NOT_BEFORE)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    base = tmp_path_factory.mktemp("extracts")
    small = base / "small.xml"
    generate_file(small, persons=300, seed=1, kommunenr="0403", year=YEAR)
    return {"small": small}


@pytest.fixture
def secure(tmp_path):
    directory = tmp_path / "secure"
    directory.mkdir(mode=0o700)
    return directory


def records_of(path: Path) -> list:
    with open_extract(path) as opened:
        return list(opened.records())


def records_from_bytes(data: bytes) -> list:
    return list(UttrekkV1Importer().iter_records(io.BytesIO(data)))


def expected_content(records: list) -> bytes:
    out = io.BytesIO()
    for record in records:
        if isinstance(record, Header):
            write_header(out, record)
        else:
            write_person(out, record, include_person_id=False)
    write_footer(out)
    return out.getvalue()


def decrypt(path: Path, issued: certs.Issued) -> bytes:
    return pkcs7.pkcs7_decrypt_der(path.read_bytes(), issued.cert, issued.key, [])


def run(extract, out, ssb, tpf, **kw):
    kw.setdefault("params", PARAMS)
    return envelope.encrypt_extract(extract, out, ssb.cert, tpf.cert, **kw)


def assert_nothing_left(secure: Path, out: Path) -> None:
    assert not out.exists()
    leftovers = [p.name for p in secure.iterdir() if p.name.startswith(".iplos-tmp")]
    assert leftovers == []


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("part_size, min_parts", [(envelope.DEFAULT_PART_SIZE, 1), (4096, 10)], ids=["one-part", "many-parts"])
def test_round_trip(extracts, secure, ssb, tpf, part_size, min_parts):
    extract = extracts["small"]
    out = secure / "envelope"
    seen = []
    result = run(extract, out, ssb, tpf, part_size=part_size, progress=seen.append)
    manifest = result.manifest
    parts = manifest.content_parts
    assert (len(parts) == 1) if min_parts == 1 else (len(parts) >= min_parts)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "identity.p7m", *(p.file for p in parts)]
    )
    for entry in out.iterdir():
        assert entry.stat().st_mode & 0o777 == 0o600
    assert out.stat().st_mode & 0o777 == 0o700

    # The extract's hash, for the journal.
    assert result.extract_sha256 == hashlib.sha256(extract.read_bytes()).hexdigest()
    assert result.extract_size == extract.stat().st_size

    # Content: concatenated, it is the extract without person ids; each part at most part_size.
    original = records_of(extract)
    pieces = [decrypt(out / p.file, ssb) for p in parts]
    for piece, info in zip(pieces, parts):
        assert len(piece) == info.plaintext_size <= part_size
        assert hashlib.sha256(piece).hexdigest() == info.plaintext_sha256
        assert info.recipient == "ssb"
    content = b"".join(pieces)
    assert content == expected_content(original)
    assert hashlib.sha256(content).hexdigest() == manifest.content_plaintext_sha256
    if len(parts) > 1:  # cut at record boundaries
        for piece in pieces[1:]:
            assert piece.startswith(b"  <Person ") or piece == b"</Extract>\n"

    # Identity + content give back every record of the original.
    identity = decrypt(out / "identity.p7m", tpf)
    assert hashlib.sha256(identity).hexdigest() == manifest.identity_part.plaintext_sha256
    rows = list(csv.reader(io.StringIO(identity.decode("utf-8")), delimiter=";"))
    assert rows[0] == ["local_id", "person_id"]
    table = dict(rows[1:])
    rebuilt = records_from_bytes(content)
    assert [type(r) for r in rebuilt] == [type(r) for r in original]
    for got, want in zip(rebuilt[1:], original[1:]):
        assert got.person_id is None
        got.person_id = table[got.local_id]
        got.line = want.line = 0
        for child in (*got.scores, *got.services, *got.refusals, *want.scores, *want.services, *want.refusals):
            child.line = 0
        assert got == want

    # Manifest on disk equals the result and the files.
    on_disk = envelope.load_manifest(out)
    assert on_disk == manifest
    assert envelope.verify_envelope(out) == []
    assert manifest.persons == len(original) - 1
    assert [s.phase for s in seen][-1] == "done"
    assert seen[-1].fraction == 1.0


def test_recipients_are_separate(extracts, secure, ssb, tpf):
    out = secure / "env"
    result = run(extracts["small"], out, ssb, tpf, part_size=8192)
    fnrs = [p.person_id.encode() for p in records_of(extracts["small"])[1:]]
    local_ids = [p.local_id for p in records_of(extracts["small"])[1:]]
    # SSB's parts hold no fnr: not the persons', and no 11-digit run at all.
    for part in result.manifest.content_parts:
        plain = decrypt(out / part.file, ssb)
        assert not any(f in plain for f in fnrs)
        digits = "".join(c if c.isdigit() else " " for c in plain.decode())
        assert all(len(run_) != 11 for run_ in digits.split())
        with pytest.raises(ValueError):
            decrypt(out / part.file, tpf)  # TPF cannot read the content
    # The identity part holds nothing but the header, ids and fnr.
    identity = decrypt(out / "identity.p7m", tpf)
    expected = "local_id;person_id\n" + "".join(
        f"{lid};{fnr.decode()}\n" for lid, fnr in zip(local_ids, fnrs)
    )
    assert identity.decode("utf-8") == expected
    with pytest.raises(ValueError):
        decrypt(out / "identity.p7m", ssb)  # SSB cannot read the identity
    # The manifest holds no fnr and no local id.
    manifest_bytes = (out / "manifest.json").read_bytes()
    assert not any(f in manifest_bytes for f in fnrs)
    assert not any(lid.encode() in manifest_bytes for lid in local_ids)
    data = json.loads(manifest_bytes)
    assert data["certificates"]["ssb"]["sha256"] == ssb.fingerprint_sha256()
    assert data["certificates"]["tpf"]["sha256"] == tpf.fingerprint_sha256()
    assert data["contact"] == {"email": "iplos@hamar.example", "mobile": "40000000"}
    assert (data["kommunenr"], data["bydel"], data["year"]) == ("0403", "00", YEAR)


def test_verify_detects_tampering(extracts, secure, ssb, tpf):
    out = secure / "env"
    run(extracts["small"], out, ssb, tpf, part_size=8192)
    target = out / "content-0002.p7m"
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    (out / "content-0003.p7m").unlink()
    problems = envelope.verify_envelope(out)
    assert len(problems) == 2
    assert "content-0002.p7m" in problems[0] and "content-0003.p7m" in problems[1]


def test_record_hook_sees_every_record(extracts, secure, ssb, tpf):
    seen = []
    run(extracts["small"], secure / "env", ssb, tpf, on_record=seen.append)
    assert isinstance(seen[0], Header) and len(seen) == 301


def test_header_values_fill_in_for_an_empty_profile(extracts, secure, ssb, tpf):
    result = run(extracts["small"], secure / "env", ssb, tpf, params=EnvelopeParams())
    m = result.manifest
    assert (m.kommunenr, m.bydel, m.year) == ("0403", "00", YEAR)
    assert m.contact_email == "iplos-0403@sandbox.example"


def test_empty_existing_out_dir_is_used(extracts, secure, ssb, tpf):
    out = secure / "env"
    out.mkdir()
    run(extracts["small"], out, ssb, tpf)
    assert (out / "manifest.json").exists()


# --- refusals --------------------------------------------------------------------------------


def _refused(extracts, secure, ssb_cert, tpf_cert, key, **kw):
    out = secure / "env"
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(extracts["small"], out, ssb_cert, tpf_cert, **{"params": PARAMS, **kw})
    assert info.value.key == key, str(info.value)
    assert_nothing_left(secure, out)
    return info.value


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda ca: certs.issue_recipient(ca, "exp", not_before=NOT_BEFORE, not_after=dt.datetime(2020, 1, 1, tzinfo=UTC)), "expired"),
        (lambda ca: certs.issue_recipient(ca, "future", not_before=dt.datetime.now(UTC) + dt.timedelta(days=3)), "not_yet_valid"),
        (lambda ca: certs.issue_recipient(ca, "window"), "window"),
        (lambda ca: certs.issue_recipient(ca, "ec", not_before=NOT_BEFORE, key_type="ec"), "key_type"),
        (lambda ca: certs.issue_recipient(ca, "small", not_before=NOT_BEFORE, key_size=1024), "key_size"),
    ],
    ids=["expired", "not-yet-valid", "window", "ec-key", "rsa-1024"],
)
def test_certificate_refused(extracts, secure, ca, ssb, tpf, make, code):
    bad = make(ca)
    error = _refused(extracts, secure, bad.cert, tpf.cert, "cert_refused")
    assert code in [p.code for p in error.problems]
    assert "SSB" in str(error)
    # The same certificate as TPF's is refused too.
    error = _refused(extracts, secure, ssb.cert, bad.cert, "cert_refused")
    assert code in [p.code for p in error.problems]
    assert "TPF" in str(error)


def test_fingerprint_pin(extracts, secure, ssb, tpf):
    params = EnvelopeParams(year=YEAR, ssb_fingerprint="00" * 32)
    error = _refused(extracts, secure, ssb.cert, tpf.cert, "cert_refused", params=params)
    assert [p.code for p in error.problems] == ["fingerprint"]
    ok = EnvelopeParams(year=YEAR, ssb_fingerprint=ssb.fingerprint_sha256(), tpf_fingerprint=tpf.fingerprint_sha256().upper())
    run(extracts["small"], secure / "env", ssb, tpf, params=ok)


def test_same_key_for_both_recipients(extracts, secure, ca, ssb):
    twin = certs.issue_recipient(ca, "TPF twin", not_before=NOT_BEFORE, key_id="SSB IPLOS test")
    _refused(extracts, secure, ssb.cert, twin.cert, "same_key")


def test_year_from_header_is_checked_against_certificates(extracts, secure, ca, tpf):
    window = certs.issue_recipient(ca, "window2")  # valid from yesterday: misses the 2018 window
    error = _refused(extracts, secure, window.cert, tpf.cert, "cert_refused", params=EnvelopeParams())
    assert [p.code for p in error.problems] == ["window"]


@pytest.mark.parametrize(
    "params, field",
    [
        (EnvelopeParams(kommunenr="0301", year=YEAR), "kommunenr"),
        (EnvelopeParams(bydel="01", year=YEAR), "bydel"),
        (EnvelopeParams(year=2018), "year"),
    ],
)
def test_header_must_match_profile(extracts, secure, ca, params, field):
    # Certificates valid for both 2017 and 2018 windows.
    s = certs.issue_recipient(ca, "SSB IPLOS test", not_before=NOT_BEFORE)
    t_ = certs.issue_recipient(ca, "TPF IPLOS test", not_before=NOT_BEFORE)
    error = _refused(extracts, secure, s.cert, t_.cert, "header_mismatch", params=params)
    assert field in str(error)


def test_out_dir_not_empty(extracts, secure, ssb, tpf):
    out = secure / "env"
    out.mkdir()
    (out / "old").write_text("x")
    with pytest.raises(EnvelopeError) as info:
        run(extracts["small"], out, ssb, tpf)
    assert info.value.key == "out_not_empty"
    assert [p.name for p in out.iterdir()] == ["old"]


@pytest.mark.parametrize("size", [100, envelope.MAX_PART_SIZE + 1])
def test_part_size_bounds(extracts, secure, ssb, tpf, size):
    _refused(extracts, secure, ssb.cert, tpf.cert, "part_size", part_size=size)


def _write_extract(path: Path, persons: list[Person], year: str = str(YEAR)) -> None:
    out = io.BytesIO()
    write_header(out, Header(kommunenr="0403", bydel="00", year=year))
    for person in persons:
        write_person(out, person)
    write_footer(out)
    path.write_bytes(out.getvalue())


def _second_person_line(path: Path) -> int:
    lines = path.read_text().splitlines()
    return [i for i, text in enumerate(lines, 1) if "<Person" in text][1]


def test_fnr_as_local_id_is_refused(secure, ssb, tpf, tmp_path):
    from iplos_tui.core.extract.generator import synthetic_person_id

    fnr = synthetic_person_id(5)
    bad = tmp_path / "bad.xml"
    _write_extract(bad, [Person(local_id="A1", person_id=synthetic_person_id(1)), Person(local_id=fnr, person_id=fnr)])
    out = secure / "env"
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(bad, out, ssb.cert, tpf.cert, PARAMS)
    assert info.value.key == "fnr_in_content"
    assert fnr not in str(info.value)
    line = _second_person_line(bad)
    assert f"line {line}" in str(info.value)
    assert_nothing_left(secure, out)
    # Another person's fnr used as local id is caught by the content scan.
    _write_extract(bad, [Person(local_id="A1", person_id=synthetic_person_id(1)), Person(local_id=fnr, person_id=synthetic_person_id(2))])
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(bad, out, ssb.cert, tpf.cert, PARAMS)
    assert info.value.key == "fnr_in_content"
    assert f"line {line}" in str(info.value)


def test_duplicate_and_missing_local_id(secure, ssb, tpf, tmp_path):
    from iplos_tui.core.extract.generator import synthetic_person_id

    bad = tmp_path / "dup.xml"
    _write_extract(bad, [Person(local_id="A1", person_id=synthetic_person_id(1)), Person(local_id="A1", person_id=synthetic_person_id(2))])
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(bad, secure / "env", ssb.cert, tpf.cert, PARAMS)
    assert info.value.key == "duplicate_local_id"
    _write_extract(bad, [Person(local_id=None, person_id=synthetic_person_id(1))])
    with pytest.raises(EnvelopeError) as info:
        envelope.encrypt_extract(bad, secure / "env", ssb.cert, tpf.cert, PARAMS)
    assert info.value.key == "no_local_id"
    assert_nothing_left(secure, secure / "env")


def test_broken_extract_leaves_nothing(secure, ssb, tpf, tmp_path, extracts):
    from iplos_tui.core.extract.importer import ExtractError

    truncated = tmp_path / "t.xml"
    truncated.write_bytes(extracts["small"].read_bytes()[:-5000])
    with pytest.raises(ExtractError):
        envelope.encrypt_extract(truncated, secure / "env", ssb.cert, tpf.cert, PARAMS, part_size=4096)
    assert_nothing_left(secure, secure / "env")


# --- the extract changing, cancel ------------------------------------------------------------


@pytest.mark.parametrize("how", ["append", "same-size-same-mtime", "replace"])
def test_extract_changed_during_run_aborts(extracts, secure, ssb, tpf, tmp_path, how):
    extract = tmp_path / "x.xml"
    extract.write_bytes(extracts["small"].read_bytes())
    st = extract.stat()
    done = []

    def meddle(progress):
        if progress.phase == "part" and not done:
            done.append(1)
            if how == "append":
                with open(extract, "ab") as handle:
                    handle.write(b"<!-- more -->\n")
            elif how == "same-size-same-mtime":
                with open(extract, "r+b") as handle:  # flip a byte early in the file, keep size and mtime
                    handle.seek(200)
                    byte = handle.read(1)
                    handle.seek(200)
                    handle.write(b"X" if byte != b"X" else b"Y")
                os.utime(extract, ns=(st.st_atime_ns, st.st_mtime_ns))
            else:
                fresh = tmp_path / "new.xml"
                fresh.write_bytes(extract.read_bytes())
                os.replace(fresh, extract)

    with pytest.raises(EnvelopeError) as info:
        run(extract, secure / "env", ssb, tpf, part_size=4096, progress=meddle)
    assert info.value.key == "extract_changed"
    assert_nothing_left(secure, secure / "env")


def test_expected_hash_from_validation(extracts, secure, ssb, tpf):
    with pytest.raises(EnvelopeError) as info:
        run(extracts["small"], secure / "env", ssb, tpf, expected_sha256="ab" * 32)
    assert info.value.key == "extract_not_validated"
    assert_nothing_left(secure, secure / "env")
    good = hashlib.sha256(extracts["small"].read_bytes()).hexdigest()
    run(extracts["small"], secure / "env", ssb, tpf, expected_sha256=good.upper())


def test_cancel(extracts, secure, ssb, tpf):
    cancel = threading.Event()

    def stop(progress):
        if progress.phase == "part":
            cancel.set()

    from iplos_tui.core.errors import Cancelled

    with pytest.raises(Cancelled):
        run(extracts["small"], secure / "env", ssb, tpf, part_size=4096, progress=stop, cancel=cancel)
    assert_nothing_left(secure, secure / "env")


# --- kill and disk faults (subprocess) -------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time, datetime as dt
    from pathlib import Path
    from cryptography import x509
    from iplos_tui.core import envelope
    extract, out, ssb, tpf, marker, mode = sys.argv[1:7]
    def progress(p):
        if p.phase == "part" and p.parts == 3:
            Path(marker).write_text("mid")
            if mode == "kill":
                time.sleep(60)
    if mode == "fsize":
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))
    try:
        envelope.encrypt_extract(extract, out, Path(ssb), Path(tpf),
            envelope.EnvelopeParams(year=2017), part_size=4096, progress=progress)
    except envelope.EnvelopeError as exc:
        print(exc.key, str(exc), flush=True)
        sys.exit(7)
    """
)


def _child(extracts, secure, ssb, tpf, tmp_path, mode):
    ssb.write(tmp_path / "ssb.pem")
    tpf.write(tmp_path / "tpf.pem")
    marker = tmp_path / "marker"
    args = [sys.executable, "-c", CHILD, str(extracts["small"]), str(secure / "env"), str(tmp_path / "ssb.pem"), str(tmp_path / "tpf.pem"), str(marker), mode]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), marker


def test_sigkill_mid_run_leaves_no_partial_output(extracts, secure, ssb, tpf, tmp_path):
    proc, marker = _child(extracts, secure, ssb, tpf, tmp_path, "kill")
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # No envelope appeared; only the hidden staging directory, holding ciphertext only.
    assert not (secure / "env").exists()
    staging = [p for p in secure.iterdir() if p.name.startswith(".iplos-tmp-envelope-")]
    assert len(staging) == 1
    fnrs = [p.person_id.encode() for p in records_of(extracts["small"])[1:]]
    leftovers = list(staging[0].iterdir())
    assert leftovers and all(p.name.startswith(("content-", ".iplos-tmp-")) for p in leftovers)
    for path in leftovers:
        data = path.read_bytes()
        assert not any(f in data for f in fnrs) and b"<Person" not in data
    # The next run removes the stale staging directory and succeeds.
    result = run(extracts["small"], secure / "env", ssb, tpf, part_size=4096)
    assert envelope.verify_envelope(result.out_dir) == []
    assert [p.name for p in secure.iterdir()] == ["env"]


def test_file_size_limit_during_write_is_a_clean_error(extracts, secure, ssb, tpf, tmp_path):
    proc, _ = _child(extracts, secure, ssb, tpf, tmp_path, "fsize")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 7, stderr
    assert stdout.startswith("io_failed"), stdout
    assert_nothing_left(secure, secure / "env")


def test_memory_is_bounded_by_the_part_size_not_the_file(extracts, secure, ssb, tpf, tmp_path):
    """Python-side peak while encrypting a 4x larger extract grows by far less than the file."""
    import tracemalloc

    big = tmp_path / "big.xml"
    generate_file(big, persons=4000, seed=5, kommunenr="0403", year=YEAR)
    small = extracts["small"]
    run(small, secure / "warm-up", ssb, tpf, part_size=65536)  # lazy imports happen here, not below
    peaks = {}
    for name, path in (("small", small), ("big", big)):
        tracemalloc.start(1)
        run(path, secure / f"env-{name}", ssb, tpf, part_size=65536)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    grown = peaks["big"] - peaks["small"]
    file_grown = big.stat().st_size - small.stat().st_size
    # 3700 more persons: the identity table (~30 B) and the duplicate check (12 B, and a sorted
    # list of hashes at the end, ~40 B) per person; the content itself is never held whole.
    assert grown < 3700 * 150 + 256 * 1024, (peaks, file_grown)
    assert grown < file_grown / 4


def test_identity_table_quotes_awkward_local_ids(secure, ssb, tpf, tmp_path):
    from iplos_tui.core.extract.generator import synthetic_person_id

    odd = ['A;1', 'B"2', "C\n3", "Ø-4"]
    path = tmp_path / "odd.xml"
    _write_extract(path, [Person(local_id=lid, person_id=synthetic_person_id(i)) for i, lid in enumerate(odd)])
    result = envelope.encrypt_extract(path, secure / "env", ssb.cert, tpf.cert, PARAMS)
    identity = decrypt(result.out_dir / "identity.p7m", tpf).decode("utf-8")
    rows = list(csv.reader(io.StringIO(identity), delimiter=";"))
    assert rows == [["local_id", "person_id"], *([lid, synthetic_person_id(i)] for i, lid in enumerate(odd))]
