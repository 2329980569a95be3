"""Test certificates made on the fly: a CA, TLS server certificates and encryption recipients.

Nothing here is ever a real key: tests and the sandbox make theirs at run time. RSA key
generation is slow (≈ 50–200 ms for 2048 bits), so generated RSA keys are cached per process in
``_RSA_KEYS``, keyed by size and a key id (the common name unless given). Two recipients with
different names therefore get different keys, and the same name gets the same key; pass
``fresh_key=True`` for a new key (a renewed certificate) or ``key_id=`` to share one on purpose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from iplos_tui.core.fsutil import atomic_write_bytes

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey]

_RSA_KEYS: dict[tuple[int, str], rsa.RSAPrivateKey] = {}
_RSA_LOCK = threading.Lock()


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def fingerprint_sha256(self) -> str:
        """SHA-256 of the certificate's DER, lower-case hex without separators."""
        return hashlib.sha256(self.cert_der()).hexdigest()

    def write(self, cert_path: Path | str, key_path: Path | str | None = None) -> None:
        """Write the certificate (0644) and, if ``key_path`` is given, the key (0600), atomically."""
        atomic_write_bytes(Path(cert_path), self.cert_pem(), mode=0o644)
        if key_path is not None:
            atomic_write_bytes(Path(key_path), self.key_pem(), mode=0o600)


def rsa_key(key_size: int = 2048, key_id: str = "default", *, fresh: bool = False) -> rsa.RSAPrivateKey:
    """An RSA key from the per-process cache (generated on first use)."""
    if fresh:
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    with _RSA_LOCK:
        key = _RSA_KEYS.get((key_size, key_id))
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
            _RSA_KEYS[(key_size, key_id)] = key
        return key


def _new_key(key_type: str, key_size: int, key_id: str, fresh: bool) -> PrivateKey:
    if key_type == "rsa":
        return rsa_key(key_size, key_id, fresh=fresh)
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key_type {key_type!r}; use 'rsa' or 'ec'")


def _validity(not_before: dt.datetime | None, not_after: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    start = not_before if not_before is not None else now - dt.timedelta(days=1)
    end = not_after if not_after is not None else now + dt.timedelta(days=365)
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=dt.timezone.utc)
    return start, end


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NO"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iplos-tui sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def _sign(builder: x509.CertificateBuilder, signer: PrivateKey) -> x509.Certificate:
    return builder.sign(signer, hashes.SHA256())


def make_ca(
    common_name: str = "iplos-tui test CA",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_type: str = "ec",
) -> Issued:
    """A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign)."""
    key = _new_key(key_type, 2048, f"ca:{common_name}", fresh=False)
    start, end = _validity(not_before, not_after)
    name = _name(common_name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True, digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return Issued(_sign(builder, key), key)


def _leaf_builder(ca: Issued, common_name: str, key: PrivateKey, start: dt.datetime, end: dt.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )


def issue_tls_server(
    ca: Issued,
    hostnames: list[str],
    ip_addresses: list[str] | tuple[str, ...] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A TLS server certificate (EC P-256) with DNS and IP SANs and extendedKeyUsage serverAuth."""
    key = ec.generate_private_key(ec.SECP256R1())
    start, end = _validity(not_before, not_after)
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if not sans:
        raise ValueError("a TLS server certificate needs at least one hostname or IP address")
    common_name = hostnames[0] if hostnames else str(ip_addresses[0])
    builder = (
        _leaf_builder(ca, common_name, key, start, end)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    return Issued(_sign(builder, ca.key), key)


def issue_recipient(
    ca: Issued,
    common_name: str,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    key_type: str = "rsa",
    key_size: int = 2048,
    *,
    key_id: str | None = None,
    fresh_key: bool = False,
) -> Issued:
    """An encryption recipient certificate (SSB or TPF): keyEncipherment (keyAgreement for EC).

    ``key_type="ec"`` and small ``key_size`` exist for the refusal tests.
    """
    key = _new_key(key_type, key_size, key_id or common_name, fresh_key)
    start, end = _validity(not_before, not_after)
    if key_type == "rsa":
        usage = _key_usage(key_encipherment=True, data_encipherment=True)
    else:
        usage = _key_usage(key_agreement=True)
    builder = _leaf_builder(ca, common_name, key, start, end).add_extension(usage, critical=True)
    return Issued(_sign(builder, ca.key), key)
