"""The one formatter (core/format.py): counts, numbers, sizes, dates and times per language."""

from __future__ import annotations

import datetime as dt

import pytest

from iplos_tui.core import format as fmt
from iplos_tui.core import i18n

OSLO = dt.timezone(dt.timedelta(hours=1))


def test_counts_take_the_singular_for_one():
    assert fmt.count(1, "format.warnings") == "1 advarsel"
    assert fmt.count(2, "format.warnings") == "2 advarsler"
    assert fmt.count(0, "format.warnings") == "0 advarsler"
    assert fmt.count(1, "format.deliveries") == "1 leveranse"
    i18n.set_language("en")
    assert fmt.count(1, "format.warnings") == "1 warning"
    assert fmt.count(3, "format.errors") == "3 errors"


def test_every_counted_noun_has_both_forms():
    keys = [key for key in i18n.catalog() if key.startswith("format.") and key.endswith((".one", ".other"))]
    stems = {key.rsplit(".", 1)[0] for key in keys}
    assert stems
    for stem in stems:
        assert f"{stem}.one" in keys and f"{stem}.other" in keys, stem
        for form in ("one", "other"):
            assert "{n}" in i18n.catalog()[f"{stem}.{form}"]["nb"]


def test_numbers_use_the_languages_decimal_mark_and_grouping():
    assert fmt.number(2.5, 1) == "2,5"
    assert fmt.number(12345) == "12\u00a0345"
    assert fmt.count(12345, "format.persons") == "12\u00a0345 personer"
    i18n.set_language("en")
    assert fmt.number(2.5, 1) == "2.5"
    assert fmt.number(1234567.25, 2) == "1,234,567.25"


@pytest.mark.parametrize(
    ("n_bytes", "nb", "en"),
    [(812, "812\u00a0B", "812\u00a0B"), (1_572_864, "1,5\u00a0MiB", "1.5\u00a0MiB"), (223 * 1024**3, "223,0\u00a0GiB", "223.0\u00a0GiB")],
)
def test_sizes_in_binary_units(n_bytes, nb, en):
    assert fmt.size(n_bytes) == nb
    i18n.set_language("en")
    assert fmt.size(n_bytes) == en


def test_dates_and_times_never_raw_iso():
    moment = dt.datetime(2018, 1, 8, 9, 30, 12, tzinfo=OSLO)
    assert fmt.date(moment.date()) == "8.1.2018"
    assert fmt.time(moment, tz=OSLO) == "09:30"
    assert fmt.moment(moment, tz=OSLO) == "8.1.2018 09:30"
    assert fmt.moment("2018-01-08T09:30:12+01:00", tz=OSLO) == "8.1.2018 09:30"
    assert fmt.moment("2018-01-08T08:30:12Z", tz=OSLO) == "8.1.2018 09:30"
    assert fmt.date("2018-03-21") == "21.3.2018"
    i18n.set_language("en")
    assert fmt.date(dt.date(2018, 3, 21)) == "21 Mar 2018"
    assert fmt.moment(moment, tz=OSLO) == "8 Jan 2018 09:30"


def test_a_value_that_is_not_a_time_is_shown_plainly_not_raised():
    shown = fmt.moment("later today\x1b[2J")
    assert "later today" in shown and "\x1b" not in shown
    assert fmt.date("not-a-date") == "not-a-date"


def test_durations():
    assert fmt.duration(45) == "45 s"
    assert fmt.duration(200) == "3 min 20 s"
    assert fmt.duration(7500) == "2 t 5 min"
    i18n.set_language("en")
    assert fmt.duration(7500) == "2 h 5 min"


def test_the_submission_and_profile_lines_count_one_in_the_singular():
    """Issue 14 item 13 beyond the formatter itself: the lines built from counts use it."""
    from iplos_tui.core.i18n import t
    from iplos_tui.core.preparation import levels_text

    assert levels_text({"fatal": 1, "error": 1, "warning": 1, "info": 3}) == "1 kritisk feil, 1 feil, 1 advarsel, 3 info"
    assert levels_text({"fatal": 0, "error": 2, "warning": 2}) == "0 kritiske feil, 2 feil, 2 advarsler, 0 info"
    one = t("submit.encrypted", parts=fmt.count(1, "format.files"), size="1 KiB")
    assert "1 fil kryptert" in one
    assert "1 fil, " in t("submit.uploaded", count=fmt.count(1, "format.files"), size="1 KiB", rate="1 KiB")
    line = t("config.check_failed", errors=fmt.count(1, "format.errors"), warnings=fmt.count(1, "format.warnings"))
    assert line == "Profilen har 1 feil og 1 advarsel."


def test_journal_times_read_as_people_write_them():
    """Issue 14 item 1: "8.1.2018 09:31" (the record's own wall time), not "09:31 08.01.2018"."""
    from iplos_tui.core.journal import short_time

    assert short_time("2018-01-08T09:31:00+01:00") == "8.1.2018 09:31"
    i18n.set_language("en")
    try:
        assert short_time("2018-01-08T09:31:00+01:00") == "8 Jan 2018 09:31"
    finally:
        i18n.set_language("nb")
    assert "\x1b" not in short_time("not a time\x1b[2J")
