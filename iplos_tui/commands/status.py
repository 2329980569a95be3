"""`iplos status [--json]`: the journal's submissions and what each is waiting for (read-only)."""

from __future__ import annotations

import argparse
import json
import sys

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("status", help=t("submit.status_help"), description=t("submit.status_help"))
    parser.add_argument("--json", action="store_true", help=t("submit.cli_json"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.status import journal_status
    from iplos_tui.core.text import safe_text

    data = journal_status(args.profile)  # a journal that cannot be used: cli.main says why (exit 2)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return ExitCode.OK
    if not data["submissions"]:
        print(t("submit.status_empty"))
        return ExitCode.OK
    if data["running"]:
        print(t("submit.status_running"), file=sys.stderr)
    for sub in data["submissions"]:
        state = sub["label"]
        receipt = (sub.get("receipt") or {}).get("receipt_id", "") or "-"
        line = f"{sub['id'][:8]}  {sub['updated'][:16]:<16}  {sub['kommunenr']}{sub['bydel']} {sub['period']}  {sub['persons']:>7}  {state:<22}  {receipt}"
        print(safe_text(line, one_line=True))
        print("          " + safe_text(t("submit.status_waiting", what=sub["waiting_for"]), one_line=True))
        if sub.get("reason") and sub["state"] != "confirmed":
            print("          " + safe_text(sub["reason"], one_line=True, limit=200))
    return ExitCode.OK
