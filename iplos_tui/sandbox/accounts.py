"""Many municipalities in one sandbox (``iplos sandbox serve --accounts 30``), so that an IT
service's whole fleet round runs on one machine (docs/fleet.md).

The sandbox's own municipality (``DIR/account.json``, ``DIR/pin``) stays the first account. Every
further one has a directory of its own::

    DIR/accounts/<KKKKBB>/account.json      the municipality (never its PIN)
    DIR/accounts/<KKKKBB>/pin               0600: its PIN (= its feedback zip's password)
    DIR/accounts/<KKKKBB>/gateway-password  0600: its postmottak user's gateway password
    DIR/fleet/<id>/                         the secure directory of its client profile
    DIR/profiles/<id>.toml                  its client profile, beside DIR/config.toml

The Sendemodul logs each in with its own PIN (and counts wrong PINs per municipality), SSB makes
each one's feedback zip with its own PIN and puts it in its own gateway folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir
from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.layout import Account, SandboxDir, make_pin

ACCOUNTS_DIR = "accounts"
FLEET_SECURE_DIR = "fleet"
MAX_ACCOUNTS = 100


@dataclass(frozen=True)
class Member:
    account: Account
    pin: Secret
    gateway_password: Secret


def _account_dir(sdir: SandboxDir, code: str) -> Path:
    return sdir.root / ACCOUNTS_DIR / code


def fleet_secure_dir(sdir: SandboxDir, account: Account) -> Path:
    from iplos_tui.core.profiles import profile_id

    return sdir.root / FLEET_SECURE_DIR / profile_id(account.kommunenr, account.bydel)


def _kommunenrs(year: int, own: str) -> list[str]:
    from iplos_tui.core import refdata

    return [k for k in sorted(refdata.kommuner(year)) if k != own]


def ensure_accounts(sdir: SandboxDir, count: int) -> None:
    """``count`` accounts in all (the sandbox's own one included); existing ones are kept."""
    from iplos_tui.core.extract.generator import municipality_orgnr

    if not 1 <= count <= MAX_ACCOUNTS:
        raise ValueError(f"1..{MAX_ACCOUNTS} accounts")
    own = sdir.account()
    have = len(_extra_codes(sdir))
    for kommunenr in _kommunenrs(own.year, own.kommunenr):
        if have >= count - 1:
            break
        account = Account(
            kommunenr=kommunenr, bydel="00", orgnr=municipality_orgnr(kommunenr), name=f"{kommunenr} (sandkasse)",
            year=own.year, contact_email=f"iplos-{kommunenr}@sandbox.example",
            postmottak=f"postmottak-{kommunenr}@sandbox.example",
        )
        directory = _account_dir(sdir, account.code)
        if (directory / "account.json").exists():
            continue
        ensure_private_dir(directory)
        atomic_write_bytes(directory / "pin", (make_pin() + "\n").encode("ascii"), mode=0o600)
        atomic_write_bytes(directory / "gateway-password", (make_pin(12) + "\n").encode("ascii"), mode=0o600)
        atomic_write_bytes(directory / "account.json", (json.dumps(asdict(account), indent=2) + "\n").encode("utf-8"))
        have += 1


def _extra_codes(sdir: SandboxDir) -> list[str]:
    root = sdir.root / ACCOUNTS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "account.json").is_file())


class AccountBook:
    """Every account of a sandbox directory, the sandbox's own one first."""

    def __init__(self, sdir: SandboxDir) -> None:
        self.own = Member(sdir.account(), sdir.pin(), sdir.gateway_password())
        self._members: dict[tuple[str, str], Member] = {(self.own.account.kommunenr, self.own.account.bydel): self.own}
        known = set(Account.__dataclass_fields__)
        for code in _extra_codes(sdir):
            directory = _account_dir(sdir, code)
            data = json.loads((directory / "account.json").read_text(encoding="utf-8"))
            account = Account(**{k: v for k, v in data.items() if k in known})
            pin = Secret((directory / "pin").read_text(encoding="utf-8").strip())
            password = Secret((directory / "gateway-password").read_text(encoding="utf-8").strip())
            self._members.setdefault((account.kommunenr, account.bydel), Member(account, pin, password))

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def __len__(self) -> int:
        return len(self._members)

    def get(self, kommunenr: str, bydel: str) -> Member | None:
        return self._members.get((kommunenr, bydel))

    def login_account(self, kommunenr: str, bydel: str) -> tuple[Account, Secret] | None:
        """For the Sendemodul's login: the account these fields name, with its PIN."""
        member = self.get(kommunenr, bydel)
        return None if member is None else (member.account, member.pin)

    def of(self, kommunenr: str, bydel: str) -> Member:
        """The named account, or the sandbox's own one (a manifest for no known account)."""
        return self.get(kommunenr, bydel) or self.own


def write_profiles(sdir: SandboxDir, book: AccountBook, own_profile: Any) -> None:
    """A client profile per further account, ``DIR/profiles/<id>.toml`` beside ``DIR/config.toml``
    (the same servers as the sandbox's own profile, its own municipality and secure directory)."""
    from iplos_tui.core.config import save_profile
    from iplos_tui.core.profiles import profile_id, profiles_dir

    extra = [member for member in book if member is not book.own]
    if not extra:
        return
    directory = ensure_private_dir(profiles_dir(sdir.config_path))
    for member in extra:
        account = member.account
        secure = ensure_private_dir(fleet_secure_dir(sdir, account))
        profile = own_profile.replace(
            kommunenr=account.kommunenr, bydel=account.bydel, orgnr=account.orgnr, year=account.year,
            contact_email=account.contact_email, contact_mobile=account.contact_mobile,
            postmottak=account.postmottak, gateway_user=account.postmottak, secure_dir=secure,
        )
        save_profile(profile, directory / f"{profile_id(account.kommunenr, account.bydel)}.toml")
