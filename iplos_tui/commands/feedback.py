"""`iplos feedback list|show|export|fetch`: SSB's feedback zips, headless.

- ``list [DIR] [--json]``: the zips in DIR (default: the secure directory's ``feedback/``).
- ``show ZIP [--entry NAME] [--json] [--pin-stdin]``: open with the PIN in memory; the entries
  (name, size, SHA-256 of the decrypted bytes, rows); with ``--entry`` that table's header and
  rows, fnr masked, every cell sanitised.
- ``export ZIP --to DIR [--pin-stdin]``: write the decrypted entries into DIR, which must lie
  inside the secure directory.
- ``fetch [--json] [--password-stdin] [--all] [--keep-new] [--delete]``: download the new files
  from the gateway (MOVEit) into the secure directory's ``feedback/``, each verified by size and
  SHA-1; ``--password-stdin`` reads the password from the first line and, when the gateway
  demands a change, the new password from the second.

Exit codes: 0 ok; 1 zip refused (structure, policy or a name for another municipality); 2 usage
or config; 3 network, server or integrity error; 4 wrong PIN / damaged zip, or gateway login
refused; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

_KIND_EXIT = {"refused": ExitCode.FAILED, "auth": ExitCode.AUTH, "file": ExitCode.USAGE, "cancelled": ExitCode.INTERRUPTED}
_GATEWAY_EXIT = {
    "network": ExitCode.NETWORK,
    "server": ExitCode.NETWORK,
    "integrity": ExitCode.NETWORK,
    "auth": ExitCode.AUTH,
    "usage": ExitCode.USAGE,
    "cancelled": ExitCode.INTERRUPTED,
}
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
    action = getattr(args, "feedback_action", None)
    if action == "list":
        return run_list(args)
    if action == "show":
        return run_show(args)
    if action == "export":
        return run_export(args)
    if action == "fetch":
        return run_fetch(args)
    _err(t("feedback.cli_no_action"))
    return ExitCode.USAGE


def _err(text: str) -> None:
    from iplos_tui.core.text import safe_text

    print(f"iplos: {safe_text(text)}", file=sys.stderr, flush=True)


def _secure_dir(args: argparse.Namespace) -> Path:
    return Path(args.profile.secure_dir).expanduser()


# ---- list ---------------------------------------------------------------------------------------

def run_list(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.feedback import FeedbackError
    from iplos_tui.core.feedback.store import feedback_dir, list_local
    from iplos_tui.core.text import safe_text

    profile = args.profile
    directory = Path(args.dir).expanduser() if args.dir else feedback_dir(_secure_dir(args))
    try:
        zips = list_local(directory)
    except FeedbackError as exc:
        _err(exc.message())
        return ExitCode.USAGE
    if args.json:
        print(json.dumps({"dir": safe_text(str(directory), one_line=True), "zips": [z.to_json(profile.kommunenr, profile.bydel) for z in zips]}, ensure_ascii=False, indent=2))
        return ExitCode.OK
    if not zips:
        print(t("feedback.cli_none", dir=safe_text(str(directory), one_line=True)), file=sys.stderr)
        return ExitCode.OK
    for z in zips:
        mark = " " if z.matches(profile.kommunenr, profile.bydel) else "!"
        date = z.info.iso_date if z.info and z.info.iso_date else "-"
        print(f"{mark} {date:10}  {z.size:>10}  {z.modified:%Y-%m-%d %H:%M}  {z.display_name}")
    if any(not z.matches(profile.kommunenr, profile.bydel) for z in zips):
        print(t("feedback.cli_mark_other"), file=sys.stderr)
    return ExitCode.OK


# ---- PIN and opening ----------------------------------------------------------------------------

def _read_pin(args: argparse.Namespace):
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


def _open(args: argparse.Namespace):
    """(archive, exit code): the archive, or None and the exit code after a message."""
    from iplos_tui.core.feedback import FeedbackError, inspect_feedback, open_feedback

    profile = args.profile
    path = Path(args.zip).expanduser()
    where = {"kommunenr": profile.kommunenr or None, "bydel": profile.bydel or None}
    try:
        inspect_feedback(path, **where)  # refuse before asking for the PIN
    except FeedbackError as exc:
        _err(exc.message())
        return None, _KIND_EXIT.get(exc.kind, ExitCode.FAILED)
    pin = _read_pin(args)
    if pin is None:
        return None, ExitCode.USAGE
    try:
        return open_feedback(path, pin, **where), ExitCode.OK
    except FeedbackError as exc:
        _err(exc.message())
        return None, _KIND_EXIT.get(exc.kind, ExitCode.FAILED)
    finally:
        pin.clear()


# ---- show ---------------------------------------------------------------------------------------

def run_show(args: argparse.Namespace) -> ExitCode:
    archive, code = _open(args)
    if archive is None:
        return code
    tables = {entry.name: archive.table(entry.name) for entry in archive.entries}
    selected = None
    if args.entry is not None:
        if args.entry not in tables:
            _err(t("feedback.cli_no_entry", entry=args.entry, entries=", ".join(e.display_name for e in archive.entries)))
            return ExitCode.USAGE
        selected = tables[args.entry]
    info = archive.info
    if args.json:
        out: dict[str, Any] = {
            "zip": archive.display_source,
            "kommunenr": info.kommunenr if info else None,
            "bydel": info.bydel if info else None,
            "date": info.iso_date if info else None,
            "entries": [{"name": e.display_name, "size": e.size, "sha256": e.sha256, "rows": len(tables[e.name])} for e in archive.entries],
        }
        if selected is not None:
            out.update({"entry": selected.name, "encoding": selected.encoding, "header": selected.header, "rows": selected.rows, "counts": selected.counts()})
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return ExitCode.OK

    print(t("feedback.cli_show_head", zip=archive.display_source, kommunenr=info.kommunenr if info else "-", bydel=info.bydel if info else "-", date=(info.iso_date if info else None) or "-"))
    for entry in archive.entries:
        print(f"  {entry.display_name}  {entry.size} B  {len(tables[entry.name])} {t('feedback.cli_rows')}  sha256:{entry.sha256[:16]}…")
    if selected is not None:
        counts = selected.counts()
        for label, key in ((t("feedback.cli_per_rule"), "rule"), (t("feedback.cli_per_severity"), "severity")):
            if counts[key]:
                print(f"{label}: " + ", ".join(f"{name} {count}" for name, count in counts[key].items()))
        _print_table(selected.header, selected.display_rows(CELL_WIDTH))
        if selected.masked_cells:
            print(t("feedback.cli_masked", count=selected.masked_cells), file=sys.stderr)
    return ExitCode.OK


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
    from iplos_tui.core.feedback import FeedbackError
    from iplos_tui.core.feedback.store import export_entries, inside
    from iplos_tui.core.fsutil import UnsafePathError
    from iplos_tui.core.text import safe_text

    secure = _secure_dir(args)
    target = Path(args.to).expanduser()
    try:
        inside(target, secure)  # before the PIN and before decrypting
    except FeedbackError:
        _err(t("feedback.cli_outside", dir=str(target), secure=str(secure)))
        return ExitCode.USAGE
    archive, code = _open(args)
    if archive is None:
        return code
    try:
        written = export_entries(archive, target, secure)
    except FeedbackError as exc:
        _err(exc.message())
        return ExitCode.USAGE
    except (OSError, UnsafePathError) as exc:
        _err(t("feedback.cli_write_failed", detail=str(exc)))
        return ExitCode.USAGE
    for path in written:
        print(safe_text(str(path), one_line=True))
    print(t("feedback.cli_exported", count=len(written), dir=safe_text(str(target), one_line=True)), file=sys.stderr)
    return ExitCode.OK


# ---- fetch --------------------------------------------------------------------------------------

def _read_passwords(args: argparse.Namespace):
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


def _ask_new_password(username: str, requirements):
    from iplos_tui.core.filsluse import check_new_password
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
        reasons = check_new_password(first, username, requirements)
        if reasons:
            _err(t("filsluse.pw_rejected", reasons="; ".join(reasons)))
            continue
        return Secret(first)
    return None


def _login(client, username: str, password, new_password):
    from iplos_tui.core.filsluse import PasswordChangeRequired

    try:
        return client.login(username, password)
    except PasswordChangeRequired as change:
        _err(change.message())
        replacement = new_password or _ask_new_password(username, change.requirements)
        if replacement is None:
            raise
        try:
            return client.login(username, password, new_password=replacement, requirements=change.requirements)
        finally:
            replacement.clear()


def run_fetch(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.feedback.naming import parse_feedback_name
    from iplos_tui.core.feedback.store import feedback_dir
    from iplos_tui.core.filsluse import GatewayClient, GatewayError
    from iplos_tui.core.fsutil import UnsafePathError
    from iplos_tui.core.text import safe_text

    profile = args.profile
    username = profile.gateway_username
    secure = _secure_dir(args)
    if not username:
        _err(t("filsluse.no_username"))
        return ExitCode.USAGE
    if not secure.is_dir():
        _err(t("feedback.cli_no_secure_dir", dir=str(secure)))
        return ExitCode.USAGE
    target = feedback_dir(secure)
    secrets = _read_passwords(args)
    if secrets is None:
        return ExitCode.USAGE
    password, new_password = secrets
    results: list[dict[str, Any]] = []
    code = ExitCode.OK

    def fail(exc: GatewayError) -> ExitCode:
        _err(exc.message())
        return _GATEWAY_EXIT.get(exc.kind, ExitCode.NETWORK)

    try:
        with GatewayClient(profile.feedback_url, ca_bundle=profile.feedback_ca_bundle) as client:
            _login(client, username, password, new_password)
            password.clear()
            files = client.list_files(new_only=not args.all)
            for remote in files:
                row: dict[str, Any] = {**remote.to_json(), "status": "failed", "path": None, "sha1": None, "matches_profile": False, "error": None}
                results.append(row)
                try:
                    got = client.download(remote, target)
                except GatewayError as exc:
                    if exc.kind in ("auth", "network", "cancelled"):
                        raise
                    row["error"] = exc.message()
                    _err(exc.message())
                    code = ExitCode.NETWORK
                    continue
                parsed = parse_feedback_name(got.path.name)
                row.update(
                    status="present" if got.already_present else "downloaded",
                    path=safe_text(str(got.path), one_line=True),
                    sha1=got.sha1,
                    matches_profile=bool(parsed and parsed.kommunenr == profile.kommunenr and parsed.bydel == profile.bydel),
                )
                if not args.keep_new and remote.is_new:
                    client.mark_not_new(remote.id)
                    row["isNew"] = False
                if args.delete:
                    client.delete(remote.id)
                    row["deleted"] = True
    except GatewayError as exc:
        code = fail(exc)
        if not args.json:
            return code
    except (OSError, UnsafePathError) as exc:  # the secure directory: full disk, wrong owner, ...
        _err(t("feedback.cli_write_failed", detail=str(exc)))
        code = ExitCode.USAGE
        if not args.json:
            return code
    finally:
        password.clear()
        if new_password is not None:
            new_password.clear()

    if args.json:
        print(json.dumps({"gateway": safe_text(profile.feedback_url, one_line=True), "username": safe_text(username, one_line=True), "dir": safe_text(str(target), one_line=True), "files": results}, ensure_ascii=False, indent=2))
        return code
    if not results:
        print(t("feedback.cli_fetch_none"), file=sys.stderr)
    for row in results:
        status = t(f"feedback.cli_status_{row['status']}")
        print(f"{status:12} {row['path'] or '-'}  ({row['name']}, {row['size']} B)")
    return code
