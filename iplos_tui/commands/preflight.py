"""`iplos preflight [--format text|json|nagios] [--only ID ...] [--report] [--timeout S]`.

stdout: the plain-text report, or ``{"ok", "checks": [...]}`` (``--json`` = ``--format json``), or
one monitoring-plugin line (``--format nagios``); stderr: progress and the saved report's path.
Exit 0 when no check failed, 1 otherwise, 2 for a usage or config error; with ``--format nagios``
the plugin convention instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for a config error).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import sys
import time

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.ids import CHECK_IDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preflight", help=t("preflight.cli.help"), description=t("preflight.cli.help"))
    parser.add_argument("--json", action="store_const", const="json", dest="format", help=t("preflight.cli.help_json"))
    parser.add_argument("--format", choices=("text", "json", "nagios"), default="text", help=t("preflight.cli.help_format"))
    parser.add_argument("--only", nargs="+", action="extend", choices=CHECK_IDS, metavar="ID", help=f"{t('preflight.cli.help_only')}: {', '.join(CHECK_IDS)}")
    parser.add_argument("--report", action="store_true", help=t("preflight.cli.help_report"))
    parser.add_argument("--timeout", type=float, metavar="S", help=t("preflight.cli.help_timeout"))
    parser.set_defaults(handler=run, on_error=plugin_error)


def plugin_error(args: argparse.Namespace, exc: BaseException) -> int | None:
    """Any error (a profile that cannot be read, a report that cannot be written, ...): as a
    monitoring plugin, UNKNOWN on stdout (exit 3); else None (cli.main says it as always)."""
    if args.format != "nagios":
        return None
    from iplos_tui.core.errors import explain
    from iplos_tui.core.preflight import monitoring

    print(monitoring.unknown_line(explain(exc).message))
    return int(monitoring.PluginState.UNKNOWN)


def run(args: argparse.Namespace) -> int:
    from iplos_tui.core import preflight
    from iplos_tui.core.preflight import monitoring
    from iplos_tui.core.text import safe_text

    nagios = args.format == "nagios"
    profile = args.profile
    timeout = args.timeout if args.timeout is not None else profile.preflight_timeout
    if not 0.1 <= timeout <= 120:
        if nagios:
            print(monitoring.unknown_line(t("preflight.cli.bad_timeout")))
            return monitoring.PluginState.UNKNOWN
        print(f"iplos: {t('preflight.cli.bad_timeout')}", file=sys.stderr)
        return ExitCode.USAGE
    only = list(dict.fromkeys(args.only)) if args.only else None
    count = len(only) if only else len(preflight.CHECK_IDS)
    if not nagios:  # a plugin's stderr may be shown as its output: keep it to the one line
        print(t("preflight.cli.running", count=count, seconds=preflight.seconds_text(timeout)), file=sys.stderr)
    started = time.monotonic()
    results = preflight.run_checks(profile, only=only, timeout=timeout)
    elapsed = time.monotonic() - started
    if only is None:  # the whole checklist: what the fleet's board shows (core/fleet/seen.py)
        from iplos_tui.core.fleet.seen import remember_preflight

        remember_preflight(profile.secure_dir, results, dt.datetime.now().astimezone())
    ok = preflight.all_ok(results)
    config_path = getattr(args, "config_path", None)
    if nagios:
        line, state = monitoring.status_line(results, elapsed)
        print(line)
    elif args.format == "json":
        print(json.dumps({"ok": ok, "checks": [r.to_dict() for r in results]}, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(
            preflight.render_report(
                results,
                profile,
                generated_at=dt.datetime.now().astimezone(),
                host=socket.gethostname(),
                config_path=config_path,
            )
        )
    if args.report:
        path = preflight.write_report(results, profile, config_path=config_path)  # ReportError: cli.main says why
        print(t("preflight.report.saved", path=safe_text(str(path))), file=sys.stderr)
    if nagios:
        return state
    return ExitCode.OK if ok else ExitCode.FAILED
