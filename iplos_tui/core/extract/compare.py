"""Two extracts compared, rule by rule: what the corrected extract fixed, what is new, what is
still there, by the care system's local id — what the IPLOS contact asks the vendor about.

``compare_files(new, old)`` validates both (every finding kept) and ``compare_reports`` lines
their findings up: per rule the count before and after, and the local ids whose finding went
away (fixed), came (new) or stayed (still there). Findings without a local id (the header, the
file as a whole) count by how many there are. ``render_comparison`` is the text both the CLI
and the Submission pane show.
"""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iplos_tui.core.extract.importer import check_extract_path
from iplos_tui.core.extract.result import Report
from iplos_tui.core.extract.rules import LEVELS, RULES, level_name, rule_title
from iplos_tui.core.extract.validate import validate_file
from iplos_tui.core.i18n import t

if TYPE_CHECKING:
    from iplos_tui.core.config import Profile

_RANK = {level: rank for rank, level in enumerate(LEVELS)}
#: Local ids shown per list unless all are asked for.
DEFAULT_IDS_SHOWN = 20
#: The widest line of the text (the Submission pane's log is 76 columns inside its border at 80).
TEXT_WIDTH = 76


@dataclass(frozen=True)
class RuleChange:
    """One rule in two extracts: the counts before and after, and the local ids, sorted, whose
    finding went away (``fixed``), came (``new``) or stayed (``still``)."""

    rule: str
    level: str
    before: int
    after: int
    fixed: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    still: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "level": self.level,
            "before": self.before,
            "after": self.after,
            "fixed": list(self.fixed),
            "new": list(self.new),
            "still": list(self.still),
        }


@dataclass
class Comparison:
    old: Report
    new: Report
    rules: list[RuleChange] = field(default_factory=list)  # most serious level first, then by id

    def change(self, rule: str) -> RuleChange | None:
        return next((change for change in self.rules if change.rule == rule), None)

    def to_dict(self) -> dict[str, object]:
        return {
            "old": {"counts": dict(self.old.counts), "persons": self.old.persons, "sha256": self.old.sha256},
            "new": {"counts": dict(self.new.counts), "persons": self.new.persons, "sha256": self.new.sha256},
            "rules": [change.to_dict() for change in self.rules],
        }


def _ids(report: Report, rule: str) -> set[str]:
    """The local ids the rule named (findings without one are counted, not named)."""
    return {f.local_id for f in report.findings if f.rule == rule and f.local_id}


def compare_reports(old: Report, new: Report) -> Comparison:
    """Line up two reports made with every finding kept (``validate_file(max_per_rule=None)``)."""
    comparison = Comparison(old, new)
    for rule in sorted(set(old.by_rule) | set(new.by_rule), key=lambda r: (_RANK[RULES[r]], r)):
        before, after = _ids(old, rule), _ids(new, rule)
        comparison.rules.append(
            RuleChange(
                rule,
                RULES[rule],
                old.by_rule.get(rule, 0),
                new.by_rule.get(rule, 0),
                fixed=tuple(sorted(before - after)),
                new=tuple(sorted(after - before)),
                still=tuple(sorted(before & after)),
            )
        )
    return comparison


def compare_files(new: str | os.PathLike[str], old: str | os.PathLike[str], *, validate: Callable[..., Report] = validate_file, **options: object) -> Comparison:
    """Validate ``old`` and ``new`` with the same options (every finding kept) and compare them.
    A file that cannot be opened at all raises its ``ExtractError`` (there is nothing to compare).
    ``validate``: ``validate_file``, or ``core.validation``'s on every core."""
    for path in (old, new):
        check_extract_path(path, **({"allowed_dir": options["allowed_dir"]} if options.get("allowed_dir") else {}))  # type: ignore[arg-type]
    options = {**options, "max_per_rule": None, "max_findings": sys.maxsize}
    return compare_reports(validate(old, **options), validate(new, **options))


def _id_list(label_key: str, ids: tuple[str, ...], limit: int | None) -> str:
    shown = ids if limit is None else ids[:limit]
    text = t(label_key, count=len(ids), ids=", ".join(shown))
    if len(shown) < len(ids):
        text += " " + t("extract.compare.more", count=len(ids) - len(shown))
    return text


def render_comparison(comparison: Comparison, *, new_name: str, old_name: str, ids_shown: int | None = DEFAULT_IDS_SHOWN) -> str:
    """The comparison as text: the totals, a table of the rules, then each rule's local ids."""
    lines = [*_wrapped(t("extract.compare.title", new=new_name, old=old_name), ""), ""]
    for key, report in (("extract.compare.before", comparison.old), ("extract.compare.after", comparison.new)):
        counts = ", ".join(f"{level_name(level)} {count}" for level, count in report.counts.items())
        lines.append(t(key, counts=counts, persons=report.persons))
    if not comparison.rules:
        return "\n".join([*lines, "", t("extract.compare.nothing")]) + "\n"
    # Columns as wide as their words, so that the table fits the pane's log (under 80 columns).
    names = [t(f"extract.compare.col_{key}") for key in ("rule", "level", "before", "after", "fixed", "new", "still")]
    rule_width = max(len(names[0]), *(len(change.rule) for change in comparison.rules)) + 1
    level_width = max(len(names[1]), *(len(level_name(level)) for level in LEVELS)) + 1
    widths = [max(len(name), 5) + 1 for name in names[2:]]
    lines += ["", f"{names[0]:<{rule_width}}{names[1]:<{level_width}}" + "".join(f"{n:>{w}}" for n, w in zip(names[2:], widths))]
    for change in comparison.rules:
        numbers = (change.before, change.after, len(change.fixed), len(change.new), len(change.still))
        lines.append(f"{change.rule:<{rule_width}}{level_name(change.level):<{level_width}}" + "".join(f"{n:>{w}}" for n, w in zip(numbers, widths)))
    for change in comparison.rules:
        if not (change.fixed or change.new or change.still):
            continue
        lines += ["", *_wrapped(t("extract.compare.rule", rule=change.rule, title=rule_title(change.rule), before=change.before, after=change.after), "")]
        for key, ids in (("extract.compare.fixed", change.fixed), ("extract.compare.new", change.new), ("extract.compare.still", change.still)):
            if ids:
                lines += _wrapped(_id_list(key, ids, ids_shown), "  ")
    return "\n".join(lines) + "\n"


def _wrapped(text: str, indent: str) -> list[str]:
    """``text`` in lines of at most TEXT_WIDTH columns (ids and paths are never cut)."""
    return textwrap.wrap(text, TEXT_WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False)


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def previous_extract(secure_dir: str | os.PathLike[str], year: int, current: str | os.PathLike[str]) -> Path | None:
    """The extract of the latest confirmed submission for ``year`` (from the journal) that is still
    on disk unchanged and is not ``current`` itself; None when there is none."""
    from iplos_tui.core.journal import CONFIRMED, Journal

    current_sha = _sha256(Path(current))
    for sub in reversed(Journal(Path(secure_dir)).submissions()):
        if sub.state != CONFIRMED or int(sub.year or 0) != int(year) or not sub.extract_path:
            continue
        sha = _sha256(Path(sub.extract_path))
        if sha is not None and sha == sub.extract_sha256 and sha != current_sha:
            return Path(sub.extract_path)
    return None


def compare_with_previous(path: str | os.PathLike[str], profile: Profile, *, validate: Callable[..., Any] = validate_file) -> tuple[Path, Comparison] | None:
    """``path`` against the extract last sent for the profile's year (the Submission pane's key):
    the same checks as ``iplos validate NEW --compare OLD``. None when nothing was sent before."""
    old = previous_extract(profile.secure_dir, profile.year, path)
    if old is None:
        return None
    options: dict[str, object] = {"year": profile.year, "profile_kommunenr": profile.kommunenr or None, "profile_bydel": profile.bydel or None}
    return old, compare_files(path, old, validate=validate, **options)
