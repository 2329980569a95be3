"""PINs for a fleet round from stdin (``iplos fleet submit --pins-stdin``): one line per
municipality, ``<id> <PIN>`` (``0403 1234``), held as ``Secret``s for the run only. A problem is
said by line number and id, never with the PIN. Gateway passwords (``iplos fleet feedback
--passwords-stdin``) are read the same way (``read_passwords``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from iplos_tui.core.errors import IplosError
from iplos_tui.core.fleet.errors import FleetUsageError
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import parse_profile_id, profile_id
from iplos_tui.core.secrets import PIN_MAX_LENGTH, Secret, check_pin

MAX_LINES = 200
MAX_LINE = PIN_MAX_LENGTH + 16


def read_pins(stream: TextIO, known: set[str]) -> dict[str, Secret]:
    return _read_secrets(stream, known, check_pin, "pins")


PASSWORD_MAX_LENGTH = 256


def _password_problem(password: str) -> str:
    return "" if 0 < len(password) <= PASSWORD_MAX_LENGTH else t("fleet.passwords_length", max=PASSWORD_MAX_LENGTH)


def read_passwords(stream: TextIO, known: set[str]) -> dict[str, Secret]:
    """``<id> <password>`` lines: a gateway password per profile id."""
    return _read_secrets(stream, known, _password_problem, "passwords", max_line=PASSWORD_MAX_LENGTH + 16)


def _read_secrets(stream: TextIO, known: set[str], check: Callable[[str], str], kind: str, max_line: int = MAX_LINE) -> dict[str, Secret]:
    pins: dict[str, Secret] = {}
    try:
        for number, raw in enumerate(iter(lambda: stream.readline(max_line + 2), ""), start=1):
            if number > MAX_LINES:
                raise FleetUsageError(t(f"fleet.{kind}_too_many", limit=MAX_LINES))
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            key, _, pin = line.partition(" ")
            try:
                wanted = profile_id(*parse_profile_id(key))
            except IplosError:
                raise FleetUsageError(t(f"fleet.{kind}_bad_line", line=number)) from None
            if wanted not in known:
                raise FleetUsageError(t("fleet.pins_unknown", line=number, id=wanted))
            if wanted in pins:
                raise FleetUsageError(t(f"fleet.{kind}_twice", line=number, id=wanted))
            if len(raw) > max_line:
                problem = t("secrets.pin_length", min=4, max=PIN_MAX_LENGTH) if kind == "pins" else _password_problem("x" * max_line)
            else:
                problem = check(pin)
            if problem:
                raise FleetUsageError(t("fleet.pins_bad_pin", line=number, id=wanted, problem=problem))
            pins[wanted] = Secret(pin)
    except BaseException:
        for secret in pins.values():
            secret.clear()
        raise
    return pins
