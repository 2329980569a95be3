"""What a validation found: the ``Report``, with its counts per level and per rule.

The one predicate a submission asks is ``Report.blocks_sending``; the counts always add up
(``sum(counts.values()) == sum(by_rule.values()) == len(findings) + findings_omitted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iplos_tui.core.extract.base import ExtractError
from iplos_tui.core.extract.rules import ERROR, FATAL, LEVELS, RULES, WARNING, Finding
from iplos_tui.core.i18n import t

_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def _zero_counts() -> dict[str, int]:
    return dict.fromkeys(LEVELS, 0)


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One rule that fired: its level and how many findings it gave (all of them, kept or not)."""

    rule: str
    level: str
    count: int


@dataclass
class Report:
    """What the validation found.

    The one predicate a submission asks is ``blocks_sending`` (any fatal finding: the file
    cannot be used, and is never sent). Otherwise ``needs_acceptance`` (errors: SSB will flag
    them; sent only after an explicit choice), else ``ok`` (warnings and info never stop it).
    ``counts`` has every level (``fatal``, ``error``, ``warning``, ``info``) as a key.
    """

    persons: int = 0
    services: int = 0
    refusals: int = 0
    counts: dict[str, int] = field(default_factory=_zero_counts)
    by_rule: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # most serious level first, then file order
    findings_omitted: int = 0
    fatal: Finding | None = None  # the file cannot be read as an extract (one of rules.UNREADABLE)
    year: int | None = None
    kommunenr: str | None = None
    bydel: str | None = None
    source_system: str | None = None
    source_version: str | None = None
    size: int | None = None  # bytes of the file (None when it could not be opened)
    sha256: str | None = None  # of the bytes validated, when asked for
    workers: int = 1  # processes that read the file (core.validation); not part of the result

    @property
    def blocks_sending(self) -> bool:
        return self.counts[FATAL] > 0

    @property
    def needs_acceptance(self) -> bool:
        return not self.blocks_sending and self.counts[ERROR] > 0

    @property
    def ok(self) -> bool:
        """Sendable with the normal confirmation: nothing fatal, no error."""
        return not self.blocks_sending and self.counts[ERROR] == 0

    @property
    def errors(self) -> int:
        return self.counts[ERROR]

    @property
    def warnings(self) -> int:
        return self.counts[WARNING]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def block_reason(self) -> str | None:
        """Why the file cannot be sent (the first fatal finding, with its line), or None."""
        if not self.blocks_sending:
            return None
        first = self.fatal or next((f for f in self.findings if f.level == FATAL), None)
        if first is None:  # every fatal finding was capped away (max_findings=0)
            return t("extract.blocked_count", count=self.counts[FATAL])
        return t("extract.at_line", line=first.line, message=first.message) if first.line else first.message

    def rules_fired(self) -> list[RuleCount]:
        """Every rule that fired: the most serious level first, then the commonest, then by id."""
        fired = [RuleCount(rule, RULES[rule], count) for rule, count in self.by_rule.items()]
        return sorted(fired, key=lambda r: (_RANK[r.level], -r.count, r.rule))

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "blocks_sending": self.blocks_sending,
            "needs_acceptance": self.needs_acceptance,
            "persons": self.persons,
            "services": self.services,
            "refusals": self.refusals,
            "counts": dict(self.counts),
            "by_rule": dict(self.by_rule),
            "findings": [f.to_dict() for f in self.findings],
            "findings_omitted": self.findings_omitted,
            "fatal": self.fatal.to_dict() if self.fatal else None,
            "year": self.year,
            "kommunenr": self.kommunenr,
            "bydel": self.bydel,
            "source_system": self.source_system,
            "source_version": self.source_version,
            "size": self.size,
            "sha256": self.sha256,
        }


def fatal_finding(error: ExtractError) -> Finding:
    return Finding(error.rule, RULES.get(error.rule, FATAL), None, error.line, None, None, error.reason)
