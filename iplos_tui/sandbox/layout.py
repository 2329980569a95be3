"""The sandbox directory: everything the sandbox knows lives under one directory.

Deleting the directory resets the sandbox. Made on first use::

    DIR/ca.pem                       the sandbox CA (trust anchor for both servers)
    DIR/keys/                        0700: private keys (CA, TLS server, SSB, TPF), TPF's secret
    DIR/tls-server.pem               the TLS server certificate (127.0.0.1, ::1, localhost)
    DIR/recipients/ssb.pem, tpf.pem  the recipients' certificates a client encrypts to
    DIR/account.json                 the sandbox municipality (never the PIN)
    DIR/pin                          0600: the account's PIN (= the feedback zip's password)
    DIR/gateway-password             0600: the feedback gateway password of the postmottak user
    DIR/clock.json                   the sandbox clock
    DIR/sendemodul/                  stored submissions, receipts, counters
    DIR/ssb/                         SSB's and TPF's processing: pending mails and feedback
    DIR/gateway/                     the feedback gateway's files
    DIR/mail/                        the mails SSB and the gateway "sent" (.eml)
    DIR/secure/                      the sandbox profile's secure directory (extract, envelopes)
    DIR/config.toml                  a ready profile pointing at the running servers
    DIR/accounts/, profiles/, fleet/ more municipalities (``--accounts N``, sandbox/accounts.py)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir
from iplos_tui.core.secrets import Secret

if TYPE_CHECKING:
    from iplos_tui.sandbox.certs import Issued

APP_NAME = "iplos-tui"
PIN_ALPHABET = string.ascii_letters + string.digits
RECIPIENT_NOT_BEFORE = dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)  # "fetched after 1 December"
# The Sendemodul's name in the sandbox: the sandbox's DNS server answers it with 127.0.0.1 (a .test
# name, RFC 6761: never a real host). The sandbox profile also sets the connect address, so no
# client ever asks the machine's own resolver for it.
SENDEMODUL_NAME = "iplos.sandbox.test"
TLS_NAMES = ["localhost", SENDEMODUL_NAME]
TLS_ADDRESSES = ["127.0.0.1", "::1"]


def default_dir() -> Path:
    """``<platformdirs user data>/iplos-tui/sandbox``."""
    import platformdirs

    return platformdirs.user_data_path(APP_NAME) / "sandbox"


@dataclass(frozen=True)
class Account:
    """The one sandbox municipality: the login's kommunenr + bydel + orgnr (+ PIN, kept apart)."""

    kommunenr: str = "0403"
    bydel: str = "00"
    orgnr: str = ""
    name: str = "Hamar kommune (sandkasse)"
    year: int = 2017
    contact_email: str = "iplos-0403@sandbox.example"
    contact_mobile: str = "+47 400 00 000"
    postmottak: str = "postmottak-0403@sandbox.example"

    @property
    def code(self) -> str:
        """``KKKKBB``, as in the feedback zip's name."""
        return f"{self.kommunenr}{self.bydel}"

    def public(self) -> dict[str, str]:
        return {"kommunenr": self.kommunenr, "bydel": self.bydel, "orgnr": self.orgnr, "name": self.name}

    @classmethod
    def default(cls) -> Account:
        from iplos_tui.core.extract.generator import municipality_orgnr

        return cls(orgnr=municipality_orgnr("0403"))


def make_pin(length: int = 10) -> str:
    """A random PIN with at least one letter and one digit (also fine as a zip password)."""
    while True:
        pin = "".join(secrets.choice(PIN_ALPHABET) for _ in range(length))
        if any(c.isdigit() for c in pin) and any(c.isalpha() for c in pin):
            return pin


def _read_secret_file(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


class SandboxDir:
    """Paths and first-run setup of one sandbox directory."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_dir()
        self.root = Path(os.path.abspath(self.root))

    # -- paths ------------------------------------------------------------------------------
    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def ca_bundle(self) -> Path:
        return self.root / "ca.pem"

    @property
    def tls_cert(self) -> Path:
        return self.root / "tls-server.pem"

    @property
    def tls_key(self) -> Path:
        return self.keys / "tls-server.key"

    @property
    def ssb_cert(self) -> Path:
        return self.root / "recipients" / "ssb.pem"

    @property
    def tpf_cert(self) -> Path:
        return self.root / "recipients" / "tpf.pem"

    @property
    def ssb_key(self) -> Path:
        return self.keys / "ssb.key"

    @property
    def tpf_key(self) -> Path:
        return self.keys / "tpf.key"

    @property
    def tpf_secret(self) -> Path:
        return self.keys / "tpf-pseudonym.secret"

    @property
    def pin_file(self) -> Path:
        return self.root / "pin"

    @property
    def gateway_password_file(self) -> Path:
        return self.root / "gateway-password"

    @property
    def account_file(self) -> Path:
        return self.root / "account.json"

    @property
    def clock_file(self) -> Path:
        return self.root / "clock.json"

    @property
    def sendemodul_dir(self) -> Path:
        return self.root / "sendemodul"

    @property
    def ssb_dir(self) -> Path:
        return self.root / "ssb"

    @property
    def gateway_dir(self) -> Path:
        return self.root / "gateway"

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def secure_dir(self) -> Path:
        return self.root / "secure"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    # -- setup ------------------------------------------------------------------------------
    def ensure(self) -> SandboxDir:
        """Create whatever is missing (certificates, keys, account, PIN); keep what exists."""
        ensure_private_dir(self.root)
        for directory in (self.keys, self.root / "recipients", self.sendemodul_dir, self.ssb_dir,
                          self.gateway_dir, self.mail_dir, self.secure_dir):
            ensure_private_dir(directory)
        self._ensure_certificates()
        if not self.account_file.exists():
            account = Account.default()
            atomic_write_bytes(self.account_file, (json.dumps(asdict(account), indent=2) + "\n").encode("utf-8"))
        if not self.pin_file.exists():
            atomic_write_bytes(self.pin_file, (make_pin() + "\n").encode("ascii"), mode=0o600)
        if not self.gateway_password_file.exists():
            atomic_write_bytes(self.gateway_password_file, (make_pin(12) + "\n").encode("ascii"), mode=0o600)
        if not self.tpf_secret.exists():
            atomic_write_bytes(self.tpf_secret, secrets.token_bytes(32), mode=0o600)
        return self

    def _ensure_certificates(self) -> None:
        needed = (self.ca_bundle, self.keys / "ca.key", self.tls_cert, self.tls_key,
                  self.ssb_cert, self.ssb_key, self.tpf_cert, self.tpf_key)
        names_file = self.keys / "tls-names.txt"
        names = "\n".join(TLS_NAMES) + "\n"
        if not (names_file.exists() and names_file.read_text(encoding="utf-8") == names):
            self.tls_cert.unlink(missing_ok=True)  # made for other names (an older sandbox): make it anew
        if all(path.exists() for path in needed) and not self._aging():
            return  # nothing to make: no need to load cryptography
        from cryptography.hazmat.primitives import serialization

        from iplos_tui.sandbox.certs import Issued, issue_recipient, issue_tls_server, make_ca

        ca_key_path = self.keys / "ca.key"
        if self.ca_bundle.exists() and ca_key_path.exists():
            from cryptography import x509

            ca = Issued(
                x509.load_pem_x509_certificate(self.ca_bundle.read_bytes()),
                serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None),  # type: ignore[arg-type]
            )
        else:
            ca = make_ca("iplos-tui sandbox CA", not_before=RECIPIENT_NOT_BEFORE,
                         not_after=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650))
            ca.write(self.ca_bundle, ca_key_path)
            for stale in (self.tls_cert, self.ssb_cert, self.tpf_cert):
                stale.unlink(missing_ok=True)
        if self._aging():  # an old sandbox directory: renew before the certificates expire
            for stale in (self.tls_cert, self.ssb_cert, self.tpf_cert):
                stale.unlink(missing_ok=True)
        if not (self.tls_cert.exists() and self.tls_key.exists()):
            issue_tls_server(ca, TLS_NAMES, TLS_ADDRESSES).write(self.tls_cert, self.tls_key)
            atomic_write_bytes(names_file, names.encode("utf-8"), mode=0o644)
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3 * 365)
        for role, cert_path, key_path in (("SSB", self.ssb_cert, self.ssb_key), ("TPF", self.tpf_cert, self.tpf_key)):
            if not (cert_path.exists() and key_path.exists()):
                issued: Issued = issue_recipient(
                    ca, f"{role} IPLOS 2017 (sandkasse)", not_before=RECIPIENT_NOT_BEFORE, not_after=later
                )
                issued.write(cert_path, key_path)

    def _aging(self) -> bool:
        """The TLS certificate (valid 365 days) is over 300 days old."""
        import time

        try:
            return time.time() - self.tls_cert.stat().st_mtime > 300 * 86400
        except FileNotFoundError:
            return False

    # -- reading ----------------------------------------------------------------------------
    def account(self) -> Account:
        data = json.loads(self.account_file.read_text(encoding="utf-8"))
        known = {name for name in Account.__dataclass_fields__}
        return Account(**{k: v for k, v in data.items() if k in known})

    def pin(self) -> Secret:
        return Secret(_read_secret_file(self.pin_file))

    def gateway_password(self) -> Secret:
        return Secret(_read_secret_file(self.gateway_password_file))

    def tpf_secret_bytes(self) -> bytes:
        return self.tpf_secret.read_bytes()

    def load_certificate(self, path: Path):
        from cryptography import x509

        return x509.load_pem_x509_certificate(path.read_bytes())
