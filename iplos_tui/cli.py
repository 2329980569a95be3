"""The `iplos` command: the TUI by default, headless subcommands for scripts and IT.

stdout carries data, stderr diagnostics; exit codes come from ``ExitCode``. This module and the
command modules never import Textual at import time: only the `tui` branch does.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from iplos_tui import __version__
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import set_language, t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.config import Profile

# One module per subcommand in iplos_tui/commands/; each has register(subparsers).
COMMAND_MODULES = (
    "tui",
    "config",
    "preflight",
    "validate",
    "encrypt",
    "keys",
    "submit",
    "status",
    "feedback",
    "fleet",
    "sandbox",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits with ExitCode.USAGE and a message on stderr."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: {message}\n")


def build_parser(commands: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser with ``commands`` registered (all by default)."""
    parser = ArgumentParser(
        prog="iplos",
        description=t("cli.description"),
    )
    parser.add_argument("--version", action="version", version=f"iplos-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", help=t("cli.help_config"))
    parser.add_argument("--profile", dest="profile_id", metavar="KOMMUNENR", help=t("cli.help_profile"))
    parser.add_argument("--lang", choices=("nb", "en"), help=t("cli.help_lang"))
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in commands:
        importlib.import_module(f"iplos_tui.commands.{name}").register(subparsers)
    return parser


def commands_needed(argv: Sequence[str]) -> Sequence[str]:
    """The one command ``argv`` names (``tui`` when it names none), so that only its module is
    imported and only its texts are loaded (issue 15: first paint); every command for the
    top-level help and a word that is no command (argparse's own messages); none for ``--version``."""
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg in ("--config", "--lang", "--profile"):
            index += 2
        elif arg.startswith(("--config=", "--lang=", "--profile=")):
            index += 1
        elif arg == "--version":
            return ()  # the version needs no command's parser (nor its texts)
        elif arg.startswith("-"):
            return COMMAND_MODULES  # -h, --version, an unknown option
        else:
            return (arg,) if arg in COMMAND_MODULES else COMMAND_MODULES
    return ("tui",)


def _early_language(argv: Sequence[str]) -> None:
    """Pick the language before the parser is built, so that --help is in it too."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv) and argv[index + 1] in ("nb", "en"):
            set_language(argv[index + 1])
            return
        if arg.startswith("--lang=") and arg.split("=", 1)[1] in ("nb", "en"):
            set_language(arg.split("=", 1)[1])
            return
    env = os.environ.get("IPLOS_LANG")
    if env in ("nb", "en"):
        set_language(env)


def load_profile_for(args: argparse.Namespace) -> Profile:
    """Resolve and load the profile; the language follows it unless --lang was given.

    A file named by --config or $IPLOS_CONFIG must exist (a typo never means "the defaults");
    the default path may be missing on a first run. ``--profile 0403`` picks the profile file
    beside it (core/profiles.py); ``args.config_path`` is then that profile's file.
    """
    from iplos_tui.core.config import resolve_config_path
    from iplos_tui.core.profiles import select_profile

    path, source = resolve_config_path(args.config)
    args.config_source, args.fleet_config = source, path
    profile, args.config_path = select_profile(path, getattr(args, "profile_id", None), missing_ok=source == "default")
    if not args.lang and not os.environ.get("IPLOS_LANG") and profile.language in ("nb", "en"):
        set_language(profile.language)
    return profile


def error(message: str) -> None:
    """One diagnostic line on stderr, sanitised."""
    print(f"iplos: {safe_text(message)}", file=sys.stderr)


def report_error(exc: BaseException) -> int:
    """Any error as one line (plus its hint) on stderr; returns its exit code. Never a traceback."""
    from iplos_tui.core.errors import explain

    explanation = explain(exc)
    error(explanation.message)
    if explanation.hint:
        error(explanation.hint)
    return int(explanation.exit_code)


def harden_process() -> None:
    """No core dumps and no ptrace by other processes of the same user (the PIN lives in memory);
    httpx/httpcore never log URLs or headers, whatever logging a host program sets up."""
    import logging

    from iplos_tui.core.hardening import harden

    for name in ("httpx", "httpcore", "hpack", "h11"):
        logging.getLogger(name).setLevel(logging.WARNING)
    harden()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _early_language(argv)
    from iplos_tui import argparse_text

    argparse_text.install()  # argparse's own "usage:", "options:" in the UI language
    parser = build_parser(commands_needed(argv))
    args = parser.parse_args(argv)
    if args.lang:
        set_language(args.lang)
    if not args.command:
        args = parser.parse_args([*argv, "tui"])
    harden_process()
    try:
        args.profile = load_profile_for(args) if getattr(args, "needs_profile", True) else None
        return int(args.handler(args))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and let Python's exit flush go nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.OK)
    except (KeyboardInterrupt, Exception) as exc:  # every error: one explained line, its exit code
        on_error = getattr(args, "on_error", None)  # a command may say it its own way (a monitoring plugin)
        code = on_error(args, exc) if on_error is not None else None
        return report_error(exc) if code is None else int(code)


if __name__ == "__main__":
    raise SystemExit(main())
