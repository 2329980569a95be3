"""Several municipality profiles side by side (docs/fleet.md): ``profiles/<kommunenr>[-<bydel>].toml``
beside the config file, each a whole profile in the config file's own format, read by the same
loader (``config.load_profile``: permissions on load, size and field bounds, no PIN key).

The config file itself stays what it always was: with no ``profiles/`` folder nothing changes. With
one, the config file is one more profile when it names a kommunenr (and a template otherwise).

Safety rules of a fleet, checked on every load and before every save:

- one profile per municipality (kommunenr + bydel): two journals for one period would let the same
  period be sent twice;
- a profile file's name says which municipality it holds (``0403.toml`` holds 0403, bydel 00);
- every profile has a secure directory of its own: two profiles with the same secure directory, or
  one inside the other, are both refused (the others go on), so no run can touch another
  municipality's journal. A profile file without ``secure_dir`` gets one of its own by default.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from iplos_tui.core.config import APP_NAME, ConfigError, Profile, check_config_dir, load_profile, save_profile
from iplos_tui.core.i18n import t

PROFILES_DIR = "profiles"
MAX_PROFILES = 200
_FILE_NAME = re.compile(r"(\d{4})(?:-(\d{2}))?\.toml")
_PROFILE_ID = re.compile(r"(\d{4})(?:-(\d{2}))?")


def profiles_dir(config_path: Path) -> Path:
    return Path(config_path).parent / PROFILES_DIR


def profile_id(kommunenr: str, bydel: str) -> str:
    """The one name of a profile: "0403" (bydel 00) or "0301-05"."""
    return kommunenr if bydel in ("", "00") else f"{kommunenr}-{bydel}"


def parse_profile_id(text: str) -> tuple[str, str]:
    """("0403", "00") from "0403" or "0403-00"; a ConfigError for anything else."""
    match = _PROFILE_ID.fullmatch(text.strip())
    if match is None:
        raise ConfigError(t("config.profile_bad_id", given=text[:40]))
    return match.group(1), match.group(2) or "00"


def default_profile_secure_dir(kommunenr: str, bydel: str) -> Path:
    """A profile's own secure directory when its file names none (never the config file's)."""
    return platformdirs.user_data_path(APP_NAME) / PROFILES_DIR / profile_id(kommunenr, bydel)


@dataclass
class ProfileEntry:
    """One profile of the fleet: its file, and the profile or why it cannot be used."""

    id: str
    path: Path
    profile: Profile | None
    error: ConfigError | None = None
    main: bool = False  # the config file itself

    @property
    def usable(self) -> bool:
        return self.profile is not None and self.error is None


@dataclass
class Fleet:
    """Every profile beside one config file; ``entries`` sorted by id."""

    config_path: Path
    entries: list[ProfileEntry] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # *.toml files whose name is no profile id
    has_profiles_dir: bool = False
    main: ProfileEntry | None = None  # the config file's own profile (listed when it has a kommunenr)

    @property
    def is_fleet(self) -> bool:
        return self.has_profiles_dir

    def ids(self) -> list[str]:
        return [entry.id for entry in self.entries]

    def usable(self) -> list[ProfileEntry]:
        return [entry for entry in self.entries if entry.usable]

    def get(self, wanted: str) -> ProfileEntry:
        """The entry for "0403" / "0403-00"; a ConfigError that lists the profiles otherwise."""
        kommunenr, bydel = parse_profile_id(wanted)
        key = profile_id(kommunenr, bydel)
        for entry in self.entries:
            if entry.id == key:
                return entry
        known = ", ".join(self.ids()) or t("config.profile_none")
        raise ConfigError(t("config.profile_unknown", id=key, known=known, dir=profiles_dir(self.config_path)))


def _scan(directory: Path) -> tuple[list[tuple[Path, str, str]], list[Path]]:
    """(path, kommunenr, bydel) of every profile file, and the *.toml files that are none."""
    check_config_dir(directory)  # whoever can write here can add a profile
    found: list[tuple[Path, str, str]] = []
    ignored: list[Path] = []
    with os.scandir(directory) as listing:
        for item in listing:
            if item.name.startswith("."):
                continue  # our own temp files (atomic writes) and hidden files
            match = _FILE_NAME.fullmatch(item.name)
            if match is None:
                if item.name.endswith(".toml"):
                    ignored.append(Path(item.path))
                continue
            found.append((Path(item.path), match.group(1), match.group(2) or "00"))
            if len(found) > MAX_PROFILES:
                raise ConfigError(t("config.profile_too_many", limit=MAX_PROFILES), directory)
    return sorted(found), sorted(ignored)


def _load_file(path: Path, kommunenr: str, bydel: str) -> ProfileEntry:
    entry_id = profile_id(kommunenr, bydel)
    try:
        profile = load_profile(path, missing_ok=False, default_secure_dir=default_profile_secure_dir(kommunenr, bydel))
    except ConfigError as exc:
        return ProfileEntry(entry_id, path, None, exc)
    if not profile.kommunenr:
        profile = profile.replace(kommunenr=kommunenr)
    if not profile.bydel:
        profile = profile.replace(bydel=bydel)
    if (profile.kommunenr, profile.bydel) != (kommunenr, bydel):
        problem = t("config.profile_name_mismatch", name=path.name, kommunenr=profile.kommunenr, bydel=profile.bydel, expected=profile_id(profile.kommunenr, profile.bydel))
        return ProfileEntry(entry_id, path, profile, ConfigError(problem, path, "profile.kommunenr"))
    return ProfileEntry(entry_id, path, profile)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


def _refuse_collisions(entries: list[ProfileEntry]) -> None:
    """Mark both sides of a shared municipality or secure directory as unusable, each naming the
    other file. A template (the config file without kommunenr) counts for the directory only."""
    by_id: dict[str, ProfileEntry] = {}
    for entry in entries:
        if entry.profile is None or not entry.profile.kommunenr:
            continue
        other = by_id.setdefault(entry.id, entry)
        if other is not entry:
            for one, two in ((entry, other), (other, entry)):
                one.error = one.error or ConfigError(t("config.profile_twice", id=entry.id, other=two.path), one.path, "profile.kommunenr")
    dirs = [(entry, _real(entry.profile.secure_dir)) for entry in entries if entry.profile is not None]
    for index, (one, one_dir) in enumerate(dirs):
        for two, two_dir in dirs[index + 1:]:
            if _overlap(one_dir, two_dir):
                for a, b, shown in ((one, two, one_dir), (two, one, two_dir)):
                    a.error = a.error or ConfigError(t("config.profile_same_secure_dir", dir=shown, other=b.path), a.path, "paths.secure_dir")


def _main_entry(config_path: Path, profile: Profile) -> ProfileEntry:
    return ProfileEntry(profile_id(profile.kommunenr, profile.bydel), config_path, profile, main=True)


def load_fleet(config_path: Path, *, missing_ok: bool = True) -> Fleet:
    """Every profile beside ``config_path``. Without a ``profiles/`` folder: the config file alone
    (as it always was). A profile file that cannot be used is an entry with its error, so that the
    others go on and the board can show it."""
    config_path = Path(config_path)
    fleet = Fleet(config_path)
    main = _main_entry(config_path, load_profile(config_path, missing_ok=missing_ok))
    fleet.main = main
    directory = profiles_dir(config_path)
    try:
        os.lstat(directory)
    except FileNotFoundError:
        fleet.entries = [main] if main.profile and main.profile.kommunenr else []
        return fleet
    fleet.has_profiles_dir = True
    files, fleet.ignored = _scan(directory)
    entries = [_load_file(path, kommunenr, bydel) for path, kommunenr, bydel in files]
    _refuse_collisions([main, *entries] if config_path.exists() else entries)
    if main.profile is not None and main.profile.kommunenr:
        entries.append(main)
    fleet.entries = sorted(entries, key=lambda entry: (entry.id, not entry.main))
    return fleet


def select_profile(config_path: Path, wanted: str | None, *, missing_ok: bool = True) -> tuple[Profile, Path]:
    """The profile a command runs with, and the file it is saved to. ``wanted`` None: the config
    file's own profile, loaded exactly as before (with a ``profiles/`` folder, the fleet's checks
    apply to it too)."""
    config_path = Path(config_path)
    if wanted is None:
        if not profiles_dir(config_path).exists():
            return load_profile(config_path, missing_ok=missing_ok), config_path
        entry = load_fleet(config_path, missing_ok=missing_ok).main
    else:
        entry = load_fleet(config_path, missing_ok=missing_ok).get(wanted)
    assert entry is not None
    if entry.error is not None:
        raise entry.error
    assert entry.profile is not None
    return entry.profile, entry.path


def check_save(profile: Profile, path: Path) -> None:
    """Refuse to save a profile that its fleet would refuse on the next load: a file name that
    does not match, a municipality or a secure directory that another profile has."""
    path = Path(path)
    in_profiles = path.parent.name == PROFILES_DIR
    if in_profiles:
        match = _FILE_NAME.fullmatch(path.name)
        if match is None or (profile.kommunenr, profile.bydel) != (match.group(1), match.group(2) or "00"):
            raise ConfigError(t("config.profile_name_mismatch", name=path.name, kommunenr=profile.kommunenr, bydel=profile.bydel, expected=profile_id(profile.kommunenr, profile.bydel)), path, "profile.kommunenr")
    config_path = path.parent.parent / "config.toml" if in_profiles else path
    if not profiles_dir(config_path).is_dir():
        return
    fleet = load_fleet(config_path)
    mine = ProfileEntry(profile_id(profile.kommunenr, profile.bydel), path, profile, main=not in_profiles)
    others = [ProfileEntry(e.id, e.path, e.profile, main=e.main) for e in fleet.entries if e.path != path]
    if in_profiles and fleet.main is not None and config_path.exists() and not any(e.main for e in others):
        others.append(ProfileEntry(fleet.main.id, config_path, fleet.main.profile, main=True))
    _refuse_collisions([mine, *others])
    if mine.error is not None:
        raise mine.error


def save_checked(profile: Profile, path: Path) -> None:
    """``config.save_profile`` after the fleet's checks (the Config pane and ``config init``)."""
    check_save(profile, path)
    save_profile(profile, path)


def new_profile_file(config_path: Path, wanted: str) -> tuple[Profile, Path]:
    """A new ``profiles/<id>.toml``: the config file's shared settings (Sendemodul, certificates,
    gateway, language), this municipality's number, and a secure directory of its own; every
    per-municipality field left for the operator. Refused when the file exists."""
    kommunenr, bydel = parse_profile_id(wanted)
    path = profiles_dir(config_path) / f"{profile_id(kommunenr, bydel)}.toml"
    if path.exists() or path.is_symlink():
        raise ConfigError(t("config.exists", path=path), path)
    base = load_profile(config_path, missing_ok=True)
    profile = base.replace(
        kommunenr=kommunenr,
        bydel=bydel,
        orgnr="",
        contact_email="",
        contact_mobile="",
        postmottak="",
        gateway_user="",
        postmottak_routing_confirmed=False,
        secure_dir=default_profile_secure_dir(kommunenr, bydel),
    )
    directory = path.parent
    if directory.exists() and not stat.S_ISDIR(os.lstat(directory).st_mode):
        raise ConfigError(t("config.dir_not_dir", path=directory), directory)
    save_checked(profile, path)
    return profile, path


@dataclass(frozen=True)
class ProfileChoice:
    """One line of the TUI's profile picker and palette: the profile, or why it cannot be used."""

    id: str
    label: str  # "0403 Hamar · bydel 00 · 2017"
    problem: str = ""  # '' when usable


def choices(fleet: Fleet) -> list[ProfileChoice]:
    from iplos_tui.core.status import profile_label

    out = []
    for entry in fleet.entries:
        label = profile_label(entry.profile) if entry.profile is not None and entry.profile.kommunenr else entry.id
        out.append(ProfileChoice(entry.id, label, entry.error.message() if entry.error is not None else ""))
    return out
