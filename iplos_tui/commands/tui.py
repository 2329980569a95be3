"""`iplos tui [--sandbox]`: the console (also what `iplos` alone runs)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

if TYPE_CHECKING:
    from textual.app import App

# Textual switches that write logs or screenshots, press keys or load drivers (DESIGN.md §4).
REFUSED_ENV_PREFIXES = ("TEXTUAL_PRESS", "TEXTUAL_SCREENSHOT", "TEXTUAL_LOG", "TEXTUAL_DEVTOOLS", "TEXTUAL_DRIVER", "TEXTUAL_DEBUG")


def refused_textual_env(environ: dict[str, str] | None = None) -> list[str]:
    environ = dict(os.environ if environ is None else environ)
    names = [name for name in environ if name.startswith(REFUSED_ENV_PREFIXES)]
    if environ.get("TEXTUAL"):  # TEXTUAL=devtools,debug
        names.append("TEXTUAL")
    return sorted(names)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tui", help=t("cli.help_cmd_tui"), description=t("cli.help_cmd_tui"))
    parser.add_argument("--sandbox", action="store_true", help=t("cli.help_sandbox_flag"))
    parser.add_argument("--allow-textual-env", action="store_true", help=t("cli.help_allow_textual_env"))
    parser.add_argument("--no-mouse", dest="mouse", action="store_false", help=t("cli.help_no_mouse"))
    parser.set_defaults(handler=run, sandbox=False, allow_textual_env=False, mouse=True)


def run(args: argparse.Namespace) -> ExitCode:
    refused = refused_textual_env()
    if refused and not args.allow_textual_env:
        print(f"iplos: {t('cli.textual_env_refused', names=' '.join(refused))}", file=sys.stderr)
        return ExitCode.USAGE
    if not sys.stdout.isatty() and not args.allow_textual_env:
        print(f"iplos: {t('cli.not_a_terminal')}", file=sys.stderr)
        return ExitCode.USAGE
    sandbox = None
    profile, config_path, fleet_config = args.profile, args.config_path, getattr(args, "fleet_config", None)
    if args.sandbox:
        try:
            from iplos_tui.sandbox.session import start_session
        except ModuleNotFoundError:
            print(f"iplos: {t('cli.sandbox_missing')}", file=sys.stderr)
        else:
            sandbox = start_session(serve=False)  # the servers start after the first frame (IplosApp)
            profile, config_path = sandbox.profile, sandbox.config_path
            fleet_config = config_path
    from iplos_tui.app import IplosApp

    app = IplosApp(profile, config_path, sandbox=sandbox, clock=sandbox.now if sandbox is not None else None, fleet_config=fleet_config)
    try:
        return run_app(app, mouse=getattr(args, "mouse", True) and profile.mouse)
    finally:
        if sandbox is not None:
            sandbox.stop()


def run_app(app: App[Any], *, mouse: bool = True) -> ExitCode:
    """Run the console; a crash (Textual sets ``return_code`` 1) is a non-zero exit, never 0."""
    app.run(mouse=mouse)
    return ExitCode.OK if not app.return_code else ExitCode.FAILED
