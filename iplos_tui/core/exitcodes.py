"""The CLI's exit codes: one enum for every subcommand (stdout data, stderr diagnostics)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a check or validation failed
    USAGE = 2  # usage or config error
    NETWORK = 3  # network or server error, or an ambiguous submission
    AUTH = 4  # authentication refused
    INTERRUPTED = 130
