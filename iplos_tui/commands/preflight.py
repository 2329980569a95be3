"""`iplos preflight [--json] [--only ID ...] [--report] [--timeout S]`.

stdout: the plain-text report (or with --json ``{"ok", "checks": [...]}``); stderr: progress and
the saved report's path. Exit 0 when no check failed, 1 otherwise, 2 for a usage or config error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import socket
import sys

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.ids import CHECK_IDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preflight", help=t("preflight.cli.help"), description=t("preflight.cli.help"))
    parser.add_argument("--json", action="store_true", help=t("preflight.cli.help_json"))
    parser.add_argument("--only", nargs="+", action="extend", choices=CHECK_IDS, metavar="ID", help=f"{t('preflight.cli.help_only')}: {', '.join(CHECK_IDS)}")
    parser.add_argument("--report", action="store_true", help=t("preflight.cli.help_report"))
    parser.add_argument("--timeout", type=float, metavar="S", help=t("preflight.cli.help_timeout"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core import preflight
    from iplos_tui.core.text import safe_text

    profile = args.profile
    timeout = args.timeout if args.timeout is not None else profile.preflight_timeout
    if not 0.1 <= timeout <= 120:
        print(f"iplos: {t('preflight.cli.bad_timeout')}", file=sys.stderr)
        return ExitCode.USAGE
    only = list(dict.fromkeys(args.only)) if args.only else None
    count = len(only) if only else len(preflight.CHECK_IDS)
    print(t("preflight.cli.running", count=count, seconds=f"{timeout:g}"), file=sys.stderr)
    results = preflight.run_checks(profile, only=only, timeout=timeout)
    ok = preflight.all_ok(results)
    config_path = getattr(args, "config_path", None)
    if args.json:
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
    return ExitCode.OK if ok else ExitCode.FAILED
