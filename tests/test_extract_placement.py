"""Issue 11 item 11: one rule for where an extract may lie, the same in `iplos validate` and in the
submission. An extract outside the secure directory, or readable by others, was accepted
silently; a symlinked extract passed `validate` but failed `submit`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from iplos_tui.core import config as cfg
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.fsutil import check_extract_placement
from iplos_tui.core.i18n import t


def iplos(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iplos_tui", *args], capture_output=True, text=True, input=stdin, timeout=120, env=os.environ)


@pytest.fixture
def setup(tmp_path, valid_profile):
    config = tmp_path / "c" / "config.toml"
    cfg.save_profile(valid_profile, config)
    return valid_profile.secure_dir, config


def _extract(path, mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_file(path, persons=3, kommunenr="0403", year=2017)
    os.chmod(path, mode)
    return path


def test_the_rule(tmp_path, secure_dir):
    inside = _extract(secure_dir / "ok.xml")
    assert check_extract_placement(inside, secure_dir).warnings == ()
    outside = _extract(tmp_path / "elsewhere" / "x.xml")
    readable = _extract(secure_dir / "open.xml", 0o644)
    link = secure_dir / "link.xml"
    link.symlink_to(outside)
    assert check_extract_placement(outside, secure_dir).warnings == (t("fsutil.extract_outside", path=outside, secure=secure_dir),)
    assert check_extract_placement(readable, secure_dir).warnings == (t("fsutil.extract_readable", path=readable, mode="0644"),)
    linked = check_extract_placement(link, secure_dir)
    assert linked.path == outside  # the real file is what is read and sent
    assert linked.warnings == (t("fsutil.extract_symlink", path=link, real=outside), t("fsutil.extract_outside", path=outside, secure=secure_dir))


@pytest.mark.parametrize("case", ["outside", "readable"])
def test_validate_says_why(tmp_path, setup, case):
    secure, config = setup
    extract = _extract(tmp_path / "elsewhere" / "x.xml") if case == "outside" else _extract(secure / "x.xml", 0o644)
    result = iplos("--config", str(config), "validate", str(extract))
    assert result.returncode == ExitCode.OK, result.stderr  # a warning, not a refusal
    expected = "mv " if case == "outside" else "chmod 600"
    assert expected in result.stderr and str(extract) in result.stderr
    with_json = iplos("--config", str(config), "validate", str(extract), "--json")
    import json

    assert json.loads(with_json.stdout)["placement_warnings"]


def test_a_symlinked_extract_is_the_same_file_for_validate_and_submit(tmp_path):
    """`submit` refused a symlink (O_NOFOLLOW) that `validate` had followed; now both use the
    real file and both say so."""
    from submit_world import PIN_CANARY, World

    world = World(tmp_path / "world", persons=20)
    try:
        link = world.secure / "latest.xml"
        link.symlink_to(world.extract)
        validated = world.cli("validate", str(link), pin=None)
        assert validated.returncode == ExitCode.OK and str(world.extract) in validated.stderr
        sent = world.cli("submit", str(link), "--yes", "--pin-stdin", pin=PIN_CANARY)
        assert sent.returncode == ExitCode.OK, sent.stderr
        assert str(world.extract) in sent.stderr  # the same note: the real file is the one sent
    finally:
        world.close()


def test_the_submission_warns_as_validate_does(tmp_path):
    from submit_world import World

    world = World(tmp_path / "world", persons=20)
    try:
        outside = tmp_path / "elsewhere" / "x.xml"
        outside.parent.mkdir()
        outside.write_bytes(world.extract.read_bytes())
        os.chmod(outside, 0o644)
        events = []
        with world.pipeline(events) as pipeline:
            pipeline.prepare(outside)
        warnings = [event.text for event in events if getattr(event, "level", "") == "warning"]
        assert check_extract_placement(outside, world.secure).warnings == tuple(warnings[:2])
    finally:
        world.close()


async def test_the_submission_pane_warns_as_validate_does(tmp_path, valid_profile):
    """F5 on the Submission pane: the same warnings in the live log."""
    from iplos_tui.app import IplosApp
    from tests.support import FROZEN_NOW, wait_until

    outside = _extract(tmp_path / "elsewhere" / "x.xml", 0o644)
    app = IplosApp(valid_profile, tmp_path / "c" / "config.toml", initial_mode="submission", clock=lambda: FROZEN_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen
        pane.query_one("#sub-path").value = str(outside)
        await pilot.press("f5")
        await wait_until(pilot, lambda: not pane.running and pane.query_one("#sub-log").lines)
        await pilot.pause(0.3)  # the drain timer
        log = "\n".join(pane.query_one("#sub-log").lines)
    for warning in check_extract_placement(outside, valid_profile.secure_dir).warnings:
        assert warning[:60] in log
