"""The gateway password's rules: the guide's (≥ 6 characters, a letter and a digit, not like the
username), the server's ``password_requirements`` on top, and never the PIN: the PIN is the zip's
password, and a hostile gateway must not learn it (issue 11 item 15)."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Protocol

from iplos_tui.core.i18n import t

GUIDE_MIN_LENGTH = 6


class Revealable(Protocol):
    def reveal(self) -> str: ...


def plain(secret: Revealable | str) -> str:
    return secret if isinstance(secret, str) else secret.reveal()


@dataclass(frozen=True)
class PasswordRequirements:
    minimum_length: int = GUIDE_MIN_LENGTH
    username_match_requirement: str = "MustNotResemble"
    require_letters_numbers: bool = True
    require_mixed_case: bool = False
    require_non_alphanumeric: bool = False
    no_dictionary_words: bool = False

    @classmethod
    def from_json(cls, data: object) -> PasswordRequirements:
        if not isinstance(data, dict):
            return cls()

        def flag(key: str) -> bool:
            return data.get(key) is True

        length = data.get("minimum_length")
        match = data.get("username_match_requirement")
        return cls(
            minimum_length=length if isinstance(length, int) and not isinstance(length, bool) and 0 <= length <= 256 else GUIDE_MIN_LENGTH,
            username_match_requirement=match if match in ("None", "MustNotMatch", "MustNotContain", "MustNotResemble") else "MustNotResemble",
            require_letters_numbers=flag("require_letters_numbers"),
            require_mixed_case=flag("require_mixed_case"),
            require_non_alphanumeric=flag("require_non_alphanumeric"),
            no_dictionary_words=flag("no_dictionary_words"),
        )


_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l"})


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold().translate(_LEET))


def resembles_username(password: str, username: str) -> bool:
    """Contains the username, a part of it (≥ 3 characters), or a look-alike (p4ssw0rd-style)."""
    pw = _norm(password)
    local = username.split("@", 1)[0]
    parts = {_norm(local), _norm(username)} | {_norm(p) for p in re.split(r"[^A-Za-z0-9]+", username)}
    parts = {p for p in parts if len(p) >= 3}
    if not pw:
        return False
    for part in parts:
        if part in pw or part[::-1] in pw or (len(pw) >= 3 and pw in part):
            return True
    return False


def is_the_pin(password: Revealable | str, pin: Revealable | str | None) -> bool:
    """True when ``password`` is the PIN (compared in constant time; an unset PIN never matches)."""
    if pin is None or (not isinstance(pin, str) and not getattr(pin, "is_set", True)):
        return False
    expected = plain(pin)
    return bool(expected) and hmac.compare_digest(plain(password).encode("utf-8"), expected.encode("utf-8"))


def check_login_password(password: Revealable | str, pin: Revealable | str | None) -> str:
    """"" when ``password`` may be sent to the gateway, else why not (never echoing it)."""
    return t("gateway.password_is_pin") if is_the_pin(password, pin) else ""


def check_new_password(
    password: Revealable | str,
    username: str,
    requirements: PasswordRequirements | None = None,
    *,
    pin: Revealable | str | None = None,
) -> list[str]:
    """The reasons ``password`` may not be set (empty when it may); never echoes the password."""
    value = plain(password)
    req = requirements or PasswordRequirements()
    reasons: list[str] = []
    minimum = max(GUIDE_MIN_LENGTH, req.minimum_length)
    if len(value) < minimum:
        reasons.append(t("gateway.pw_length", min=minimum))
    if not (any(c.isalpha() for c in value) and any(c.isdigit() for c in value)):
        reasons.append(t("gateway.pw_letters_digits"))
    if req.require_mixed_case and not (any(c.islower() for c in value) and any(c.isupper() for c in value)):
        reasons.append(t("gateway.pw_mixed_case"))
    if req.require_non_alphanumeric and value.isalnum():
        reasons.append(t("gateway.pw_symbol"))
    if username and (value.casefold() == username.casefold() or username.casefold() in value.casefold() or resembles_username(value, username)):
        reasons.append(t("gateway.pw_username"))
    if any(c.isspace() or not c.isprintable() for c in value):
        reasons.append(t("gateway.pw_chars"))
    if is_the_pin(value, pin):
        reasons.append(t("gateway.pw_pin"))
    return reasons
