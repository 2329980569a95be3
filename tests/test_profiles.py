"""Several profiles side by side (core/profiles.py, docs/fleet.md): `profiles/<id>.toml` beside
the config file, read by the config file's own loader, each with a secure directory of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from iplos_tui import cli
from iplos_tui.core import config as cfg
from iplos_tui.core import profiles as pr
from tests.support import PIN_CANARY

# A config file as the console wrote it before profiles existed (every key, today's format).
TODAYS_CONFIG = """\
[profile]
kommunenr = "0403"
bydel = "00"
orgnr = "974550571"
year = 2017
contact_email = "iplos@hamar.kommune.no"
contact_mobile = "91234567"
postmottak = "postmottak@hamar.kommune.no"

[paths]
secure_dir = "{secure}"
ssb_certificate = ""
tpf_certificate = ""

[sendemodul]
url = "https://iplos.nhn.no/Sendemodul/"
part_size = 4194304

[ui]
language = "en"
"""


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def _profile_text(kommunenr: str, secure: Path | None, bydel: str = "00", orgnr: str = "974550571") -> str:
    lines = ["[profile]", f'kommunenr = "{kommunenr}"', f'bydel = "{bydel}"', f'orgnr = "{orgnr}"']
    if secure is not None:
        lines += ["[paths]", f'secure_dir = "{secure}"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def conf(tmp_path) -> Path:
    return tmp_path / "conf" / "config.toml"


def test_todays_single_config_works_unchanged(tmp_path, conf, capsys):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    profile, path = pr.select_profile(conf, None)
    assert path == conf
    assert profile == cfg.load_profile(conf)
    assert profile.secure_dir == tmp_path / "secure"
    assert cli.main(["--config", str(conf), "config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["profile"]["kommunenr"] == "0403"
    assert shown["paths"]["secure_dir"] == str(tmp_path / "secure")
    fleet = pr.load_fleet(conf)
    assert not fleet.is_fleet and fleet.ids() == ["0403"]
    # --profile naming the config file's own municipality picks it too
    assert pr.select_profile(conf, "0403") == (profile, conf)


def test_profile_picks_the_file_beside_the_config(tmp_path, conf, capsys):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", tmp_path / "s0417"))
    _write(conf.parent / "profiles" / "0301-05.toml", _profile_text("0301", None, bydel="05"))
    fleet = pr.load_fleet(conf)
    assert fleet.ids() == ["0301-05", "0403", "0417"]
    assert all(entry.usable for entry in fleet.entries)
    assert cli.main(["--config", str(conf), "--profile", "0417", "config", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["profile"]["kommunenr"] == "0417"
    assert cli.main(["--config", str(conf), "--profile", "0417", "config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(conf.parent / "profiles" / "0417.toml")
    # a profile without secure_dir gets one of its own, never the config file's default
    oslo, _ = pr.select_profile(conf, "0301-05")
    assert oslo.bydel == "05"
    assert oslo.secure_dir == pr.default_profile_secure_dir("0301", "05")
    assert oslo.secure_dir != cfg.default_secure_dir()
    # the config file alone, without --profile, is still the one it always was
    main, path = pr.select_profile(conf, None)
    assert (main.kommunenr, path) == ("0403", conf)


def test_unknown_and_malformed_profile_ids_say_what_exists(tmp_path, conf, capsys):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", tmp_path / "s0417"))
    assert cli.main(["--config", str(conf), "--profile", "0999", "status"]) == 2
    err = capsys.readouterr().err
    assert "0999" in err and "0403, 0417" in err and "config init --profile 0999" in err
    assert cli.main(["--config", str(conf), "--profile", "../etc", "status"]) == 2
    assert "0301-05" in capsys.readouterr().err


def test_two_profiles_with_one_secure_dir_are_both_refused_the_others_go_on(tmp_path, conf, capsys):
    shared = tmp_path / "shared"
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", shared))
    _write(conf.parent / "profiles" / "0418.toml", _profile_text("0418", shared))
    _write(conf.parent / "profiles" / "0419.toml", _profile_text("0419", shared / "inner"))
    _write(conf.parent / "profiles" / "0420.toml", _profile_text("0420", tmp_path / "s0420"))
    fleet = pr.load_fleet(conf)
    usable = {entry.id for entry in fleet.usable()}
    assert usable == {"0403", "0420"}
    for wanted in ("0417", "0418", "0419"):
        with pytest.raises(cfg.ConfigError) as caught:
            pr.select_profile(conf, wanted)
        assert caught.value.key == "paths.secure_dir"
        assert "profiles/04" in caught.value.describe()  # names the other profile's file
    assert cli.main(["--config", str(conf), "--profile", "0418", "status"]) == 2
    err = capsys.readouterr().err
    assert str(shared) in err and "0417.toml" in err and "Traceback" not in err
    assert pr.select_profile(conf, "0420")[0].kommunenr == "0420"


def test_a_symlinked_secure_dir_is_the_same_dir(tmp_path, conf):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "alias").symlink_to(real)
    _write(conf, _profile_text("0403", real))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", tmp_path / "alias"))
    fleet = pr.load_fleet(conf)
    assert fleet.usable() == []
    # the config file's own profile is refused too, also without --profile
    with pytest.raises(cfg.ConfigError, match="0417.toml"):
        pr.select_profile(conf, None)


def test_a_template_config_without_kommunenr_still_counts_for_secure_dirs(tmp_path, conf):
    _write(conf, f'[paths]\nsecure_dir = "{tmp_path / "all"}"\n')
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", tmp_path / "all" / "0417"))
    fleet = pr.load_fleet(conf)
    assert fleet.ids() == ["0417"] and not fleet.entries[0].usable


def test_one_municipality_twice_and_a_file_name_that_lies_are_refused(tmp_path, conf):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    _write(conf.parent / "profiles" / "0403.toml", _profile_text("0403", tmp_path / "other"))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0418", tmp_path / "s0417"))  # a copy not edited
    _write(conf.parent / "profiles" / "0420.toml", _profile_text("", tmp_path / "s0420"))  # kommunenr from the name
    fleet = pr.load_fleet(conf)
    errors = {(entry.id, entry.main): entry.error for entry in fleet.entries}
    assert errors[("0403", True)] is not None and errors[("0403", False)] is not None
    assert "0403.toml" in errors[("0403", True)].describe()
    assert errors[("0417", False)] is not None and "0418.toml" in errors[("0417", False)].describe()
    assert errors[("0420", False)] is None
    assert pr.select_profile(conf, "0420")[0].kommunenr == "0420"


def test_each_profile_file_has_the_config_files_safety_rules(tmp_path, conf, capsys):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    folder = conf.parent / "profiles"
    _write(folder / "0417.toml", _profile_text("0417", tmp_path / "a"), mode=0o644)
    _write(folder / "0418.toml", _profile_text("0418", tmp_path / "b") + f'[secrets]\npin = "{PIN_CANARY}"\n')
    _write(folder / "0419.toml", _profile_text("0419", tmp_path / "c").replace('orgnr = "974550571"', 'orgnr = "' + "9" * 5000 + '"'))
    _write(folder / "0420.toml", "x" * (cfg.MAX_CONFIG_BYTES + 10))
    (folder / "0421.toml").symlink_to(conf)
    _write(folder / "notes.toml", "")  # not a profile name: ignored, and said
    _write(folder / ".iplos-tmp-0422.toml", "")  # a temp file of an atomic write: not even said
    fleet = pr.load_fleet(conf)
    assert fleet.ignored == [folder / "notes.toml"]
    by_id = {entry.id: entry for entry in fleet.entries if not entry.main}
    assert sorted(by_id) == ["0417", "0418", "0419", "0420", "0421"]
    assert all(not entry.usable for entry in by_id.values())
    assert "chmod 600" in by_id["0417"].error.describe()
    assert by_id["0418"].error.key == "secrets" or "secrets" in by_id["0418"].error.describe()
    assert by_id["0419"].error.key == "profile.orgnr"
    assert str(cfg.MAX_CONFIG_BYTES) in by_id["0420"].error.describe()
    assert by_id["0421"].error is not None
    assert cli.main(["--config", str(conf), "--profile", "0418", "config", "show"]) == 2
    captured = capsys.readouterr()
    assert PIN_CANARY not in captured.out + captured.err


def test_a_profiles_folder_open_to_others_is_refused(tmp_path, conf):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    _write(conf.parent / "profiles" / "0417.toml", _profile_text("0417", tmp_path / "a"))
    os.chmod(conf.parent / "profiles", 0o755)
    with pytest.raises(cfg.ConfigError, match="chmod 700"):
        pr.load_fleet(conf)


def test_config_init_profile_copies_shared_settings_and_never_a_colliding_dir(tmp_path, conf, capsys):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure").replace('url = "https://iplos.nhn.no/Sendemodul/"', 'url = "https://sendemodul.example.test/"'))
    assert cli.main(["--config", str(conf), "--profile", "0417", "config", "init"]) == 0
    path = conf.parent / "profiles" / "0417.toml"
    assert capsys.readouterr().out.strip() == str(path)
    assert os.stat(path).st_mode & 0o777 == 0o600 and os.stat(path.parent).st_mode & 0o777 == 0o700
    made = cfg.load_profile(path)
    assert (made.kommunenr, made.bydel, made.orgnr, made.postmottak) == ("0417", "00", "", "")
    assert made.sendemodul_url == "https://sendemodul.example.test/"  # shared with the config file
    assert made.secure_dir == pr.default_profile_secure_dir("0417", "00")
    assert cli.main(["--config", str(conf), "--profile", "0417", "config", "init"]) == 2  # never over a file
    assert [entry.id for entry in pr.load_fleet(conf).usable()] == ["0403", "0417"]


def test_saving_refuses_what_the_fleet_would_refuse(tmp_path, conf):
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    path = conf.parent / "profiles" / "0417.toml"
    _write(path, _profile_text("0417", tmp_path / "s0417"))
    profile = pr.select_profile(conf, "0417")[0]
    before = path.read_bytes()
    with pytest.raises(cfg.ConfigError, match="0417.toml"):
        pr.save_checked(profile.replace(kommunenr="0418"), path)
    with pytest.raises(cfg.ConfigError) as caught:
        pr.save_checked(profile.replace(secure_dir=tmp_path / "secure"), path)
    assert caught.value.key == "paths.secure_dir"
    main = cfg.load_profile(conf)
    with pytest.raises(cfg.ConfigError):
        pr.save_checked(main.replace(kommunenr="0417"), conf)  # the config file may not take 0417
    assert path.read_bytes() == before
    pr.save_checked(profile.replace(contact_email="iplos@nord-odal.kommune.no"), path)
    assert pr.select_profile(conf, "0417")[0].contact_email == "iplos@nord-odal.kommune.no"


def test_too_many_profile_files_is_one_clear_error(tmp_path, conf, monkeypatch):
    monkeypatch.setattr(pr, "MAX_PROFILES", 3)
    _write(conf, TODAYS_CONFIG.format(secure=tmp_path / "secure"))
    for number in range(4):
        _write(conf.parent / "profiles" / f"05{number:02d}.toml", _profile_text(f"05{number:02d}", tmp_path / f"s{number}"))
    with pytest.raises(cfg.ConfigError, match="3"):
        pr.load_fleet(conf)
