"""Two extracts compared: per rule before and after, fixed / new / still there by local id."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from extractcraft import base_persons, clone, render, synthetic, write
from iplos_tui.core import i18n
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.compare import compare_files, render_comparison


def _extracts(tmp_path):
    """old: A1 and C3 with 170 hours a week, B2 with an unknown household.
    new: A1 corrected, C3 not, B2 not, and D4 (new) with 170 hours."""
    a, b = base_persons()
    c = clone(a)
    c.local_id, c.person_id = "C3", synthetic(1950, 2, 2)
    d = clone(a)
    d.local_id, d.person_id = "D4", synthetic(1951, 3, 3)
    old = [clone(p) for p in (a, b, c)]
    old[0].services[0].hours_per_week = "170"
    old[1].household = "7"
    old[2].services[0].hours_per_week = "170"
    new = [clone(p) for p in (a, b, c, d)]
    new[1].household = "7"
    new[2].services[0].hours_per_week = "170"
    new[3].services[0].hours_per_week = "170"
    return write(tmp_path / "new.xml", render(None, new)), write(tmp_path / "old.xml", render(None, old))


def test_fixed_new_and_still_there_by_local_id(tmp_path):
    new, old = _extracts(tmp_path)
    comparison = compare_files(new, old, year=2017)
    hours = comparison.change("service.hours_range")
    assert (hours.level, hours.before, hours.after) == ("error", 2, 2)
    assert (hours.fixed, hours.new, hours.still) == (("A1",), ("D4",), ("C3",))
    household = comparison.change("person.household")
    assert (household.before, household.after, household.fixed, household.new, household.still) == (1, 1, (), (), ("B2",))
    assert comparison.old.counts["error"] == 2 and comparison.new.counts["error"] == 2
    # every rule of either extract, the most serious first
    assert {c.rule for c in comparison.rules} == set(comparison.old.by_rule) | set(comparison.new.by_rule)
    levels = [("fatal", "error", "warning", "info").index(c.level) for c in comparison.rules]
    assert levels == sorted(levels)

    text = render_comparison(comparison, new_name="new.xml", old_name="old.xml")
    assert "Rettet (1): A1" in text and "Nye (1): D4" in text and "Fortsatt (1): C3" in text
    assert max(len(line) for line in text.splitlines()) <= 76  # fits the pane's log
    many = compare_files(new, old, year=2017)
    many.rules[0] = type(many.rules[0])("service.hours_range", "error", 40, 0, fixed=tuple(f"EO-{n:06d}" for n in range(40)))
    wrapped = render_comparison(many, new_name="new.xml", old_name="old.xml", ids_shown=None)
    assert max(len(line) for line in wrapped.splitlines()) <= 76 and "EO-000039" in wrapped
    i18n.set_language("en")
    english = render_comparison(comparison, new_name="new.xml", old_name="old.xml")
    assert "Fixed (1): A1" in english and max(len(line) for line in english.splitlines()) <= 76


def test_a_rule_gone_entirely_is_listed_as_fixed(tmp_path):
    new, old = _extracts(tmp_path)
    comparison = compare_files(old, new, year=2017)  # the other way round: D4 is "fixed"
    hours = comparison.change("service.hours_range")
    assert (hours.fixed, hours.new, hours.still) == (("D4",), ("A1",), ("C3",))
    clean = write(tmp_path / "clean.xml", render())
    gone = compare_files(clean, old, year=2017).change("person.household")
    assert (gone.before, gone.after, gone.fixed) == (1, 0, ("B2",))


def test_cli_compare_text_and_json(tmp_path):
    new, old = _extracts(tmp_path)
    run = lambda *args: subprocess.run([sys.executable, "-m", "iplos_tui", "validate", str(new), "--compare", str(old), *args],  # noqa: E731
                                       capture_output=True, text=True, env=dict(os.environ), timeout=120)
    text = run()
    assert text.returncode == ExitCode.FAILED, text.stderr  # NEW still has errors
    assert "Rettet (1): A1" in text.stdout and "service.hours_range" in text.stdout
    assert "--accept-errors" in text.stderr and "Traceback" not in text.stderr
    data = json.loads(run("--json").stdout)
    hours = next(r for r in data["rules"] if r["rule"] == "service.hours_range")
    assert hours == {"rule": "service.hours_range", "level": "error", "before": 2, "after": 2, "fixed": ["A1"], "new": ["D4"], "still": ["C3"]}
    assert data["old"]["counts"]["error"] == data["new"]["counts"]["error"] == 2
    missing = subprocess.run([sys.executable, "-m", "iplos_tui", "validate", str(new), "--compare", str(tmp_path / "nope.xml")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == ExitCode.USAGE and missing.stdout == ""
    assert "nope.xml finnes ikke" in missing.stderr and "Traceback" not in missing.stderr


def test_compare_with_the_extract_last_sent(tmp_path):
    """The pane's view: the extract in the path field against the one the journal says was sent."""
    from submit_world import World

    from iplos_tui.core.extract.compare import compare_with_previous
    from iplos_tui.core.extract.generator import generate_file

    world = World(tmp_path / "w", persons=60)
    try:
        assert compare_with_previous(world.extract, world.profile) is None  # nothing sent yet
        assert world.run().state == "confirmed"
        assert compare_with_previous(world.extract, world.profile) is None  # itself is no "before"
        corrected = world.secure / "uttrekk-rettet.xml"
        generate_file(corrected, persons=60, kommunenr="0403", year=2017, error_rate=0.2, seed=3)
        old, comparison = compare_with_previous(corrected, world.profile)
        assert old == world.extract
        assert comparison.new.counts["error"] > 0 and comparison.old.counts["error"] == 0
        assert all(change.fixed == () for change in comparison.rules if change.level != "info")
        world.extract.write_bytes(world.extract.read_bytes() + b"\n")  # the sent file changed since
        assert compare_with_previous(corrected, world.profile) is None
    finally:
        world.close()
