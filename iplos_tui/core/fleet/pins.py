"""PINs for a fleet round from stdin (``iplos fleet submit --pins-stdin``): one line per
municipality, ``<id> <PIN>`` (``0403 1234``), held as ``Secret``s for the run only. A problem is
said by line number and id, never with the PIN."""

from __future__ import annotations

from typing import TextIO

from iplos_tui.core.errors import IplosError
from iplos_tui.core.fleet.errors import FleetUsageError
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import parse_profile_id, profile_id
from iplos_tui.core.secrets import PIN_MAX_LENGTH, Secret, check_pin

MAX_LINES = 200
MAX_LINE = PIN_MAX_LENGTH + 16


def read_pins(stream: TextIO, known: set[str]) -> dict[str, Secret]:
    pins: dict[str, Secret] = {}
    try:
        for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE + 2), ""), start=1):
            if number > MAX_LINES:
                raise FleetUsageError(t("fleet.pins_too_many", limit=MAX_LINES))
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            key, _, pin = line.partition(" ")
            try:
                wanted = profile_id(*parse_profile_id(key))
            except IplosError:
                raise FleetUsageError(t("fleet.pins_bad_line", line=number)) from None
            if wanted not in known:
                raise FleetUsageError(t("fleet.pins_unknown", line=number, id=wanted))
            if wanted in pins:
                raise FleetUsageError(t("fleet.pins_twice", line=number, id=wanted))
            problem = check_pin(pin) if len(raw) <= MAX_LINE else t("secrets.pin_length", min=4, max=PIN_MAX_LENGTH)
            if problem:
                raise FleetUsageError(t("fleet.pins_bad_pin", line=number, id=wanted, problem=problem))
            pins[wanted] = Secret(pin)
    except BaseException:
        for secret in pins.values():
            secret.clear()
        raise
    return pins
