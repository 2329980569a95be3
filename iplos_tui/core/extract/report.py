"""The validation report: plain text for a person, CSV for the care-system vendor's tools.

One report covers one extract. Its header says which (municipality number and name, district,
year, source system and version, file name, SHA-256 and size, persons) and how it was checked
(console version, rules catalogue version, date); then come the counts per level, the verdict,
and every rule that fired, most serious first, with its level, title, count, what to fix in the
care system and its findings (the first N per rule, with the true count), each naming the care
system's local id and line. A person id never appears: findings carry it masked.

The CSV is ``;``-separated UTF-8 with BOM, like SSB's own feedback, one row per finding shown,
with stable Norwegian column names whatever the UI language.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING

from iplos_tui.core import refdata
from iplos_tui.core.extract import DEFAULT_PER_RULE
from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.result import Report
from iplos_tui.core.extract.rules import CATALOGUE_VERSION, RULES, Finding, level_name, rule_fix, rule_title
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

if TYPE_CHECKING:
    from iplos_tui.core.config import Profile
    from iplos_tui.core.extract.importer import Progress

#: Findings shown per rule unless all are asked for.
REPORTS_DIR = "reports"
CSV_COLUMNS = (
    "kommunenr",
    "bydel",
    "år",
    "uttrekk_sha256",
    "nivå",
    "regel",
    "tittel",
    "antall",
    "lokal_id",
    "linje",
    "felt",
    "verdi",
    "melding",
    "hva_rette",
)


class ReportError(IplosError):
    """The report cannot be written (no secure directory, or it cannot be written to)."""

    exit_code = ExitCode.USAGE


def limits(per_rule: int | None, max_findings: int | None = None) -> dict[str, int | None]:
    """``validate_file`` options for a report of ``per_rule`` findings per rule (None: all)."""
    if per_rule is None:
        return {"max_per_rule": None, "max_findings": max_findings if max_findings is not None else sys.maxsize}
    return {"max_per_rule": per_rule, "max_findings": max_findings if max_findings is not None else per_rule * len(RULES)}


@dataclass(frozen=True)
class ReportInfo:
    """What the report says about itself besides the validation: the file and when."""

    extract: str  # the extract's name as given (shown safe)
    made_at: dt.datetime

    @classmethod
    def now(cls, extract: str | os.PathLike[str], made_at: dt.datetime | None = None) -> ReportInfo:
        return cls(safe_text(os.fspath(extract), one_line=True, limit=200), made_at or dt.datetime.now().astimezone())


def municipality(report: Report) -> str:
    """"0403 Hamar", or the number alone when it is not in the year's list."""
    number = report.kommunenr or ""
    name = refdata.kommune_name(number, report.year) if report.year and number else None
    shown = safe_text(number, one_line=True, limit=20) or t("extract.report.unknown")
    return f"{shown} {name}" if name else shown


def verdict(report: Report) -> str:
    if report.fatal is not None:
        return t("extract.report.verdict_unreadable", reason=report.block_reason())
    if report.blocks_sending:
        return t("extract.report.verdict_blocked", reason=report.block_reason())
    if report.needs_acceptance:
        return t("extract.report.verdict_accept", errors=report.errors)
    return t("extract.report.verdict_ok")


def counts_line(report: Report) -> str:
    parts = ", ".join(f"{level_name(level)} {count}" for level, count in report.counts.items())
    return t("extract.report.counts", counts=parts, total=report.total)


def _header_rows(report: Report, info: ReportInfo) -> list[tuple[str, str]]:
    from iplos_tui import __version__

    unknown = t("extract.report.unknown")
    source = " ".join(v for v in (report.source_system, report.source_version) if v) or unknown
    size = t("extract.report.bytes", size=report.size) if report.size is not None else unknown
    persons = t("extract.report.persons_value", persons=report.persons, services=report.services, refusals=report.refusals)
    return [
        (t("extract.report.municipality"), municipality(report)),
        (t("extract.report.bydel"), safe_text(report.bydel or "", one_line=True, limit=20) or unknown),
        (t("extract.report.year"), str(report.year) if report.year else unknown),
        (t("extract.report.source"), source),
        (t("extract.report.extract"), info.extract),
        ("SHA-256", report.sha256 or unknown),
        (t("extract.report.size"), size),
        (t("extract.report.persons"), persons),
        (t("extract.report.checked_with"), t("extract.report.versions", version=__version__, catalogue=CATALOGUE_VERSION)),
        (t("extract.report.date"), info.made_at.strftime("%Y-%m-%d %H:%M %z").strip()),
    ]


def finding_place(item: Finding) -> str:
    """"lokal id L0000012, linje 345" (what the vendor looks up), or as much of it as there is."""
    if item.local_id and item.line:
        return t("extract.report.at_id_line", local_id=item.local_id, line=item.line)
    if item.local_id:
        return t("extract.report.at_id", local_id=item.local_id)
    if item.line:
        return t("extract.report.at_line", line=item.line)
    return ""


def render_text(report: Report, info: ReportInfo) -> str:
    """The report for a person: header, verdict, and each rule with its findings."""
    rows = _header_rows(report, info)
    width = max(len(label) for label, _ in rows) + 2
    lines = [t("extract.report.title"), ""]
    lines += [f"{label + ':':<{width}}{value}" for label, value in rows]
    lines += ["", t("extract.report.result", verdict=verdict(report)), counts_line(report)]
    shown = _findings_by_rule(report)
    fired = report.rules_fired()
    if fired:
        lines += ["", t("extract.report.rules_heading")]
    for rule in fired:
        lines += ["", t("extract.report.rule_line", level=level_name(rule.level).upper(), rule=rule.rule, title=rule_title(rule.rule), count=rule.count)]
        lines.append("  " + t("extract.report.fix", fix=rule_fix(rule.rule)))
        items = shown.get(rule.rule, [])
        for item in items:
            place = finding_place(item)
            message = safe_text(item.message, one_line=True)
            lines.append(f"  - {place}: {message}" if place else f"  - {message}")
        if rule.count > len(items):
            lines.append("  " + t("extract.report.more", count=rule.count - len(items)))
    return "\n".join(lines) + "\n"


def _findings_by_rule(report: Report) -> dict[str, list[Finding]]:
    by_rule: dict[str, list[Finding]] = {}
    for item in report.findings:
        by_rule.setdefault(item.rule, []).append(item)
    return by_rule


def render_csv(report: Report) -> bytes:
    """One row per finding shown, ``;``-separated UTF-8 with BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    kommunenr = safe_text(report.kommunenr or "", one_line=True, limit=20)
    bydel = safe_text(report.bydel or "", one_line=True, limit=20)
    year = str(report.year or "")
    shown = _findings_by_rule(report)
    for item in (item for rule in report.rules_fired() for item in shown.get(rule.rule, [])):
        writer.writerow([
            kommunenr,
            bydel,
            year,
            report.sha256 or "",
            level_name(item.level),
            item.rule,
            rule_title(item.rule),
            str(report.by_rule.get(item.rule, 0)),
            item.local_id or "",
            str(item.line or ""),
            item.field or "",
            safe_text(item.value, one_line=True) if item.value is not None else "",
            safe_text(item.message, one_line=True),
            rule_fix(item.rule),
        ])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class WrittenReport:
    text_path: Path
    csv_path: Path


_NOT_DIGITS = re.compile(r"[^0-9]")


def report_stem(report: Report, info: ReportInfo) -> str:
    """``validering-040300-2017-20180105-102233``: who, which year, when (digits only)."""
    kommunenr = report.kommunenr or ""
    who = kommunenr + (report.bydel or "") if not _NOT_DIGITS.search(kommunenr + (report.bydel or "")) else ""
    return f"validering-{who or 'ukjent'}-{report.year or 'ukjent'}-{info.made_at.strftime('%Y%m%d-%H%M%S')}"


def check_secure_dir(secure_dir: str | os.PathLike[str]) -> Path:
    """The secure directory, or ReportError when it does not exist (it is never created here)."""
    secure = Path(secure_dir).expanduser()
    if not secure.is_dir():
        raise ReportError(t("extract.report.no_secure_dir", path=safe_text(str(secure), one_line=True, limit=200)))
    return secure


def write_report(report: Report, info: ReportInfo, secure_dir: str | os.PathLike[str]) -> WrittenReport:
    """Write the text and CSV report into ``<secure_dir>/reports/`` (0600, atomically)."""
    from iplos_tui.core.fsutil import UnsafePathError, atomic_write_bytes, ensure_private_dir

    secure = check_secure_dir(secure_dir)
    shown = safe_text(str(secure), one_line=True, limit=200)
    try:
        directory = ensure_private_dir(secure / REPORTS_DIR)
    except (UnsafePathError, OSError) as exc:
        raise ReportError(t("extract.report.cannot_write", path=shown, error=safe_text(str(exc), one_line=True))) from None
    stem = report_stem(report, info)
    counter = 1
    name = stem
    while (directory / f"{name}.txt").exists() or (directory / f"{name}.csv").exists():
        counter += 1
        name = f"{stem}-{counter}"
    written = WrittenReport(directory / f"{name}.txt", directory / f"{name}.csv")
    try:
        atomic_write_bytes(written.text_path, render_text(report, info).encode("utf-8"), mode=0o600)
        atomic_write_bytes(written.csv_path, render_csv(report), mode=0o600)
    except OSError as exc:
        raise ReportError(t("extract.report.cannot_write", path=shown, error=safe_text(str(exc), one_line=True))) from None
    return written


def report_for_profile(
    path: str | os.PathLike[str],
    profile: Profile,
    *,
    per_rule: int | None = DEFAULT_PER_RULE,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    made_at: dt.datetime | None = None,
    validate: Callable[..., Report] | None = None,
) -> tuple[Report, WrittenReport]:
    """Validate ``path`` as the profile's extract and write its report (the Submission pane's
    key): the same placement rule, checks and files as ``iplos validate --report``."""
    from iplos_tui.core.extract.validate import validate_file
    from iplos_tui.core.fsutil import check_extract_placement

    check_secure_dir(profile.secure_dir)
    placement = check_extract_placement(os.fspath(path), profile.secure_dir)
    report = (validate or validate_file)(
        placement.path,
        year=profile.year,
        profile_kommunenr=profile.kommunenr or None,
        profile_bydel=profile.bydel or None,
        sha256=True,
        progress=progress,
        cancel=cancel,
        **limits(per_rule),  # type: ignore[arg-type]
    )
    return report, write_report(report, ReportInfo.now(path, made_at), profile.secure_dir)
