"""TLS trust for every client: an explicit SSLContext that never reads the environment.

``ssl.create_default_context()`` loads ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when they are set
(reliability-security.md F15), so the system store is loaded here from OpenSSL's compiled-in
paths instead. There is no switch that turns verification off.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
from pathlib import Path


def system_trust_paths() -> tuple[str | None, str | None]:
    """OpenSSL's built-in CA file and directory (not the ``SSL_CERT_*`` overrides)."""
    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if paths.openssl_capath and os.path.isdir(paths.openssl_capath) else None
    return cafile, capath


def trust_source(ca_bundle: Path | None) -> str:
    """Where trust comes from, for evidence lines: the bundle's path or the system store's."""
    if ca_bundle:
        return str(ca_bundle)
    cafile, capath = system_trust_paths()
    return cafile or capath or "certifi"


def make_ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: hostname check, TLS 1.2 or newer, trust from ``ca_bundle`` or
    the system store. Raises ``OSError``/``ssl.SSLError`` when the bundle cannot be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_bundle:
        context.load_verify_locations(cafile=str(ca_bundle))
        return context
    cafile, capath = system_trust_paths()
    if cafile or capath:
        context.load_verify_locations(cafile=cafile, capath=capath)
    else:  # no system store at all (a minimal container): certifi ships with httpx
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    return context


def diagnostic_context() -> ssl.SSLContext:
    """Fetches a peer's certificate to *describe* it after verification failed; nothing is ever
    sent over a connection made with it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_HEX64 = re.compile(r"[0-9a-f]{64}")


def normalise_pin(pin: str) -> str | None:
    """An SPKI SHA-256 pin as lower-case hex; accepts hex (with ``:``), base64, ``sha256//...``
    (curl) and ``sha256:...``. None when it is neither."""
    text = pin.strip()
    for prefix in ("sha256//", "sha256:", "sha256/", "sha256="):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    compact = re.sub(r"[\s:]", "", text).lower()
    if _HEX64.fullmatch(compact):
        return compact
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def spki_sha256_of_der(cert_der: bytes) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo of a DER certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_der_x509_certificate(cert_der)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def pin_base64(hex_digest: str) -> str:
    """The curl spelling of a pin: ``sha256//<base64>``."""
    return "sha256//" + base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
