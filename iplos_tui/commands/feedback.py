"""`iplos feedback list|show|export|fetch`: SSB's feedback zips, headless.

- ``list [DIR] [--json]``: the zips in DIR (default: the secure directory's ``feedback/``).
- ``show ZIP [--entry NAME] [--json] [--pin-stdin]``: open with the PIN in memory; the entries
  (name, size, SHA-256 of the decrypted bytes, rows); with ``--entry`` that table's header,
  counts and rows (streamed), person ids masked, every cell sanitised.
- ``export ZIP --to DIR [--pin-stdin]``: write the decrypted entries into the new folder DIR
  inside the secure directory (never over anything).
- ``fetch [--json] [--password-stdin] [--all] [--keep-new] [--delete]``: the profile's new
  feedback files from the gateway (``core.feedback.fetch.FeedbackFetch``); ``--password-stdin``
  reads the password from the first line and, when the gateway demands a change, the new
  password from the second.

Every flow is in core; this module maps its results and events to stdout (data) and stderr.
Exit codes: 0 ok; 1 zip refused; 2 usage or config; 3 network, server or integrity error; 4
wrong PIN / damaged zip, or gateway login refused; 130 interrupted (``IplosError.exit_code``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

CELL_WIDTH = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feedback", help=t("feedback.cli_help"), description=t("feedback.cli_description"))
    actions = parser.add_subparsers(dest="feedback_action", metavar="ACTION", required=True, parser_class=type(parser))

    listing = actions.add_parser("list", help=t("feedback.cli_list_help"))
    listing.add_argument("dir", nargs="?", metavar="DIR", help=t("feedback.cli_list_dir"))
    listing.add_argument("--json", action="store_true", help=t("cli.help_json"))

    show = actions.add_parser("show", help=t("feedback.cli_show_help"))
    show.add_argument("zip", metavar="ZIP")
    show.add_argument("--entry", metavar="NAME", help=t("feedback.cli_entry"))
    show.add_argument("--json", action="store_true", help=t("cli.help_json"))
    show.add_argument("--pin-stdin", action="store_true", help=t("feedback.cli_pin_stdin"))

    export = actions.add_parser("export", help=t("feedback.cli_export_help"))
    export.add_argument("zip", metavar="ZIP")
    export.add_argument("--to", required=True, metavar="DIR", help=t("feedback.cli_to"))
    export.add_argument("--pin-stdin", action="store_true", help=t("feedback.cli_pin_stdin"))

    fetch = actions.add_parser("fetch", help=t("feedback.cli_fetch_help"))
    fetch.add_argument("--json", action="store_true", help=t("cli.help_json"))
    fetch.add_argument("--password-stdin", action="store_true", help=t("feedback.cli_password_stdin"))
    fetch.add_argument("--all", action="store_true", help=t("feedback.cli_all"))
    fetch.add_argument("--keep-new", action="store_true", help=t("feedback.cli_keep_new"))
    fetch.add_argument("--delete", action="store_true", help=t("feedback.cli_delete"))

    for sub in (listing, show, export, fetch):
        sub.set_defaults(handler=run)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    handlers = {"list": run_list, "show": run_show, "export": run_export, "fetch": run_fetch}
    handler = handlers.get(getattr(args, "feedback_action", None) or "")
    if handler is None:
        _err(t("feedback.cli_no_action"))
        return ExitCode.USAGE
    return handler(args)


def _err(text: str) -> None:
    from iplos_tui.core.text import safe_text

    print(f"iplos: {safe_text(text)}", file=sys.stderr, flush=True)


def _shown(value: object) -> str:
    from iplos_tui.core.text import safe_text

    return safe_text(str(value), one_line=True)


def _secure_dir(args: argparse.Namespace) -> Path:
    return Path(args.profile.secure_dir).expanduser()


# ---- list ---------------------------------------------------------------------------------------

def run_list(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.feedback.store import feedback_dir, list_local

    profile = args.profile
    directory = Path(args.dir).expanduser() if args.dir else feedback_dir(_secure_dir(args))
    zips = list_local(directory)
    if args.json:
        print(json.dumps({"dir": _shown(directory), "zips": [z.to_json(profile.kommunenr, profile.bydel) for z in zips]}, ensure_ascii=False, indent=2))
        return ExitCode.OK
    if not zips:
        print(t("feedback.cli_none", dir=_shown(directory)), file=sys.stderr)
        return ExitCode.OK
    for z in zips:
        mark = " " if z.matches(profile.kommunenr, profile.bydel) else "!"
        date = z.info.iso_date if z.info and z.info.iso_date else "-"
        print(f"{mark} {date:10}  {z.size:>10}  {z.modified:%Y-%m-%d %H:%M}  {z.display_name}")
    if any(not z.matches(profile.kommunenr, profile.bydel) for z in zips):
        print(t("feedback.cli_mark_other"), file=sys.stderr)
    return ExitCode.OK


# ---- PIN and opening ----------------------------------------------------------------------------

def _read_pin(args: argparse.Namespace) -> Any:
    from iplos_tui.core.secrets import Secret, check_pin, read_secret_stdin

    if args.pin_stdin:
        pin = read_secret_stdin()
    elif sys.stdin.isatty():
        import getpass

        try:
            pin = Secret(getpass.getpass(t("feedback.cli_pin_prompt")))
        except (EOFError, OSError):
            return None
    else:
        _err(t("feedback.cli_needs_pin"))
        return None
    problem = check_pin(pin.reveal() if pin.is_set else "")
    if problem:
        pin.clear()
        _err(problem)
        return None
    return pin


def _open(args: argparse.Namespace) -> Any:
    """The archive (raises the reader's IplosError); the name and structure are checked before
    the PIN is asked for. None after a message when no PIN could be read."""
    from iplos_tui.core.feedback import inspect_feedback, open_feedback
    from iplos_tui.core.feedback.naming import expected_bydel

    profile = args.profile
    path = Path(args.zip).expanduser()
    where = {"kommunenr": profile.kommunenr or None, "bydel": expected_bydel(profile.bydel)}
    inspect_feedback(path, **where)
    pin = _read_pin(args)
    if pin is None:
        return None
    try:
        return open_feedback(path, pin, **where)
    finally:
        pin.clear()


# ---- show ---------------------------------------------------------------------------------------

def _entry_json(entry: Any) -> dict[str, Any]:
    error = entry.table_error
    out: dict[str, Any] = {"name": entry.display_name, "size": entry.size, "sha256": entry.sha256, "rows": None if error else len(entry.stored)}
    if error is not None:
        out["table_error"] = error.message()
    return out


def run_show(args: argparse.Namespace) -> ExitCode:
    archive = _open(args)
    if archive is None:
        return ExitCode.USAGE
    selected = None
    if args.entry is not None:
        names = [e.name for e in archive.entries]
        if args.entry not in names:
            _err(t("feedback.cli_no_entry", entry=args.entry, entries=", ".join(e.display_name for e in archive.entries)))
            return ExitCode.USAGE
        selected = archive.table(args.entry)  # raises the entry's TableRefusal
    if args.json:
        _show_json(archive, selected)
    else:
        _show_text(archive, selected)
    return ExitCode.OK


def _show_json(archive: Any, selected: Any) -> None:
    """One JSON object; with an entry, its rows streamed (one block in memory at a time), then
    the counts made on the way."""
    info = archive.info
    head: dict[str, Any] = {
        "zip": archive.display_source,
        "kommunenr": info.kommunenr if info else None,
        "bydel": info.bydel if info else None,
        "date": info.iso_date if info else None,
        "entries": [_entry_json(e) for e in archive.entries],
    }
    if selected is None:
        print(json.dumps(head, ensure_ascii=False, indent=2))
        return
    head.update(entry=selected.name, encoding=selected.encoding, header=selected.header)
    text = json.dumps(head, ensure_ascii=False, indent=2)
    out = sys.stdout
    out.write(text[:-2] + ',\n  "rows": [')
    _write_rows(out, selected.iter_rows())  # the counts are made on the way
    tail = json.dumps({"counts": selected.counts(), "masked_cells": selected.masked_cells}, ensure_ascii=False, indent=2)
    out.write("\n  ],\n" + tail[2:] + "\n")
    out.flush()


def _write_rows(out: Any, rows: Iterable[list[str]], batch: int = 2000) -> None:
    """The rows as JSON arrays, encoded a batch at a time (one C call per batch, not per row)."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    separator = "\n    "
    pending: list[list[str]] = []
    for row in rows:
        pending.append(row)
        if len(pending) >= batch:
            out.write(separator + encode(pending)[1:-1])
            separator, pending = ",\n    ", []
    if pending:
        out.write(separator + encode(pending)[1:-1])


def _show_text(archive: Any, selected: Any) -> None:
    info = archive.info
    print(t("feedback.cli_show_head", zip=archive.display_source, kommunenr=info.kommunenr if info else "-", bydel=info.bydel if info else "-", date=(info.iso_date if info else None) or "-"))
    for entry in archive.entries:
        rows = entry.table_error.message() if entry.table_error else f"{len(entry.stored)} {t('feedback.cli_rows')}"
        print(f"  {entry.display_name}  {entry.size} B  {rows}  sha256:{entry.sha256[:16]}…")
    if selected is None:
        return
    counts = selected.counts()
    for label, key in ((t("feedback.cli_per_rule"), "rule"), (t("feedback.cli_per_severity"), "severity")):
        if counts[key]:
            print(f"{label}: " + ", ".join(f"{name} {count}" for name, count in counts[key].items()))
    _print_table(selected.header, selected.page(cell_limit=CELL_WIDTH))
    if selected.masked_cells:
        print(t("feedback.cli_masked", count=selected.masked_cells), file=sys.stderr)


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    from iplos_tui.core.feedback.tables import cut

    columns = max([len(header), *(len(r) for r in rows)], default=0)
    widths = [0] * columns
    for row in [header, *rows]:
        for i, cell in enumerate(row):
            widths[i] = min(max(widths[i], len(cell)), CELL_WIDTH)
    for row in [header, *rows]:
        print("  ".join(cut(cell, CELL_WIDTH).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


# ---- export -------------------------------------------------------------------------------------

def run_export(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.feedback.store import OutsideSecureDir, check_export_target, export_entries

    secure = _secure_dir(args)
    target = Path(args.to).expanduser()
    try:
        check_export_target(target, secure)  # before the PIN and before decrypting
    except OutsideSecureDir:
        _err(t("feedback.cli_outside", dir=str(target), secure=str(secure)))
        return ExitCode.USAGE
    archive = _open(args)
    if archive is None:
        return ExitCode.USAGE
    written = export_entries(archive, target, secure)
    for path in written:
        print(_shown(path))
    print(t("feedback.cli_exported", count=len(written), dir=_shown(target)), file=sys.stderr)
    return ExitCode.OK


# ---- fetch --------------------------------------------------------------------------------------

def _read_passwords(args: argparse.Namespace) -> Any:
    """(password, new password or None); None when none could be read."""
    from iplos_tui.core.secrets import Secret

    if args.password_stdin:
        first = sys.stdin.readline(1024).rstrip("\r\n")
        second = sys.stdin.readline(1024).rstrip("\r\n")
        if not first:
            return None
        return Secret(first), (Secret(second) if second else None)
    if sys.stdin.isatty():
        import getpass

        try:
            return Secret(getpass.getpass(t("feedback.cli_password_prompt"))), None
        except (EOFError, OSError):
            return None
    _err(t("feedback.cli_needs_password"))
    return None


def _ask_new_password(fetch: Any, requirements: Any) -> Any:
    from iplos_tui.core.gateway import GatewayError
    from iplos_tui.core.secrets import Secret

    if not sys.stdin.isatty():
        return None
    import getpass

    for _ in range(3):
        try:
            first = getpass.getpass(t("feedback.cli_new_password_prompt"))
            again = getpass.getpass(t("feedback.cli_new_password_again"))
        except (EOFError, OSError):
            return None
        if first != again:
            _err(t("feedback.cli_passwords_differ"))
            continue
        candidate = Secret(first)
        try:
            fetch.check_new_password(candidate, requirements)
        except GatewayError as exc:
            candidate.clear()
            _err(exc.message())
            continue
        return candidate
    return None


def _on_event(event: Any) -> None:
    from iplos_tui.core.feedback.fetch import FAILED, FileFinished

    if isinstance(event, FileFinished) and event.row.status == FAILED and event.row.error:
        _err(event.row.error)


def run_fetch(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.feedback.fetch import FeedbackFetch, FetchOptions
    from iplos_tui.core.gateway import PasswordChangeRequired

    options = FetchOptions(all_files=args.all, keep_new=args.keep_new, delete=args.delete)
    fetch = FeedbackFetch(args.profile, options=options, on_event=_on_event)
    secrets = _read_passwords(args)
    if secrets is None:
        return ExitCode.USAGE
    password, new_password = secrets
    try:
        try:
            result = fetch.run(password)
        except PasswordChangeRequired as change:
            _err(change.message())
            new_password = new_password or _ask_new_password(fetch, change.requirements)
            if new_password is None:
                raise
            result = fetch.run(password, new_password=new_password, requirements=change.requirements)
    finally:
        password.clear()
        if new_password is not None:
            new_password.clear()
    _report_fetch(args, result)
    return result.exit_code


def _report_fetch(args: argparse.Namespace, result: Any) -> None:
    from iplos_tui.core.feedback.fetch import SKIPPED

    profile = args.profile
    if args.json:
        print(json.dumps({
            "gateway": _shown(profile.gateway_url),
            "username": _shown(profile.gateway_username),
            "dir": _shown(result.directory),
            "files": [row.to_json() for row in result.rows],
        }, ensure_ascii=False, indent=2))
    else:
        shown = [row for row in result.rows if row.status != SKIPPED]
        if not shown and result.error is None:
            print(t("feedback.cli_fetch_none"), file=sys.stderr)
        for row in shown:
            status = t(f"feedback.cli_status_{row.status}")
            size = row.file.size if row.file else "-"
            print(f"{status:12} {_shown(row.path) if row.path else '-'}  ({row.display_name}, {size} B)")
    summary = result.skipped_summary()
    if summary:
        print(summary, file=sys.stderr)
    if result.error is not None:
        _err(result.error.message())
