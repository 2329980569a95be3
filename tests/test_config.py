"""The profile file: round trips, TOML injection, permissions, errors with file/key/line."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iplos_tui.core import config as cfg
from iplos_tui.core.i18n import t


def test_round_trip_keeps_identifiers_as_strings(tmp_path, valid_profile):
    path = tmp_path / "conf" / "config.toml"
    profile = valid_profile.replace(kommunenr="0301", bydel="05", sendemodul_spki_pins=["abc", "def"])
    cfg.save_profile(profile, path)
    loaded = cfg.load_profile(path)
    assert loaded == profile
    assert loaded.kommunenr == "0301" and isinstance(loaded.kommunenr, str)
    raw = tomllib.loads(path.read_text())
    assert raw["profile"]["kommunenr"] == "0301"


def test_saved_file_is_0600_in_a_0700_directory(tmp_path, valid_profile):
    path = tmp_path / "new" / "deeper" / "config.toml"
    cfg.save_profile(valid_profile, path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp left behind


def test_save_refuses_a_directory_open_to_others(tmp_path, valid_profile):
    directory = tmp_path / "open"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    with pytest.raises(cfg.ConfigError, match="chmod 700"):
        cfg.save_profile(valid_profile, directory / "config.toml")
    assert not (directory / "config.toml").exists()


@pytest.mark.parametrize(
    "value",
    [
        'x"\n[secrets]\npin = "0000',
        "line1\nline2",
        "[section]",
        "\x1b[31mred",
        "[red]markup[/]",
        'quote " and \\ backslash',
        "tab\tand\rcr",
    ],
)
def test_toml_injection_round_trips_unchanged(tmp_path, valid_profile, value):
    path = tmp_path / "c" / "config.toml"
    profile = valid_profile.replace(bydel=value, contact_email=value, proxy=value)
    cfg.save_profile(profile, path)
    document = tomllib.loads(path.read_text())
    assert set(document) == set(cfg.SECTIONS)  # no extra table smuggled in
    assert cfg.load_profile(path) == profile


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_round_trips(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("prop") / "c" / "config.toml"
    profile = cfg.Profile(kommunenr=text, postmottak=text, secure_dir=Path("/srv/secure"))
    cfg.save_profile(profile, path)
    assert cfg.load_profile(path) == profile


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_readable_is_refused(tmp_path, mode):
    path = _write(tmp_path / "c" / "config.toml", "[profile]\n", mode)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert "chmod 600" in info.value.reason


def test_symlink_is_refused(tmp_path):
    target = _write(tmp_path / "real.toml", "[profile]\n")
    link = tmp_path / "c" / "config.toml"
    link.parent.mkdir()
    link.symlink_to(target)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(link)
    assert info.value.reason == t("config.fix_symlink", path=link)


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(fifo)
    assert info.value.reason == t("config.fix_not_regular", path=fifo)


def test_not_ours_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file owned by another uid")
    path = _write(tmp_path / "c" / "config.toml", "[profile]\n")
    os.chown(path, 12345, 12345)
    with pytest.raises(cfg.ConfigError, match="12345"):
        cfg.load_profile(path)


def test_bad_toml_names_file_and_line(tmp_path):
    path = _write(tmp_path / "c" / "config.toml", '[profile]\nkommunenr = "0301"\nbydel = \n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.path == path and info.value.line == 3
    assert str(path) in str(info.value) and ":3" in str(info.value)


def test_wrong_type_names_key_and_line(tmp_path):
    path = _write(tmp_path / "c" / "config.toml", '[profile]\nbydel = "00"\nkommunenr = 301\n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.key == "profile.kommunenr" and info.value.line == 3
    assert "0301" in info.value.reason  # says how to write it


def test_unknown_key_and_pin_key_are_refused(tmp_path):
    path = _write(tmp_path / "c" / "config.toml", '[profile]\nkommunenr = "0301"\npin = "1234"\n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.key == "profile.pin" and info.value.line == 3


def test_unknown_section_is_refused(tmp_path):
    path = _write(tmp_path / "c" / "config.toml", '[secrets]\npin = "1"\n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.key == "secrets" and info.value.line == 1


def test_missing_file_gives_defaults(tmp_path):
    assert cfg.load_profile(tmp_path / "none.toml") == cfg.Profile()


def test_path_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("IPLOS_CONFIG", str(tmp_path / "env.toml"))
    assert cfg.resolve_config_path(tmp_path / "cli.toml") == (tmp_path / "cli.toml", "--config")
    assert cfg.resolve_config_path(None) == (tmp_path / "env.toml", "$IPLOS_CONFIG")
    monkeypatch.delenv("IPLOS_CONFIG")
    path, source = cfg.resolve_config_path(None)
    assert source == "default" and path.name == "config.toml" and "iplos-tui" in str(path)
    assert str(path).startswith(os.environ["XDG_CONFIG_HOME"])


def test_example_file_is_in_sync_and_documents_every_key():
    example = Path(__file__).parent.parent / "config.example.toml"
    assert example.read_text() == cfg.example_toml(), "regenerate: python -c 'from iplos_tui.core.config import example_toml; print(example_toml(), end=\"\")' > config.example.toml"
    document = tomllib.loads(example.read_text())
    for spec in cfg.FIELDS:
        assert spec.key in document[spec.section]
    assert not any(key.lower().startswith("pin") for table in document.values() for key in table)


def test_validate_profile_reports_reasons(valid_profile):
    assert [p for p in cfg.validate_profile(valid_profile) if p.severity == "error"] == []
    problems = {p.attr: p for p in cfg.validate_profile(valid_profile.replace(kommunenr="1601", year=2018, orgnr="974550572"))}
    assert problems["kommunenr"].severity == "error" and "5001" in problems["kommunenr"].message
    assert problems["orgnr"].severity == "error" and problems["orgnr"].message


def test_submission_window():
    import datetime as dt

    assert cfg.submission_window(2017) == (dt.date(2018, 1, 2), dt.date(2018, 1, 15), dt.date(2018, 3, 21))


# --- issue 11: a profile that the loader refuses is never saved; hostile files explained ---------


def test_a_huge_paste_is_not_saved_and_the_file_stays_loadable(tmp_path, valid_profile):
    """Item 10: a 1 MB paste was saved, then every command refused the >256 KiB file."""
    path = tmp_path / "c" / "config.toml"
    cfg.save_profile(valid_profile, path)
    before = path.read_bytes()
    for attr in ("contact_email", "postmottak", "proxy", "sendemodul_url", "ssb_fingerprint"):
        with pytest.raises(cfg.ConfigError) as info:
            cfg.save_profile(valid_profile.replace(**{attr: "x" * 1_000_000}), path)
        assert info.value.key == cfg.FIELD_BY_ATTR[attr].dotted
        assert path.read_bytes() == before  # untouched, still loads
    with pytest.raises(cfg.ConfigError):
        cfg.save_profile(valid_profile.replace(secure_dir=Path("/" + "d" * 5000)), path)
    with pytest.raises(cfg.ConfigError):
        cfg.save_profile(valid_profile.replace(sendemodul_spki_pins=["p" * 64] * 10_000), path)
    assert cfg.load_profile(path) == valid_profile
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]  # no temp left


def test_every_field_has_a_bound_and_the_loader_keeps_it(tmp_path):
    """The same limits on load: a hand-edited file with an over-long value names key and line."""
    for spec in cfg.FIELDS:
        if spec.kind in (str, Path):
            assert 0 < spec.max_chars <= 4096, spec.attr
    path = _write(tmp_path / "c" / "config.toml", '[profile]\nkommunenr = "0403"\ncontact_email = "' + "a" * 300 + '@x.no"\n')
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.key == "profile.contact_email" and info.value.line == 3
    assert "256" in info.value.reason


@pytest.mark.parametrize(
    "text",
    [
        "[profile]\nyear = " + "9" * 5000 + "\n",  # int() refuses > 4300 digits: a ValueError
        "[profile]\nkommunenr = " + "[" * 100_000 + "]" * 100_000 + "\n",  # RecursionError
        "[profile]\nyear = 99999999999\n",  # dt.date() would fail later, in the header
        "[preflight]\ntimeout = nan\n",
        "[preflight]\ntimeout = inf\n",
        "[sendemodul]\npart_size = -1\n",
    ],
    ids=["5000-digits", "deep-array", "year-out-of-range", "nan", "inf", "negative"],
)
def test_hostile_numbers_and_nesting_are_a_config_error(tmp_path, text):
    """Item 13: these gave a traceback and exit 1."""
    path = _write(tmp_path / "c" / "config.toml", text)
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(path)
    assert info.value.path == path and info.value.reason


def test_a_config_directory_open_to_others_is_refused_on_load(tmp_path, valid_profile):
    """Item 16: the directory was checked only on save."""
    path = tmp_path / "c" / "config.toml"
    cfg.save_profile(valid_profile, path)
    for mode in (0o777, 0o755, 0o770):
        os.chmod(path.parent, mode)
        with pytest.raises(cfg.ConfigError) as info:
            cfg.load_profile(path)
        assert f"chmod 700 {path.parent}" in info.value.reason
    os.chmod(path.parent, 0o700)
    assert cfg.load_profile(path) == valid_profile


def test_a_named_config_that_does_not_exist_is_an_error(tmp_path):
    """Item 16: a missing file named by --config or $IPLOS_CONFIG is not "the defaults"."""
    missing = tmp_path / "typo" / "x.toml"
    with pytest.raises(cfg.ConfigError) as info:
        cfg.load_profile(missing, missing_ok=False)
    assert info.value.path == missing and str(missing) in str(info.value)
