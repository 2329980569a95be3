"""Recipient certificates: strict loading (I15), description, and the refusals of I13/I14."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization

from iplos_tui.core import keys
from iplos_tui.core.i18n import set_language
from iplos_tui.sandbox import certs

UTC = dt.timezone.utc
YEAR = 2025
# Inside the 2025 window's year, before sending: mid-December 2025.
NOW = dt.datetime(2025, 12, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def english():
    set_language("en")
    yield
    set_language("nb")


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca()


def _cert(ca, **kw):
    kw.setdefault("not_before", dt.datetime(2025, 11, 20, tzinfo=UTC))
    kw.setdefault("not_after", dt.datetime(2026, 12, 31, tzinfo=UTC))
    return certs.issue_recipient(ca, kw.pop("cn", "SSB IPLOS 2025"), **kw)


@pytest.fixture(scope="module")
def good(ca) -> certs.Issued:
    return _cert(ca)


# --- loading ---------------------------------------------------------------------------------


def test_pem_and_der_load_the_same_certificate(good, tmp_path):
    (tmp_path / "c.pem").write_bytes(good.cert_pem())
    (tmp_path / "c.der").write_bytes(good.cert_der())
    (tmp_path / "crlf.pem").write_bytes(b"subject=explanatory text\r\n" + good.cert_pem().replace(b"\n", b"\r\n"))
    for name in ("c.pem", "c.der", "crlf.pem"):
        assert keys.load_certificate(tmp_path / name) == good.cert


@pytest.mark.parametrize(
    "mutate, key, fragment",
    [
        (lambda g: g.cert_pem() + b"\x00", "pem_nul", "NUL byte"),
        (lambda g: g.cert_pem() + g.cert_pem(), "several_certs", "2 certificates"),
        (lambda g: g.cert_der() + b"\x00", "der_trailing", "extra bytes"),
        (lambda g: b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "pem_invalid", "cannot be read"),
        (lambda g: b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "pem_invalid", "cannot be read"),
        (lambda g: g.cert_pem()[:-30], "pem_unterminated", "without an end"),
        (lambda g: b"hello world\n", "pem_no_block", "without any"),
        (lambda g: b"", "empty", "empty"),
        (lambda g: b"\xff\xfe\x00garbage", "not_certificate", "neither"),
        (lambda g: b"\x30\x03\x02\x01\x01", "der_invalid", "cannot be read"),
        (lambda g: g.cert_pem().replace(b"\n", b"\n\x1b[31m", 1), "pem_binary", "binary byte"),
        (
            lambda g: g.key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "bare_public_key",
            "certificate (with issuer and validity) is needed",
        ),
        (
            lambda g: g.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "bare_public_key",
            "certificate (with issuer and validity) is needed",
        ),
        (
            lambda g: g.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
            "bare_public_key",
            "certificate (with issuer and validity) is needed",
        ),
        (lambda g: g.key_pem(), "private_key", "private key"),
        (lambda g: g.cert_pem() + g.key_pem(), "private_key", "private key"),
        (
            lambda g: g.key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "private_key",
            "private key",
        ),
    ],
    ids=[
        "trailing-nul",
        "two-certs",
        "der-trailing-nul",
        "pem-garbage-base64",
        "pem-bad-base64",
        "pem-truncated",
        "text-without-block",
        "empty",
        "binary-garbage",
        "der-garbage",
        "pem-escape",
        "pem-public-key",
        "der-public-key",
        "pem-rsa-public-key",
        "private-key",
        "cert-plus-key",
        "der-private-key",
    ],
)
def test_refused_files_give_clear_errors(good, tmp_path, mutate, key, fragment):
    path = tmp_path / "cert\x1b[2J.pem"
    path.write_bytes(mutate(good))
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(path)
    assert info.value.key == key
    message = str(info.value)
    assert fragment in message
    assert "\x1b" not in message  # the hostile file name is shown with placeholders


def test_not_a_regular_file_never_blocks(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(fifo)
    assert info.value.key == "not_regular_file"
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(tmp_path)
    assert info.value.key == "not_regular_file"
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(tmp_path / "missing.pem")
    assert info.value.key == "file_missing"


def test_oversized_file_refused(tmp_path):
    big = tmp_path / "big.pem"
    big.write_bytes(b"A" * (keys.MAX_CERT_FILE + 1))
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(big)
    assert info.value.key == "file_too_large"


def test_message_language_follows_setting(good, tmp_path):
    path = tmp_path / "c.pem"
    path.write_bytes(good.cert_pem() * 2)
    with pytest.raises(keys.CertificateError) as info:
        keys.load_certificate(path)
    set_language("nb")
    assert "sertifikater" in str(info.value)


# --- describing ------------------------------------------------------------------------------


def test_describe(good):
    info = keys.describe(good.cert)
    assert info.key_type == "RSA" and info.key_size == 2048
    assert "CN=SSB IPLOS 2025" in info.subject
    assert "CN=iplos-tui test CA" in info.issuer
    assert info.sha256 == hashlib.sha256(good.cert_der()).hexdigest()
    spki = good.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert info.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert int(info.serial, 16) == good.cert.serial_number
    data = info.to_dict()
    assert data["not_after"].startswith("2026-12-31")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
def test_fingerprint_matches_openssl(good, tmp_path):
    path = tmp_path / "c.pem"
    path.write_bytes(good.cert_pem())
    out = subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().split("=", 1)[1] == keys.format_fingerprint(keys.cert_sha256(good.cert))


def test_describe_ec(ca):
    info = keys.describe(certs.issue_recipient(ca, "ec", key_type="ec").cert)
    assert (info.key_type, info.key_size, info.key_detail) == ("EC", 256, "secp256r1")


# --- checking for encryption -----------------------------------------------------------------


def codes(problems):
    return [p.code for p in problems]


def test_good_certificate_passes(good):
    assert keys.check_for_encryption(good.cert, YEAR, now=NOW) == []
    # The pin may be the certificate's or the SPKI's hash, in any usual spelling.
    for pin in (
        keys.cert_sha256(good.cert),
        keys.format_fingerprint(keys.cert_sha256(good.cert)),
        "sha256:" + keys.spki_sha256(good.cert).upper(),
    ):
        assert keys.check_for_encryption(good.cert, YEAR, expected_fingerprint=pin, now=NOW) == []


def test_fingerprint_mismatch(good):
    problems = keys.check_for_encryption(good.cert, YEAR, expected_fingerprint="ab" * 32, now=NOW)
    assert codes(problems) == ["fingerprint"]
    assert keys.format_fingerprint(keys.cert_sha256(good.cert)) in problems[0].message


def test_expired_with_clock_hint(ca):
    old = _cert(ca, cn="old", not_before=dt.datetime(2024, 11, 1, tzinfo=UTC), not_after=dt.datetime(2025, 2, 1, tzinfo=UTC))
    problems = keys.check_for_encryption(old.cert, YEAR, now=NOW)
    assert codes(problems) == ["expired", "window"]
    assert "2025-02-01 00:00:00 UTC" in problems[0].message
    assert "2025-12-10 12:00:00 UTC" in problems[0].message
    assert "clock" in problems[0].message


def test_not_yet_valid_with_clock_hint(good):
    early = dt.datetime(2025, 11, 1, tzinfo=UTC)
    problems = keys.check_for_encryption(good.cert, YEAR, now=early)
    assert codes(problems) == ["not_yet_valid"]
    assert "2025-11-20 00:00:00 UTC" in problems[0].message and "2025-11-01" in problems[0].message


@pytest.mark.parametrize(
    "not_after, ok",
    [
        (dt.datetime(2026, 1, 15, 22, 59, tzinfo=UTC), False),  # ends 15 Jan 23:59 Oslo: a minute short
        (dt.datetime(2026, 1, 15, 23, 0, tzinfo=UTC), True),  # exactly the end of 15 January, Oslo
        (dt.datetime(2026, 1, 10, tzinfo=UTC), False),
    ],
)
def test_window_end(ca, not_after, ok):
    cert = _cert(ca, cn="w", not_after=not_after).cert
    assert (keys.check_for_encryption(cert, YEAR, now=NOW) == []) is ok


def test_window_start(ca):
    late = _cert(ca, cn="late", not_before=dt.datetime(2026, 1, 3, tzinfo=UTC)).cert
    problems = keys.check_for_encryption(late, YEAR, now=dt.datetime(2026, 1, 4, tzinfo=UTC))
    assert codes(problems) == ["window"]
    assert "2026-01-02 – 2026-01-15" in problems[0].message
    # Last year's certificate does not cover this year's window.
    assert codes(keys.check_for_encryption(late, YEAR + 1, now=dt.datetime(2026, 1, 4, tzinfo=UTC))) == ["window"]


def test_wrong_key_type_and_size(ca):
    ec_cert = _cert(ca, cn="ec", key_type="ec").cert
    assert codes(keys.check_for_encryption(ec_cert, YEAR, now=NOW)) == ["key_type"]
    small = _cert(ca, cn="small", key_size=1024).cert
    problems = keys.check_for_encryption(small, YEAR, now=NOW)
    assert codes(problems) == ["key_size"]
    assert "1024" in problems[0].message


def test_key_usage_without_key_encipherment(ca):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    leaf = _cert(ca, cn="signer")
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.cert.subject)
        .issuer_name(ca.cert.subject)
        .public_key(leaf.key.public_key())
        .serial_number(1)
        .not_valid_before(leaf.cert.not_valid_before_utc)
        .not_valid_after(leaf.cert.not_valid_after_utc)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    )
    cert = builder.sign(ca.key, hashes.SHA256())
    assert codes(keys.check_for_encryption(cert, YEAR, now=NOW)) == ["key_usage"]


def test_submission_window_is_oslo_time():
    start, end = keys.submission_window(2025)
    assert start == dt.datetime(2026, 1, 1, 23, 0, tzinfo=UTC)
    assert end == dt.datetime(2026, 1, 15, 23, 0, tzinfo=UTC)
