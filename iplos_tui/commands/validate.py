"""`iplos validate EXTRACT [--json] [--year Y]`: check an extract before it is sent.

stderr gets a summary (counts, findings by rule, the first findings, the verdict); with
``--json`` stdout gets the report. Exit 0 with no errors, 1 with errors, 2 when the file cannot
be read as an extract.
"""

from __future__ import annotations

import argparse
import json
import sys

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t

SHOWN_FINDINGS = 10


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
    from iplos_tui.core.text import safe_text

    kommunenr, bydel, profile_year = profile_defaults(args)
    year = args.year if args.year is not None else profile_year
    if year is not None and year not in refdata.supported_years():
        print(f"iplos: {refdata.UnsupportedYear(year)}", file=sys.stderr)
        return ExitCode.USAGE
    if args.max_findings < 0:
        print(f"iplos: {t('validate.bad_max_findings')}", file=sys.stderr)
        return ExitCode.USAGE
    progress = _TerminalProgress()
    try:
        report = validate_file(
            args.extract,
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
        document = {"file": args.extract, **report.to_dict()}
        print(json.dumps(document, ensure_ascii=False, indent=2))

    err = sys.stderr
    print(t("validate.file", path=safe_text(args.extract, one_line=True)), file=err)
    if report.fatal is None or report.persons:
        print(t("validate.counts", persons=report.persons, services=report.services, refusals=report.refusals), file=err)
        print(t("validate.totals", errors=report.errors, warnings=report.warnings), file=err)
    if report.by_rule:
        print(t("validate.by_rule"), file=err)
        from iplos_tui.core.extract.rules import RULES

        for rule, count in sorted(report.by_rule.items(), key=lambda item: (RULES.get(item[0]) != "error", -item[1], item[0])):
            severity = t("validate.severity_" + RULES.get(rule, "error"))
            print(f"  {count:>7}  {severity:<9} {rule:<28} {rule_title(rule)}", file=err)
    if report.findings:
        print(t("validate.first_findings", count=min(SHOWN_FINDINGS, len(report.findings))), file=err)
        for item in report.findings[:SHOWN_FINDINGS]:
            where = t("validate.where", line=item.line or "?", local_id=item.local_id or "-")
            print(f"  {where}: {item.message}", file=err)
        omitted = report.errors + report.warnings - min(SHOWN_FINDINGS, len(report.findings))
        if omitted > 0:
            print(t("validate.more", count=omitted), file=err)
    if report.fatal is not None:
        print(t("validate.verdict_unreadable", reason=str(report.fatal.message) if not report.fatal.line else t("extract.at_line", line=report.fatal.line, message=report.fatal.message)), file=err)
        return ExitCode.USAGE
    if report.errors:
        print(t("validate.verdict_errors", errors=report.errors), file=err)
        return ExitCode.FAILED
    print(t("validate.verdict_ok", warnings=report.warnings), file=err)
    return ExitCode.OK
