"""The PIN and other secrets: held in memory only, never printed by accident."""

from __future__ import annotations

import sys
from typing import NoReturn, TextIO

from iplos_tui.core.errors import IplosError
from iplos_tui.core.i18n import t

PIN_MIN_LENGTH = 4
PIN_MAX_LENGTH = 64


class SecretError(IplosError, ValueError):
    """A secret used after it was cleared (a defect of the caller, never the secret's value)."""

    def message(self) -> str:
        return t("secrets.cleared")


class Secret:
    """A secret string whose repr and str never show the value.

    ``reveal()`` is the one way to read it; ``clear()`` drops the value (best effort in CPython).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: str | None = value

    def reveal(self) -> str:
        if self._value is None:
            raise SecretError("the secret was cleared")
        return self._value

    def clear(self) -> None:
        self._value = None

    @property
    def is_set(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> NoReturn:  # never pickled into a file or a process boundary by accident
        raise TypeError("a Secret cannot be pickled")


def check_pin(value: str) -> str:
    """Return "" when ``value`` can be a KOSTRA PIN, else a reason (never echoing the value)."""
    if not value:
        return t("secrets.pin_empty")
    if len(value) < PIN_MIN_LENGTH or len(value) > PIN_MAX_LENGTH:
        return t("secrets.pin_length", min=PIN_MIN_LENGTH, max=PIN_MAX_LENGTH)
    if not value.isascii() or not value.isprintable() or any(ch.isspace() for ch in value):
        return t("secrets.pin_chars")
    return ""


def read_secret_stdin(stream: TextIO | None = None) -> Secret:
    """Read one line from stdin (for ``--pin-stdin``); the trailing newline is dropped."""
    stream = stream or sys.stdin
    line = stream.readline(PIN_MAX_LENGTH + 2)
    return Secret(line.rstrip("\r\n"))
