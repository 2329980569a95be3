"""argparse's own words ("usage:", "options:", "show this help message and exit", its error
messages) through the catalog, so `iplos --help` and a usage error are all in the UI language.

argparse looks every such string up with the module's ``_()`` at the moment it is used (the
gettext hook); ``install()`` points that hook at ``locale/argparse.toml``. The translations keep
argparse's own ``%s`` / ``%(name)s`` placeholders, which argparse fills in afterwards.
"""

from __future__ import annotations

import argparse

from iplos_tui.core.i18n import t

MESSAGES = {
    "usage: ": "argparse.usage",
    "positional arguments": "argparse.positional",
    "options": "argparse.options",
    "show this help message and exit": "argparse.help",
    "show program's version number and exit": "argparse.version",
    "argument %(argument_name)s: %(message)s": "argparse.argument",
    "unrecognized arguments: %s": "argparse.unrecognized",
    "the following arguments are required: %s": "argparse.required",
    "one of the arguments %s is required": "argparse.one_required",
    "not allowed with argument %s": "argparse.not_allowed",
    "expected one argument": "argparse.expected_one",
    "expected at most one argument": "argparse.expected_at_most_one",
    "expected at least one argument": "argparse.expected_at_least_one",
    "ambiguous option: %(option)s could match %(matches)s": "argparse.ambiguous",
    "invalid %(type)s value: %(value)r": "argparse.invalid_value",
    "invalid choice: %(value)r (choose from %(choices)s)": "argparse.invalid_choice",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "argparse.unknown_command",
    "can't open '%(filename)s': %(error)s": "argparse.cannot_open",
    "%(prog)s: error: %(message)s\n": "argparse.error",
}


def translate(message: str) -> str:
    key = MESSAGES.get(message)
    return t(key) if key else message


def install() -> None:
    """Route argparse's strings through the catalog (call before building a parser)."""
    argparse._ = translate  # type: ignore[attr-defined]
