"""`iplos fleet feedback [--passwords-stdin] [--json]`: every gateway account's new feedback in one
go (core/fleet/feedback_round.py). Each account's password is asked on the terminal when its turn
comes, or read from stdin (``<id> <password>`` per line; any of the account's profile ids), held in
memory for that account only. stdout: a line per municipality (or ``--json``); stderr: the steps.
Exit 0 when every account was fetched, else the most serious of theirs (3 network, 4 password,
2 setup)."""

from __future__ import annotations

import argparse
import json
import sys
import threading

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def register(actions: argparse._SubParsersAction, *, load) -> None:
    """``load(args)`` reads the fleet as every fleet command does (commands/fleet.py)."""
    feedback = actions.add_parser("feedback", help=t("fleet.feedback_help"), description=t("fleet.feedback_description"))
    feedback.add_argument("--passwords-stdin", action="store_true", help=t("fleet.help_passwords_stdin"))
    feedback.add_argument("--json", action="store_true", help=t("fleet.help_json_feedback"))
    feedback.set_defaults(handler=run_feedback, needs_profile=False, load_fleet=load)


def _show(event) -> None:
    from iplos_tui.core.feedback import fetch as ff
    from iplos_tui.core.fleet import feedback_round as fr

    line = ""
    if isinstance(event, fr.RoundStarted):
        line = t("fleet.feedback_started", accounts=event.accounts, profiles=event.profiles)
    elif isinstance(event, fr.AccountEvent) and isinstance(event.event, ff.FileFinished):
        row = event.event.row
        line = f"{event.id}: {row.status} {row.display_name}"
    elif isinstance(event, fr.ProfileDone):
        outcome = event.outcome
        line = t("fleet.feedback_done", id=outcome.id, state=outcome.state, stored=outcome.stored, new=outcome.left_new)
        if outcome.message:
            line += f" ({outcome.message})"
    if line:
        print(safe_text(line, one_line=True, limit=600), file=sys.stderr, flush=True)


def run_feedback(args: argparse.Namespace) -> int:
    from iplos_tui.commands.submit import _run_in_thread
    from iplos_tui.core.fleet import feedback_round as fr
    from iplos_tui.core.fleet.errors import FleetUsageError
    from iplos_tui.core.fleet.pins import read_passwords
    from iplos_tui.core.secrets import Secret

    fleet = args.load_fleet(args)
    if not args.passwords_stdin and not sys.stdin.isatty():
        raise FleetUsageError(t("fleet.feedback_needs_tty"))
    passwords = read_passwords(sys.stdin, set(fleet.ids())) if args.passwords_stdin else {}

    def password_for(account: fr.Account):
        if args.passwords_stdin:
            found = [passwords.pop(kid) for kid in account.ids if kid in passwords]
            for extra in found[1:]:
                extra.clear()
            return found[0] if found else None
        import getpass

        try:
            secret = Secret(getpass.getpass(t("fleet.feedback_password_prompt", ids=", ".join(account.ids), username=safe_text(account.username, one_line=True, limit=120))))
        except (EOFError, OSError):
            return None
        return secret if secret.reveal() else None

    cancel = threading.Event()
    round_ = fr.FleetFeedback(fleet.entries, password_for=password_for, emit=_show, cancel=cancel)
    try:
        outcomes = _run_in_thread(round_.run, cancel)
    finally:
        for secret in passwords.values():
            secret.clear()
    if args.json:
        print(json.dumps({"ok": all(o.state == "fetched" for o in outcomes), "profiles": [o.to_json() for o in outcomes]}, ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            print(safe_text(f"{outcome.id:<7} {outcome.state:<12} {outcome.stored:>3} {outcome.left_new:>3}", one_line=True))
    fetched = sum(1 for o in outcomes if o.state == "fetched")
    print(t("fleet.feedback_summary", fetched=fetched, total=len(outcomes)), file=sys.stderr)
    if outcomes and fetched == len(outcomes):
        return ExitCode.OK
    codes = {o.exit_code for o in outcomes if o.state != "fetched"}
    for code in (ExitCode.NETWORK, ExitCode.AUTH, ExitCode.USAGE, ExitCode.INTERRUPTED):
        if int(code) in codes:
            return int(code)
    return int(ExitCode.FAILED)
