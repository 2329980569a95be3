"""The fleet's one error of its own: a round that cannot start as asked (usage or setup)."""

from __future__ import annotations

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode


class FleetUsageError(IplosError):
    exit_code = ExitCode.USAGE
