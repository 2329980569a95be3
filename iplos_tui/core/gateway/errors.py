"""The gateway's errors: one ``IplosError`` family, told apart by ``kind`` where callers must.

``kind``: "network" and "server" and "integrity" (exit 3), "auth" (exit 4), "usage" (exit 2).
Cancellation is the one ``core.errors.Cancelled``. Every value shown is sanitised here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.gateway.passwords import PasswordRequirements


def shown(value: object, limit: int = 300) -> str:
    return safe_text(str(value), one_line=True, limit=limit)


class GatewayError(IplosError):
    kind = "server"
    exit_code = ExitCode.NETWORK

    def __init__(self, key: str, **values: object) -> None:
        self.key = key
        self.values = {k: shown(v) if isinstance(v, str) else v for k, v in values.items()}
        super().__init__(f"{key}: {self.values}")

    def message(self) -> str:
        return t(f"gateway.{self.key}", **self.values)


class GatewayNetworkError(GatewayError):
    kind = "network"


class GatewayIntegrityError(GatewayError):
    kind = "integrity"


class GatewayUsageError(GatewayError):
    kind = "usage"
    exit_code = ExitCode.USAGE


class GatewayAuthError(GatewayError):
    kind = "auth"
    exit_code = ExitCode.AUTH

    def __init__(self, key: str, error: str = "", error_code: int | None = None, **values: object) -> None:
        self.error = shown(error, 80)
        self.error_code = error_code
        super().__init__(key, **values)


class PasswordChangeRequired(GatewayAuthError):
    """The gateway wants a new password before it issues a token (error_code 3988)."""

    def __init__(self, requirements: PasswordRequirements, **values: object) -> None:
        self.requirements = requirements
        super().__init__("password_change_required", "password_change_required", 3988, **values)
