"""`iplos validate EXTRACT [--json] [--all] [--report] [--year Y] [--workers N]`: check an extract before it is sent.

stdout carries the data: the human report (core/extract/report.py) or, with ``--json``, the
report as JSON. stderr carries diagnostics: progress, where ``--report`` wrote its files, and with
``--json`` the verdict. Exit 0 when it can be sent as it is (warnings and info only), 1 with
errors or a fatal finding, 2 when the file cannot be read as an extract.
"""

from __future__ import annotations

import argparse
import json
import sys

from iplos_tui.commands.options import add_workers
from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t


class BadOption(IplosError):
    exit_code = ExitCode.USAGE


def register(subparsers: argparse._SubParsersAction) -> None:
    from iplos_tui.core.extract import DEFAULT_PER_RULE

    parser = subparsers.add_parser("validate", help=t("validate.help"), description=t("validate.description"))
    parser.add_argument("extract", metavar="EXTRACT", help=t("validate.help_extract"))
    parser.add_argument("--json", action="store_true", help=t("cli.help_json"))
    parser.add_argument("--all", action="store_true", help=t("validate.help_all"))
    parser.add_argument("--per-rule", type=int, default=DEFAULT_PER_RULE, metavar="N", help=t("validate.help_per_rule", count=DEFAULT_PER_RULE))
    parser.add_argument("--report", action="store_true", help=t("validate.help_report"))
    parser.add_argument("--compare", metavar="OLD", help=t("validate.help_compare"))
    parser.add_argument("--year", type=int, metavar="Y", help=t("validate.help_year"))
    parser.add_argument("--max-findings", type=int, default=1000, metavar="N", help=t("validate.help_max_findings"))
    parser.add_argument("--reject-synthetic", action="store_true", help=t("validate.help_reject_synthetic"))
    add_workers(parser, t("validate.help_workers"))
    parser.set_defaults(handler=run)


def profile_defaults(args: argparse.Namespace) -> tuple[str | None, str | None, int | None]:
    """(kommunenr, bydel, year) of a configured profile; all None when none is set up."""
    profile = getattr(args, "profile", None)
    if profile is None or not getattr(profile, "kommunenr", ""):
        return None, None, None
    return profile.kommunenr, getattr(profile, "bydel", None) or None, getattr(profile, "year", None)


class _TerminalProgress:
    """A percentage on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        percent = int(done * 100 / total) if total else 100
        if self.enabled and percent != self.shown:
            self.shown = percent
            print(f"\r{t('validate.progress', percent=percent)}", end="", file=sys.stderr, flush=True)

    def clear(self) -> None:
        if self.enabled and self.shown >= 0:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core import refdata
    from iplos_tui.core.extract import report as reporting
    from iplos_tui.core.fsutil import check_extract_placement
    from iplos_tui.core.text import safe_text
    from iplos_tui.core.validation import validate_file

    kommunenr, bydel, profile_year = profile_defaults(args)
    year = args.year if args.year is not None else profile_year
    if year is not None and year not in refdata.supported_years():
        raise BadOption(str(refdata.UnsupportedYear(year)))
    if args.max_findings < 0:
        raise BadOption(t("validate.bad_max_findings"))
    if args.per_rule < 1:
        raise BadOption(t("validate.bad_per_rule"))
    secure_dir = _secure_dir(args) if args.report else None
    info = reporting.ReportInfo.now(args.extract)
    profile = getattr(args, "profile", None)
    options = {"year": year, "profile_kommunenr": kommunenr, "profile_bydel": bydel, "allow_synthetic": not args.reject_synthetic, "sha256": True, **_pool(args, profile)}
    placement = check_extract_placement(args.extract, getattr(profile, "secure_dir", None))  # the same rule as the submission
    for warning in placement.warnings:
        print(f"{t('cli.mark_warning')} {safe_text(warning, one_line=True)}", file=sys.stderr)
    if args.compare:
        return _compare(args, placement.path, options, secure_dir, info)
    progress = _TerminalProgress()
    try:
        report = validate_file(
            placement.path,
            progress=progress,
            **options,
            **reporting.limits(None if args.all else args.per_rule, None if args.all else args.max_findings),
        )
    finally:
        progress.clear()
    if report.workers > 1:
        print(t("validate.log_workers", workers=report.workers), file=sys.stderr)

    opened = report.size is not None  # a file that could not even be opened gets no report
    if args.json:
        print(json.dumps({"file": args.extract, "placement_warnings": list(placement.warnings), **report.to_dict()}, ensure_ascii=False, indent=2))
        print(t("validate.verdict", verdict=reporting.verdict(report)), file=sys.stderr)
    elif opened:
        sys.stdout.write(reporting.render_text(report, info))
    else:
        print(f"iplos: {report.block_reason()}", file=sys.stderr)
    if secure_dir is not None and opened:
        written = reporting.write_report(report, info, secure_dir)
        print(t("validate.report_written", text=str(written.text_path), csv=str(written.csv_path)), file=sys.stderr)
    return _exit_code(report)


def _exit_code(report) -> ExitCode:
    if report.fatal is not None:
        return ExitCode.USAGE
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _compare(args: argparse.Namespace, new_path, options: dict, secure_dir, info) -> ExitCode:
    """NEW against OLD: per rule before/after, fixed / new / still there by local id."""
    from iplos_tui.core.extract import report as reporting
    from iplos_tui.core.extract.compare import DEFAULT_IDS_SHOWN, render_comparison
    from iplos_tui.core.fsutil import check_extract_placement
    from iplos_tui.core.text import safe_text
    from iplos_tui.core.validation import compare_files

    old = check_extract_placement(args.compare, getattr(getattr(args, "profile", None), "secure_dir", None))
    for warning in old.warnings:
        print(f"{t('cli.mark_warning')} {safe_text(warning, one_line=True)}", file=sys.stderr)
    comparison = compare_files(new_path, old.path, **options)
    if args.json:
        print(json.dumps({"file": args.extract, "old_file": args.compare, **comparison.to_dict()}, ensure_ascii=False, indent=2))
    else:
        names = {"new_name": safe_text(args.extract, one_line=True), "old_name": safe_text(args.compare, one_line=True)}
        sys.stdout.write(render_comparison(comparison, ids_shown=None if args.all else DEFAULT_IDS_SHOWN, **names))
    print(t("validate.verdict", verdict=reporting.verdict(comparison.new)), file=sys.stderr)
    if secure_dir is not None and comparison.new.size is not None:
        written = reporting.write_report(comparison.new, info, secure_dir)
        print(t("validate.report_written", text=str(written.text_path), csv=str(written.csv_path)), file=sys.stderr)
    return _exit_code(comparison.new)


def _pool(args: argparse.Namespace, profile) -> dict:
    """``--workers`` (else the profile's ``sendemodul.workers``) and the profile's part size as
    the chunk size, as for a submission."""
    from iplos_tui.core.config import DEFAULT_PART_SIZE

    workers = args.workers if args.workers is not None else getattr(profile, "workers", 1)
    return {"workers": workers, "chunk_size": getattr(profile, "part_size", None) or DEFAULT_PART_SIZE}


def _secure_dir(args: argparse.Namespace):
    """The profile's secure directory, checked before the validation starts."""
    from iplos_tui.core.extract.report import check_secure_dir

    profile = getattr(args, "profile", None)
    if profile is None or not getattr(profile, "kommunenr", "") or not getattr(profile, "secure_dir", None):
        raise BadOption(t("validate.no_profile_for_report"))
    return check_secure_dir(profile.secure_dir)
