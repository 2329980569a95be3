"""`iplos keys show [--json]`: the SSB and TPF certificates, and whether they may be used for the year."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help=t("keys.help_keys"), description=t("keys.help_keys"))
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True, parser_class=type(parser))
    show = actions.add_parser("show", help=t("keys.help_show"), description=t("keys.help_show"))
    show.add_argument("--ssb-cert", metavar="FILE", help=t("keys.help_ssb_cert"))
    show.add_argument("--tpf-cert", metavar="FILE", help=t("keys.help_tpf_cert"))
    show.add_argument("--year", type=int, metavar="YEAR", help=t("keys.help_year"))
    show.add_argument("--json", action="store_true", help=t("cli.help_json"))
    show.set_defaults(handler=run)


def inspect_certificate(role: str, path: Path, year: int, fingerprint: str = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """Load, describe and check one certificate: the JSON-ready entry ``keys show`` prints."""
    from iplos_tui.core.keys import CertificateError, check_for_encryption, describe, load_certificate

    entry: dict[str, Any] = {"role": role, "path": safe_text(str(path), one_line=True), "ok": False, "error": None}
    try:
        cert = load_certificate(path)
    except CertificateError as exc:
        entry["error"] = str(exc)
        return entry
    entry["certificate"] = describe(cert).to_dict()
    problems = check_for_encryption(cert, year, expected_fingerprint=fingerprint or None, now=now)
    entry["problems"] = [p.to_dict() for p in problems]
    entry["ok"] = not problems
    return entry


def _print_entry(entry: dict[str, Any], year: int) -> None:
    from iplos_tui.core.keys import format_fingerprint

    print(f"{t('keys.show_role')}: {entry['role'].upper()}  ({entry['path']})")
    if entry["error"]:
        print(f"  {t('keys.show_problem', message=entry['error'])}")
        return
    info = entry["certificate"]
    key = f"{info['key_type']} {info['key_size'] or ''}".strip()
    if info.get("key_detail"):
        key += f" ({info['key_detail']})"
    rows = [
        (t("keys.show_subject"), info["subject"]),
        (t("keys.show_issuer"), info["issuer"]),
        (t("keys.show_serial"), info["serial"]),
        (t("keys.show_validity"), f"{info['not_before']} – {info['not_after']}"),
        (t("keys.show_key"), key),
        (t("keys.show_sha256"), format_fingerprint(info["sha256"])),
        (t("keys.show_spki"), format_fingerprint(info["spki_sha256"])),
    ]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    if entry["ok"]:
        print(f"  {t('keys.show_ok', year=year)}")
    for problem in entry["problems"]:
        print(f"  {t('keys.show_problem', message=problem['message'])}")


def run(args: argparse.Namespace) -> ExitCode:
    profile = args.profile
    year = args.year or getattr(profile, "year", None)
    if not year:
        print(f"iplos: {t('keys.show_no_year')}", file=sys.stderr)
        return ExitCode.USAGE
    chosen = [
        ("ssb", args.ssb_cert or getattr(profile, "ssb_certificate", None), getattr(profile, "ssb_fingerprint", "")),
        ("tpf", args.tpf_cert or getattr(profile, "tpf_certificate", None), getattr(profile, "tpf_fingerprint", "")),
    ]
    entries = [inspect_certificate(role, Path(path), int(year), fingerprint) for role, path, fingerprint in chosen if path]
    if not entries:
        print(f"iplos: {t('keys.show_none')}", file=sys.stderr)
        return ExitCode.USAGE
    ok = all(entry["ok"] for entry in entries)
    if args.json:
        print(json.dumps({"year": int(year), "ok": ok, "certificates": entries}, ensure_ascii=False, indent=2))
    else:
        for index, entry in enumerate(entries):
            if index:
                print()
            _print_entry(entry, int(year))
    return ExitCode.OK if ok else ExitCode.FAILED
