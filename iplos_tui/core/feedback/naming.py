"""The feedback file name ``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip`` and the profile check.

WinZip AES authenticates neither entry names nor which archive a file is, so a gateway could hand
us another municipality's zip; the name is the one label we can check before decrypting.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from iplos_tui.core.feedback.errors import NameRefusal

# Always used with fullmatch: "$" would let a trailing newline through.
FEEDBACK_NAME = re.compile(r"(?P<kommunenr>[0-9]{4})(?P<bydel>[0-9]{2})_iplos_tilbakemelding_(?P<date>[0-9]{8})\.zip", re.ASCII)
# The seed also shows a test file "040300_iplos_test.zip": kommunenr and bydel, no date.
LOOSE_NAME = re.compile(r"(?P<kommunenr>[0-9]{4})(?P<bydel>[0-9]{2})_iplos_[A-Za-z0-9_-]{1,64}\.zip", re.ASCII)
DEFAULT_BYDEL = "00"


@dataclass(frozen=True)
class FeedbackName:
    kommunenr: str
    bydel: str
    date: dt.date | None

    @property
    def iso_date(self) -> str | None:
        return self.date.isoformat() if self.date else None


def parse_feedback_name(name: str) -> FeedbackName | None:
    """The parts of a feedback file name, or None when the name is not one."""
    match = FEEDBACK_NAME.fullmatch(name)
    if match:
        try:
            date = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            return None
        return FeedbackName(match["kommunenr"], match["bydel"], date)
    match = LOOSE_NAME.fullmatch(name)
    if match:
        return FeedbackName(match["kommunenr"], match["bydel"], None)
    return None


def expected_bydel(bydel: str | None) -> str:
    """The profile's bydel as a feedback name carries it: an empty one means "00"."""
    return bydel or DEFAULT_BYDEL


def matches_profile(info: FeedbackName | None, kommunenr: str | None, bydel: str | None) -> bool:
    """The one rule: a feedback name is the profile's when it names the profile's kommunenr and
    bydel ("00" when the profile leaves it empty). Nothing matches a profile without kommunenr."""
    return info is not None and bool(kommunenr) and info.kommunenr == kommunenr and info.bydel == expected_bydel(bydel)


def check_feedback_name(name: str, kommunenr: str | None, bydel: str | None) -> FeedbackName:
    """Parse ``name`` and require the profile's kommunenr and bydel (when a kommunenr is given;
    the bydel is then ``expected_bydel(bydel)``, the same rule as ``matches_profile``)."""
    parsed = parse_feedback_name(name)
    if parsed is None:
        raise NameRefusal("name_unknown", name)
    if not kommunenr:
        return parsed
    if parsed.kommunenr != kommunenr:
        raise NameRefusal("name_kommune", name, found=parsed.kommunenr, expected=kommunenr)
    bydel = expected_bydel(bydel)
    if parsed.bydel != bydel:
        raise NameRefusal("name_bydel", name, found=parsed.bydel, expected=bydel)
    return parsed


def is_safe_feedback_name(name: str) -> bool:
    """True when ``name`` may be used as a local file name as it is (strict pattern, ASCII)."""
    return bool(FEEDBACK_NAME.fullmatch(name) or LOOSE_NAME.fullmatch(name))
