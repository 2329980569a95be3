"""The sandbox's test certificates: chains verify, SANs and usages are right, keys are private."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from iplos_tui.sandbox import certs


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.make_ca()


def test_ca_is_self_signed_ca(ca: certs.Issued) -> None:
    assert ca.cert.subject == ca.cert.issuer
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.cert.verify_directly_issued_by(ca.cert)
    now = dt.datetime.now(dt.timezone.utc)
    assert ca.cert.not_valid_before_utc < now < ca.cert.not_valid_after_utc
    assert ca.cert.not_valid_after_utc - now > dt.timedelta(days=360)


def test_tls_server_cert(ca: certs.Issued, tmp_path) -> None:
    server = certs.issue_tls_server(ca, ["localhost"], ["127.0.0.1", "::1"])
    server.cert.verify_directly_issued_by(ca.cert)
    san = server.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    eku = server.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    # The Python ssl module accepts the pair, and a client trusting the CA loads it.
    server.write(tmp_path / "server.pem", tmp_path / "server.key")
    ca.write(tmp_path / "ca.pem")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    assert client.cert_store_stats()["x509_ca"] == 1


def test_write_modes_and_no_leftovers(ca: certs.Issued, tmp_path) -> None:
    leaf = certs.issue_recipient(ca, "SSB test")
    leaf.write(tmp_path / "c.pem", tmp_path / "k.pem")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (tmp_path / "c.pem").read_bytes() == leaf.cert_pem()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pem", "k.pem"]
    leaf.write(tmp_path / "only-cert.pem")
    assert not (tmp_path / "only-cert.key").exists()


def test_recipient_rsa_key_usage_and_cache(ca: certs.Issued) -> None:
    ssb = certs.issue_recipient(ca, "SSB test")
    ssb2 = certs.issue_recipient(ca, "SSB test")
    tpf = certs.issue_recipient(ca, "TPF test")
    assert isinstance(ssb.key, rsa.RSAPrivateKey) and ssb.key.key_size == 2048
    usage = ssb.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment
    ssb.cert.verify_directly_issued_by(ca.cert)
    # Same name -> cached key; another name -> another key; fresh_key -> new key.
    assert ssb.key.private_numbers() == ssb2.key.private_numbers()
    assert ssb.key.private_numbers() != tpf.key.private_numbers()
    renewed = certs.issue_recipient(ca, "SSB test", fresh_key=True)
    assert renewed.key.private_numbers() != ssb.key.private_numbers()
    assert ssb.cert.serial_number != ssb2.cert.serial_number


def test_recipient_ec_and_small_rsa_for_refusal_tests(ca: certs.Issued) -> None:
    leaf = certs.issue_recipient(ca, "EC", key_type="ec")
    assert isinstance(leaf.key, ec.EllipticCurvePrivateKey)
    assert leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_agreement
    small = certs.issue_recipient(ca, "small", key_size=1024)
    assert small.key.key_size == 1024


def test_validity_window_is_honoured(ca: certs.Issued) -> None:
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    expired = certs.issue_recipient(ca, "old", not_before=start, not_after=end)
    assert expired.cert.not_valid_before_utc == start
    assert expired.cert.not_valid_after_utc == end


def test_bad_key_type(ca: certs.Issued) -> None:
    with pytest.raises(ValueError):
        certs.issue_recipient(ca, "x", key_type="dsa")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
def test_openssl_verifies_chain(ca: certs.Issued, tmp_path) -> None:
    ca.write(tmp_path / "ca.pem")
    certs.issue_tls_server(ca, ["localhost"], ["127.0.0.1"]).write(tmp_path / "srv.pem")
    certs.issue_recipient(ca, "SSB test").write(tmp_path / "ssb.pem")
    for leaf in ("srv.pem", "ssb.pem"):
        out = subprocess.run(
            ["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / leaf)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
