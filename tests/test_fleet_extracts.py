"""A drop folder of extracts matched to municipalities by the header (core/fleet/extracts.py):
never a guess."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iplos_tui.core.config import Profile
from iplos_tui.core.extract.generator import generate_file
from iplos_tui.core.fleet.errors import FleetUsageError as ExtractFolderError
from iplos_tui.core.fleet.extracts import match_folder
from iplos_tui.core.profiles import ProfileEntry


def entries(*ids: str) -> list[ProfileEntry]:
    out = []
    for key in ids:
        kommunenr, _, bydel = key.partition("-")
        out.append(ProfileEntry(key, Path(f"/x/{key}.toml"), Profile(kommunenr=kommunenr, bydel=bydel or "00")))
    return out


def test_each_extract_goes_to_the_profile_its_header_names(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    generate_file(drop / "hamar.xml", persons=3, kommunenr="0403")
    generate_file(drop / "oslo-05.xml", persons=3, kommunenr="0301", bydel="05")
    generate_file(drop / "loten-a.xml", persons=3, kommunenr="0415")
    generate_file(drop / "loten-b.xml", persons=3, kommunenr="0415", seed=2)
    generate_file(drop / "elverum.xml", persons=3, kommunenr="0427")  # no such profile
    (drop / "notes.xml").write_text("<html>not an extract</html>")
    (drop / "link.xml").symlink_to(drop / "hamar.xml")
    (drop / "readme.txt").write_text("ignored: not .xml")
    match = match_folder(drop, entries("0403", "0301-05", "0415", "0417"))
    assert match.matched == {"0403": drop / "hamar.xml", "0301-05": drop / "oslo-05.xml"}
    reasons = {item.path.name: item.reason for item in match.unmatched}
    assert set(reasons) == {"loten-a.xml", "loten-b.xml", "elverum.xml", "notes.xml", "link.xml"}
    assert "loten-a.xml, loten-b.xml" in reasons["loten-a.xml"]
    assert "0427" in reasons["elverum.xml"]
    assert match.missing == ["0415", "0417"]


def test_a_folder_that_cannot_be_read_or_is_too_full_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ExtractFolderError, match="missing"):
        match_folder(tmp_path / "missing", entries("0403"))
    from iplos_tui.core.fleet import extracts

    monkeypatch.setattr(extracts, "MAX_FILES", 2)
    for number in range(3):
        (tmp_path / f"{number}.xml").write_text("x")
    with pytest.raises(ExtractFolderError, match="2"):
        match_folder(tmp_path, entries("0403"))
    os.chmod(tmp_path, 0o700)
