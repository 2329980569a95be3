"""`iplos fleet status [--json | --format text|json|nagios]`: the board of every profile
(core/fleet/board.py), what needs a person first. stdout: the board; exit 0 when nothing needs
action now, 1 when something does, 2 for a config error (docs/fleet.md). With ``--format
nagios``: one monitoring-plugin line and exit 0/1/2/3 (OK, WARNING, CRITICAL, UNKNOWN)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading

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
    preflight = actions.add_parser("preflight", help=t("fleet.preflight_help"), description=t("fleet.preflight_help"))
    preflight.add_argument("--json", action="store_true", help=t("fleet.help_json_preflight"))
    preflight.add_argument("--concurrency", type=concurrency, default=4, metavar="N", help=t("fleet.help_concurrency"))
    preflight.set_defaults(handler=run_preflight, needs_profile=False)
    submit = actions.add_parser("submit", help=t("fleet.submit_help"), description=t("fleet.submit_description"))
    source = submit.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", metavar="DIR", help=t("fleet.help_folder"))
    source.add_argument("--extract", action="append", metavar="ID=PATH", help=t("fleet.help_extract"))
    submit.add_argument("--pins-stdin", action="store_true", help=t("fleet.help_pins_stdin"))
    submit.add_argument("--yes", action="store_true", help=t("fleet.help_yes"))
    submit.add_argument("--accept-errors", metavar="IDS", default="", help=t("fleet.help_accept_errors"))
    submit.add_argument("--send-concurrency", type=concurrency, default=1, metavar="N", help=t("fleet.help_send_concurrency"))
    submit.add_argument("--json", action="store_true", help=t("fleet.help_json_submit"))
    submit.set_defaults(handler=run_submit, needs_profile=False)
    from iplos_tui.commands import fleet_feedback

    fleet_feedback.register(actions, load=_fleet)


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


def run_preflight(args: argparse.Namespace) -> int:
    """Every profile's checklist at once; one line per municipality as it finishes."""
    from iplos_tui.core.fleet.preflight_round import FleetPreflight, ProfileDone, RoundStarted, SharedDone

    fleet = _fleet(args)
    names = {entry.id: _name(entry) for entry in fleet.entries}

    def show(event) -> None:
        if isinstance(event, RoundStarted):
            print(t("fleet.preflight_started", profiles=event.profiles, groups=event.groups), file=sys.stderr)
        elif isinstance(event, SharedDone) and len(event.members) > 1:
            print(t("fleet.preflight_shared", lead=event.lead, count=len(event.members) - 1), file=sys.stderr)
        elif isinstance(event, ProfileDone) and not args.json:
            counts = " ".join(f"{key}={value}" for key, value in sorted(event.counts.items()))
            print(safe_text(f"{t('fleet.preflight_mark.' + event.status)} {event.id:<7} {names.get(event.id, '')[:14]:<14} {counts}", one_line=True), flush=True)

    outcome = FleetPreflight(fleet.entries, concurrency=args.concurrency, emit=show).run()
    if args.json:
        print(json.dumps({"ok": all(o.status not in ("fail", "unusable") for o in outcome), "profiles": [o.to_json() for o in outcome]}, ensure_ascii=False, indent=2))
    for item in outcome:
        failed = [r for r in item.results if r.status == "fail"]
        if item.problem:
            print(f"iplos: {item.id}: {safe_text(item.problem, one_line=True)}", file=sys.stderr)
        elif failed and not args.json:
            print(safe_text(f"  {item.id}: {failed[0].id}: {failed[0].detail}", one_line=True, limit=300), file=sys.stderr)
    bad = sum(1 for item in outcome if item.status in ("fail", "unusable"))
    print(t("fleet.preflight_summary", profiles=len(outcome), bad=bad), file=sys.stderr)
    return ExitCode.FAILED if bad else ExitCode.OK


def _name(entry) -> str:
    from iplos_tui.core import refdata

    if entry.profile is None:
        return ""
    try:
        return refdata.kommune_name(entry.profile.kommunenr, entry.profile.year) or ""
    except ValueError:
        return ""


def concurrency(text: str) -> int:
    """--concurrency N: 1..16 (argparse says what is wrong, exit 2)."""
    from iplos_tui.core.fleet.preflight_round import MAX_CONCURRENCY

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(t("fleet.bad_concurrency", limit=MAX_CONCURRENCY))
    return value


def _extracts(args: argparse.Namespace, fleet) -> dict:
    """profile id -> extract: the --folder matched by header, or the --extract ID=PATH pairs."""
    from pathlib import Path

    from iplos_tui.core.fleet.errors import FleetUsageError
    from iplos_tui.core.fleet.extracts import match_folder
    from iplos_tui.core.profiles import parse_profile_id, profile_id

    if args.folder:
        match = match_folder(Path(args.folder).expanduser(), fleet.entries)
        for item in match.unmatched:
            print(safe_text(t("fleet.submit_unmatched", path=item.path, reason=item.reason), one_line=True), file=sys.stderr)
        return dict(match.matched)
    chosen = {}
    for pair in args.extract:
        key, sep, path = pair.partition("=")
        if not sep or not path:
            raise FleetUsageError(t("fleet.bad_extract_pair", given=safe_text(pair, one_line=True, limit=80)))
        wanted = profile_id(*parse_profile_id(key))
        fleet.get(wanted)  # a ConfigError that lists the profiles
        chosen[wanted] = Path(path).expanduser()
    return chosen


def _reporter():
    """A round's events as short stderr lines, each with its municipality."""
    from iplos_tui.core import events as ev
    from iplos_tui.core.fleet import submit_round as sr

    def show(event) -> None:
        line = ""
        if isinstance(event, sr.JobEvent):
            inner = event.event
            if isinstance(inner, ev.StepDone):
                line = f"{event.id}: ✓ {inner.detail}"
            elif isinstance(inner, ev.StepFailed):
                line = f"{event.id}: ✗ {inner.reason}"
        elif isinstance(event, sr.JobChecked):
            line = t("fleet.submit_checked", id=event.id, persons=event.persons, parts=event.parts)
            if event.needs_acceptance:
                line += " " + t("fleet.submit_needs_acceptance", errors=event.levels.get("error", 0))
        elif isinstance(event, sr.JobSending):
            line = t("fleet.submit_sending", id=event.id)
        elif isinstance(event, sr.JobFinished):
            outcome = event.outcome
            line = f"{outcome.id}: {outcome.state}" + (f" {outcome.receipt_id}" if outcome.receipt_id else "") + (f" ({outcome.message})" if outcome.message and not outcome.ok else "")
        if line:
            print(safe_text(line, one_line=True, limit=600), file=sys.stderr, flush=True)

    return show


def run_submit(args: argparse.Namespace) -> int:
    """Check every municipality's extract, then send one after another (docs/fleet.md)."""
    import datetime as dt

    from iplos_tui.commands.submit import _ask, _run_in_thread
    from iplos_tui.core.fleet import submit_round as sr
    from iplos_tui.core.fleet.errors import FleetUsageError
    from iplos_tui.core.fleet.pins import read_pins
    from iplos_tui.core.secrets import Secret, check_pin

    fleet = _fleet(args)
    jobs, skipped = sr.plan(fleet.entries, _extracts(args, fleet), dt.datetime.now().astimezone())
    if not args.pins_stdin and not sys.stdin.isatty():
        raise FleetUsageError(t("fleet.submit_needs_tty"))
    pins = read_pins(sys.stdin, {job.id for job in jobs}) if args.pins_stdin else {}
    accept = {item.strip() for item in args.accept_errors.split(",") if item.strip()}

    def approve(checked):
        print(t("fleet.submit_all_checked", count=len(checked)), file=sys.stderr)
        if not args.yes and not _ask(t("fleet.submit_confirm", count=len(checked))):
            return {}
        return {c.id: sr.Approval(True, accept_errors="all" in accept or c.id in accept) for c in checked}

    def pin_for(job):
        if args.pins_stdin:
            return pins.pop(job.id, None)
        import getpass

        try:
            secret = Secret(getpass.getpass(t("fleet.submit_pin_prompt", id=job.id)))
        except (EOFError, OSError):
            return None
        if check_pin(secret.reveal()):
            secret.clear()
            return None
        return secret

    cancel = threading.Event()
    queue = sr.FleetSubmit(jobs, skipped=skipped, approve=approve, pin_for=pin_for, emit=_reporter(), cancel=cancel, send_concurrency=args.send_concurrency)
    try:
        outcomes = _run_in_thread(queue.run, cancel)
    finally:
        for secret in pins.values():
            secret.clear()
    if args.json:
        print(json.dumps({"ok": all(o.ok for o in outcomes), "municipalities": [o.to_json() for o in outcomes]}, ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            print(safe_text(f"{outcome.id:<7} {outcome.state:<12} {outcome.receipt_id}", one_line=True))
    delivered = sum(1 for o in outcomes if o.ok)
    print(t("fleet.submit_summary", delivered=delivered, total=len(outcomes)), file=sys.stderr)
    return ExitCode.OK if outcomes and delivered == len(outcomes) else _worst(outcomes)


def _worst(outcomes) -> int:
    """The exit code of the round: the most serious of the municipalities' (3 before 4 before 1)."""
    codes = {o.exit_code for o in outcomes if not o.ok}
    for code in (ExitCode.NETWORK, ExitCode.AUTH, ExitCode.USAGE, ExitCode.FAILED, ExitCode.INTERRUPTED):
        if int(code) in codes:
            return int(code)
    return int(ExitCode.FAILED)
