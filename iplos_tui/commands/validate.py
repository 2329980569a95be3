"""`iplos validate EXTRACT [--json] [--year Y]`: check an extract before it is sent.

stderr gets a summary (counts per level, findings by rule, the first findings, the verdict);
with ``--json`` stdout gets the report. Exit 0 when it can be sent as it is (warnings and info
only), 1 with errors or a fatal finding, 2 when the file cannot be read as an extract.
"""

from __future__ import annotations

import argparse
import json
import sys

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

SHOWN_FINDINGS = 10


class BadOption(IplosError):
    exit_code = ExitCode.USAGE


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("validate", help=t("validate.help"), description=t("validate.description"))
    parser.add_argument("extract", metavar="EXTRACT", help=t("validate.help_extract"))
    parser.add_argument("--json", action="store_true", help=t("cli.help_json"))
    parser.add_argument("--year", type=int, metavar="Y", help=t("validate.help_year"))
    parser.add_argument("--max-findings", type=int, default=1000, metavar="N", help=t("validate.help_max_findings"))
    parser.add_argument("--reject-synthetic", action="store_true", help=t("validate.help_reject_synthetic"))
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
    from iplos_tui.core.extract.rules import rule_title
    from iplos_tui.core.extract.validate import validate_file
    from iplos_tui.core.fsutil import check_extract_placement
    from iplos_tui.core.text import safe_text

    kommunenr, bydel, profile_year = profile_defaults(args)
    year = args.year if args.year is not None else profile_year
    if year is not None and year not in refdata.supported_years():
        raise BadOption(str(refdata.UnsupportedYear(year)))
    if args.max_findings < 0:
        raise BadOption(t("validate.bad_max_findings"))
    profile = getattr(args, "profile", None)
    placement = check_extract_placement(args.extract, getattr(profile, "secure_dir", None))  # the same rule as the submission
    progress = _TerminalProgress()
    try:
        report = validate_file(
            placement.path,
            year=year,
            profile_kommunenr=kommunenr,
            profile_bydel=bydel,
            allow_synthetic=not args.reject_synthetic,
            max_findings=args.max_findings,
            progress=progress,
        )
    finally:
        progress.clear()

    if args.json:
        document = {"file": args.extract, "placement_warnings": list(placement.warnings), **report.to_dict()}
        print(json.dumps(document, ensure_ascii=False, indent=2))

    err = sys.stderr
    print(t("validate.file", path=safe_text(args.extract, one_line=True)), file=err)
    for warning in placement.warnings:
        print(f"{t('cli.mark_warning')} {safe_text(warning, one_line=True)}", file=err)
    if report.fatal is None or report.persons:
        print(t("validate.counts", persons=report.persons, services=report.services, refusals=report.refusals), file=err)
    print(t("validate.totals", **report.counts), file=err)
    fired = report.rules_fired()
    if fired:
        print(t("validate.by_rule"), file=err)
        for rule in fired:
            level = t("validate.level_" + rule.level)
            print(f"  {rule.count:>7}  {level:<9} {rule.rule:<28} {rule_title(rule.rule)}", file=err)
    if report.findings:
        print(t("validate.first_findings", count=min(SHOWN_FINDINGS, len(report.findings))), file=err)
        for item in report.findings[:SHOWN_FINDINGS]:
            where = t("validate.where", line=item.line or "?", local_id=item.local_id or "-")
            print(f"  {where}: {item.message}", file=err)
        omitted = report.total - min(SHOWN_FINDINGS, len(report.findings))
        if omitted > 0:
            print(t("validate.more", count=omitted), file=err)
    if report.fatal is not None:
        print(t("validate.verdict_unreadable", reason=report.block_reason()), file=err)
        return ExitCode.USAGE
    if report.blocks_sending:
        print(t("validate.verdict_blocked", reason=report.block_reason()), file=err)
        return ExitCode.FAILED
    if report.needs_acceptance:
        print(t("validate.verdict_errors", errors=report.errors), file=err)
        return ExitCode.FAILED
    print(t("validate.verdict_ok", warnings=report.warnings), file=err)
    return ExitCode.OK
