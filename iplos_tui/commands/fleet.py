"""`iplos fleet status [--json | --format text|json|nagios]`: the board of every profile
(core/fleet/board.py), what needs a person first. stdout: the board; exit 0 when nothing needs
action now, 1 when something does, 2 for a config error (docs/fleet.md). With ``--format
nagios``: one monitoring-plugin line and exit 0/1/2/3 (OK, WARNING, CRITICAL, UNKNOWN)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fleet", help=t("fleet.help_cmd"), description=t("fleet.help_cmd"))
    actions = parser.add_subparsers(dest="fleet_action", metavar="ACTION", required=True, parser_class=type(parser))
    status = actions.add_parser("status", help=t("fleet.status_help"), description=t("fleet.status_help"))
    status.add_argument("--json", action="store_true", help=t("fleet.help_json"))
    status.add_argument("--format", choices=("text", "json", "nagios"), default="text", help=t("fleet.help_format"))
    status.set_defaults(handler=run_status, needs_profile=False, on_error=plugin_error)


def plugin_error(args: argparse.Namespace, exc: BaseException) -> int | None:
    """As a monitoring plugin any error is UNKNOWN on stdout (exit 3); else cli.main says it."""
    if getattr(args, "format", "text") != "nagios":
        return None
    from iplos_tui.core.errors import explain
    from iplos_tui.core.fleet.board import NAGIOS_SERVICE
    from iplos_tui.core.preflight import monitoring

    print(monitoring.unknown_line(explain(exc).message, NAGIOS_SERVICE))
    return int(monitoring.PluginState.UNKNOWN)


def _fleet(args: argparse.Namespace):
    from iplos_tui.core.config import resolve_config_path
    from iplos_tui.core.profiles import load_fleet

    path, source = resolve_config_path(args.config)
    fleet = load_fleet(path, missing_ok=source == "default")
    if getattr(args, "profile_id", None):
        fleet.entries = [fleet.get(args.profile_id)]
    return fleet


def run_status(args: argparse.Namespace) -> int:
    from iplos_tui.core.fleet.board import ACT, build_board, cells, level_counts, nagios_line

    fleet = _fleet(args)
    now = dt.datetime.now().astimezone()
    rows = build_board(fleet, now)
    counts = level_counts(rows)
    if args.format == "nagios":
        line, state = nagios_line(rows)
        print(line)
        return state
    for path in fleet.ignored:
        print(f"iplos: {safe_text(t('fleet.ignored_file', path=path), one_line=True)}", file=sys.stderr)
    if args.json or args.format == "json":
        print(json.dumps({
            "generated_at": now.isoformat(timespec="seconds"),
            "config": str(fleet.config_path),
            "counts": counts,
            "profiles": [row.to_json() for row in rows],
        }, ensure_ascii=False, indent=2))
    elif not rows:
        print(t("fleet.no_profiles"), file=sys.stderr)
    else:
        for row in rows:
            cell = cells(row)
            line = (
                f"{cell['level']} {cell['id']:<7} {cell['name'][:12]:<12} {cell['submission']:<11} "
                f"{cell['preflight']:<8} {cell['accepted']:<7} {cell['feedback']:<6} {cell['deadline']:<6} {cell['need']}"
            )
            print(safe_text(line, one_line=True, limit=2000))
        print(t("fleet.summary", profiles=len(rows), **counts), file=sys.stderr)
    return ExitCode.FAILED if counts[ACT] else ExitCode.OK
