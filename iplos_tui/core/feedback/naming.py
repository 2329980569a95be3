"""The feedback file name ``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip`` and the profile check.

WinZip AES authenticates neither entry names nor which archive a file is, so a gateway could hand
us another municipality's zip; the name is the one label we can check before decrypting.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from iplos_tui.core.feedback.errors import NameRefusal

FEEDBACK_NAME = re.compile(r"^(?P<kommunenr>[0-9]{4})(?P<bydel>[0-9]{2})_iplos_tilbakemelding_(?P<date>[0-9]{8})\.zip$", re.ASCII)
# The seed also shows a test file "040300_iplos_test.zip": kommunenr and bydel, no date.
LOOSE_NAME = re.compile(r"^(?P<kommunenr>[0-9]{4})(?P<bydel>[0-9]{2})_iplos_[A-Za-z0-9_-]{1,64}\.zip$", re.ASCII)


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
    match = FEEDBACK_NAME.match(name)
    if match:
        try:
            date = dt.datetime.strptime(match["date"], "%Y%m%d").date()
        except ValueError:
            return None
        return FeedbackName(match["kommunenr"], match["bydel"], date)
    match = LOOSE_NAME.match(name)
    if match:
        return FeedbackName(match["kommunenr"], match["bydel"], None)
    return None


def check_feedback_name(name: str, kommunenr: str | None, bydel: str | None) -> FeedbackName:
    """Parse ``name`` and require the profile's kommunenr and bydel (when given)."""
    parsed = parse_feedback_name(name)
    if parsed is None:
        raise NameRefusal("name_unknown", name)
    if kommunenr and parsed.kommunenr != kommunenr:
        raise NameRefusal("name_kommune", name, found=parsed.kommunenr, expected=kommunenr)
    if bydel and parsed.bydel != bydel:
        raise NameRefusal("name_bydel", name, found=parsed.bydel, expected=bydel)
    return parsed


def is_safe_feedback_name(name: str) -> bool:
    """True when ``name`` may be used as a local file name as it is (strict pattern, ASCII)."""
    return bool(FEEDBACK_NAME.match(name) or LOOSE_NAME.match(name))
