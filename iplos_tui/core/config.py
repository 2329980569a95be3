"""The municipality profile: a typed dataclass, read with tomllib, written with tomli_w.

The TOML file has sections; the dataclass is flat (``profile.kommunenr``,
``profile.sendemodul_url``). ``FIELDS`` is the one schema: it drives loading, type checks, error
messages, the Config screen and ``config.example.toml``.

The PIN is never a config key (DESIGN.md §4).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from iplos_tui.core.errors import IplosError
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.fsutil import UnsafePathError, atomic_write_bytes, check_private_file
from iplos_tui.core.i18n import t

APP_NAME = "iplos-tui"
CONFIG_ENV = "IPLOS_CONFIG"
SENDEMODUL_URL = "https://iplos.nhn.no/Sendemodul/"
SENDEMODUL_ADDRESS = "91.186.94.110"
GATEWAY_URL = "https://filsluse.ssb.no"
DEFAULT_PART_SIZE = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 256 * 1024
# Bounds of one value: generous for any real value, and together far below MAX_CONFIG_BYTES, so
# that a profile the loader accepts can always be saved and a saved one always loaded.
MAX_TEXT_CHARS = 256
MAX_URL_CHARS = 2048
MAX_PATH_CHARS = 4096
MAX_LIST_ITEMS = 32
MAX_LIST_ITEM_CHARS = 128


def default_secure_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME) / "secure"


@dataclass(frozen=True)
class FieldSpec:
    attr: str  # the dataclass attribute
    section: str  # the TOML table
    key: str  # the key in that table
    kind: type  # str, int, float, bool, Path, list
    doc: str  # English one-liner for config.example.toml
    chars: int = 0  # longest text (a list: each item); 0 = the kind's default
    bounds: tuple[float, float] | None = None  # int and float: the range the code can use

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def max_chars(self) -> int:
        """The longest value (for a list: the longest item) the loader and the Config pane take."""
        if self.chars:
            return self.chars
        defaults: dict[type, int] = {str: MAX_TEXT_CHARS, Path: MAX_PATH_CHARS, list: MAX_LIST_ITEM_CHARS}
        return defaults.get(self.kind, 0)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("kommunenr", "profile", "kommunenr", str, "Municipality number, 4 digits, valid for the reporting year (e.g. \"0403\")."),
    FieldSpec("bydel", "profile", "bydel", str, "District code, 2 digits; \"00\" unless agreed otherwise with SSB."),
    FieldSpec("orgnr", "profile", "orgnr", str, "The municipality's organisation number, 9 digits (used at Sendemodul login)."),
    FieldSpec("year", "profile", "year", int, "Reporting year (the data period 1.1-31.12 of this year).", bounds=(1000, 9998)),
    FieldSpec("contact_email", "profile", "contact_email", str, "E-mail of the municipality's IPLOS contact (receipts and feedback)."),
    FieldSpec("contact_mobile", "profile", "contact_mobile", str, "Mobile number of the IPLOS contact, 8 digits, optional +47."),
    FieldSpec("postmottak", "profile", "postmottak", str, "The municipality's postmottak address (SSB's feedback mail goes here)."),
    FieldSpec("secure_dir", "paths", "secure_dir", Path, "Secure-zone directory for plaintext, envelopes, journal and feedback (0700)."),
    FieldSpec("ssb_certificate", "paths", "ssb_certificate", Path, "SSB's public certificate for this year (PEM or DER)."),
    FieldSpec("tpf_certificate", "paths", "tpf_certificate", Path, "TPF's (pseudonymisation office) public certificate for this year."),
    FieldSpec("ssb_fingerprint", "paths", "ssb_fingerprint", str, "Optional SHA-256 fingerprint the SSB certificate must match."),
    FieldSpec("tpf_fingerprint", "paths", "tpf_fingerprint", str, "Optional SHA-256 fingerprint the TPF certificate must match."),
    FieldSpec("sendemodul_url", "sendemodul", "url", str, "The Sendemodul's address (only reachable over Helsenett).", chars=MAX_URL_CHARS),
    FieldSpec("sendemodul_address", "sendemodul", "expected_address", str, "The address the Sendemodul host should resolve to."),
    FieldSpec("sendemodul_connect_address", "sendemodul", "connect_address", str, "Connect to this address instead of resolving the name (the name is still checked in TLS)."),
    FieldSpec("sendemodul_ca_bundle", "sendemodul", "ca_bundle", Path, "CA bundle for the Sendemodul's TLS certificate; empty = the system store."),
    FieldSpec("sendemodul_spki_pins", "sendemodul", "spki_pins", list, "Optional SHA-256 SPKI pins (hex or base64) of the Sendemodul's certificate."),
    FieldSpec("proxy", "sendemodul", "proxy", str, "HTTPS proxy to use; empty = none. The environment's proxy settings are never used.", chars=MAX_URL_CHARS),
    FieldSpec("part_size", "sendemodul", "part_size", int, "Largest plaintext size of one encrypted content part, in bytes.", bounds=(1, 2**40)),
    FieldSpec("workers", "sendemodul", "workers", int, "Processes that validate and encrypt the extract; 0 = one per CPU, 1 = none besides the console's own.", bounds=(0, 256)),
    FieldSpec("gateway_url", "feedback", "gateway_url", str, "SSB's feedback gateway (MOVEit Transfer).", chars=MAX_URL_CHARS),
    FieldSpec("gateway_user", "feedback", "username", str, "Gateway username, normally the postmottak address."),
    FieldSpec("gateway_ca_bundle", "feedback", "ca_bundle", Path, "CA bundle for the gateway's TLS certificate; empty = the system store."),
    FieldSpec("gateway_request_timeout", "feedback", "request_timeout", float, "Total seconds one small request to the gateway may take (token, listing, details); a download gets this plus its size at 64 KiB/s.", bounds=(0.1, 3600)),
    FieldSpec("gateway_fetch_timeout", "feedback", "fetch_timeout", float, "Total seconds one whole fetch from the gateway may take.", bounds=(1, 86_400)),
    FieldSpec("gateway_max_files", "feedback", "max_files", int, "Most files one fetch stores; the rest stay new on the gateway.", bounds=(1, 10_000)),
    FieldSpec("gateway_max_bytes", "feedback", "max_bytes", int, "Most bytes one fetch stores (the announced sizes added up).", bounds=(1, 2**40)),
    FieldSpec("language", "ui", "language", str, "User interface language: \"nb\" (bokmål) or \"en\"."),
    FieldSpec("theme", "ui", "theme", str, "Colour theme; 16-colour terminals get ansi-dark."),
    FieldSpec("mouse", "ui", "mouse", bool, "Mouse reporting; false over slow links (every mouse move is sent otherwise). `iplos tui --no-mouse` too."),
    FieldSpec("spam_allowlist_confirmed", "preflight", "spam_allowlist_confirmed", bool, "IT confirmed: mail from MoveitFilsluse@ssb.no passes the spam filter."),
    FieldSpec("postmottak_routing_confirmed", "preflight", "postmottak_routing_confirmed", bool, "Postmottak confirmed: SSB's mail is forwarded to the IPLOS contact."),
    FieldSpec("preflight_timeout", "preflight", "timeout", float, "Timeout in seconds for each network check.", bounds=(0, 3600)),
    FieldSpec("preflight_nameservers", "preflight", "nameservers", list, "Resolvers the DNS check asks besides the system's: \"10.0.0.53\" or \"host:port\"."),
    FieldSpec("preflight_system_resolver", "preflight", "system_resolver", bool, "false: the checks never use this machine's resolver (resolv.conf, getaddrinfo), only the hosts file and preflight.nameservers (the sandbox)."),
)
FIELD_BY_DOTTED = {spec.dotted: spec for spec in FIELDS}
FIELD_BY_ATTR = {spec.attr: spec for spec in FIELDS}
SECTIONS = tuple(dict.fromkeys(spec.section for spec in FIELDS))


@dataclass
class Profile:
    kommunenr: str = ""
    bydel: str = "00"
    orgnr: str = ""
    year: int = 2017
    contact_email: str = ""
    contact_mobile: str = ""
    postmottak: str = ""
    secure_dir: Path = field(default_factory=default_secure_dir)
    ssb_certificate: Path | None = None
    tpf_certificate: Path | None = None
    ssb_fingerprint: str = ""
    tpf_fingerprint: str = ""
    sendemodul_url: str = SENDEMODUL_URL
    sendemodul_address: str = SENDEMODUL_ADDRESS
    sendemodul_connect_address: str = ""
    sendemodul_ca_bundle: Path | None = None
    sendemodul_spki_pins: list[str] = field(default_factory=list)
    proxy: str = ""
    part_size: int = DEFAULT_PART_SIZE
    workers: int = 0  # 0: one per CPU (core.pass_pool)
    gateway_url: str = GATEWAY_URL
    gateway_user: str = ""
    gateway_ca_bundle: Path | None = None
    gateway_request_timeout: float = 60.0
    gateway_fetch_timeout: float = 900.0
    gateway_max_files: int = 20
    gateway_max_bytes: int = 256 * 1024 * 1024
    language: str = "nb"
    theme: str = "textual-dark"
    mouse: bool = True
    spam_allowlist_confirmed: bool = False
    postmottak_routing_confirmed: bool = False
    preflight_timeout: float = 5.0
    preflight_nameservers: list[str] = field(default_factory=list)
    preflight_system_resolver: bool = True

    @property
    def gateway_username(self) -> str:
        return self.gateway_user or self.postmottak

    def replace(self, **changes: Any) -> Profile:
        return dataclasses.replace(self, **changes)

    def to_toml_dict(self) -> dict[str, dict[str, Any]]:
        """The TOML document: every key, identifiers as strings, unset paths as ""."""
        document: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for spec in FIELDS:
            value = getattr(self, spec.attr)
            if spec.kind is Path:
                value = "" if value is None else str(value)
            elif spec.kind is list:
                value = list(value)
            document[spec.section][spec.key] = value
        return document

    def to_json_dict(self) -> dict[str, Any]:
        return {section: values for section, values in self.to_toml_dict().items()}


class ConfigError(IplosError):
    """A config file we cannot use: says which file, which key and which line."""

    exit_code = ExitCode.USAGE

    def __init__(self, reason: str, path: Path | None = None, key: str | None = None, line: int | None = None):
        self.reason = reason
        self.path = path
        self.key = key
        self.line = line
        super().__init__(self.describe())

    def describe(self) -> str:
        """``file:line [key]: reason`` (the parts that are known)."""
        where = str(self.path) if self.path else ""
        if self.line:
            where += f":{self.line}"
        if self.key:
            where += f" [{self.key}]" if where else f"[{self.key}]"
        return f"{where}: {self.reason}" if where else self.reason

    def message(self) -> str:
        return t("cli.config_error", detail=self.describe())


def resolve_config_path(cli_path: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """The config file to use and where that choice came from: "--config", "$IPLOS_CONFIG", "default"."""
    if cli_path:
        return Path(cli_path).expanduser(), "--config"
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser(), f"${CONFIG_ENV}"
    return platformdirs.user_config_path(APP_NAME) / "config.toml", "default"


def _line_of(text: str, section: str, key: str | None) -> int | None:
    """The 1-based line of ``key`` inside ``[section]`` (or of the section header itself)."""
    current = None
    header = re.compile(r"\s*\[\s*([^\]]+?)\s*\]\s*(#.*)?")
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.fullmatch(line)
        if match:
            current = match.group(1).strip().strip('"')
            if key is None and current == section:
                return number
            continue
        if current == section and key is not None:
            if re.match(rf"^\s*(\"{re.escape(key)}\"|'{re.escape(key)}'|{re.escape(key)})\s*=", line):
                return number
    return None


def _convert(spec: FieldSpec, value: Any, text: str, path: Path) -> Any:
    def refuse(reason: str) -> ConfigError:
        return ConfigError(reason, path, spec.dotted, _line_of(text, spec.section, spec.key))

    def wrong(expected: str) -> ConfigError:
        return refuse(t("config.wrong_type", expected=expected, got=type(value).__name__))

    def text_value(item: str) -> str:
        if len(item) > spec.max_chars:
            raise refuse(t("config.too_long", length=len(item), limit=spec.max_chars))
        return item

    def number(item: int | float) -> int | float:
        low, high = spec.bounds or (-math.inf, math.inf)
        if not math.isfinite(item) or not low <= item <= high:
            raise refuse(t("config.out_of_range", low=f"{low:g}", high=f"{high:g}"))
        return item

    if spec.kind is str:
        if not isinstance(value, str):
            raise wrong(t("config.type_string"))
        return text_value(value)
    if spec.kind is bool:
        if not isinstance(value, bool):
            raise wrong(t("config.type_bool"))
        return value
    if spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong(t("config.type_int"))
        return number(value)
    if spec.kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong(t("config.type_number"))
        return float(number(value))
    if spec.kind is Path:
        if not isinstance(value, str):
            raise wrong(t("config.type_path"))
        return Path(text_value(value)).expanduser() if value else None
    if spec.kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise wrong(t("config.type_list"))
        if len(value) > MAX_LIST_ITEMS:
            raise refuse(t("config.too_many", count=len(value), limit=MAX_LIST_ITEMS))
        return [text_value(item) for item in value]
    raise AssertionError(spec)


def parse_profile(text: str, path: Path, *, default_secure_dir: Path | None = None) -> Profile:
    """Build a Profile from TOML text; every problem becomes a ConfigError with file, key, line.
    ``default_secure_dir``: where a file that names none keeps its secure directory (a fleet's
    profile file gets its own, core/profiles.py)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise ConfigError(t("config.bad_toml", detail=str(exc)), path, None, int(match.group(1)) if match else None) from None
    except (ValueError, RecursionError, MemoryError):
        # tomllib's own limits: integers over 4,300 digits (ValueError), deep nesting (RecursionError)
        raise ConfigError(t("config.too_complex"), path) from None
    values: dict[str, Any] = {}
    for section, table in document.items():
        if section not in SECTIONS:
            raise ConfigError(t("config.unknown_section", section=section), path, section, _line_of(text, section, None))
        if not isinstance(table, dict):
            raise ConfigError(t("config.not_a_table", section=section), path, section, _line_of(text, section, None))
        for key, value in table.items():
            spec = FIELD_BY_DOTTED.get(f"{section}.{key}")
            if spec is None:
                raise ConfigError(t("config.unknown_key", key=f"{section}.{key}"), path, f"{section}.{key}", _line_of(text, section, key))
            values[spec.attr] = _convert(spec, value, text, path)
    if values.get("secure_dir") is None:
        values.pop("secure_dir", None)
        if default_secure_dir is not None:
            values["secure_dir"] = default_secure_dir
    return Profile(**values)


def _open_config_safely(path: Path) -> str:
    """Read the config file only when it is a regular file of ours that nobody else can read,
    in a directory that nobody else can enter."""
    os.lstat(path)  # FileNotFoundError: the caller decides whether that means "the defaults"
    try:
        check_private_file(path)
    except UnsafePathError:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            hint = t("config.fix_symlink", path=path)
        elif not stat.S_ISREG(st.st_mode):
            hint = t("config.fix_not_regular", path=path)
        elif st.st_uid != os.geteuid():
            hint = t("config.fix_owner", path=path, uid=st.st_uid, me=os.geteuid())
        else:
            hint = t("config.fix_mode", path=path, mode=f"{stat.S_IMODE(st.st_mode):04o}")
        raise ConfigError(hint, path) from None
    check_config_dir(path.parent)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_CONFIG_BYTES + 1)
    return _decode(data, path)


def _decode(data: bytes, path: Path) -> str:
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(t("config.too_large", limit=MAX_CONFIG_BYTES), path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(t("config.not_utf8"), path, None, line) from None


def load_profile(path: Path, *, missing_ok: bool = True, default_secure_dir: Path | None = None) -> Profile:
    """Load the profile from ``path``; a missing file gives the defaults when ``missing_ok``."""
    path = Path(path)
    try:
        text = _open_config_safely(path)
    except FileNotFoundError:
        if missing_ok:
            return Profile()
        raise ConfigError(t("config.missing"), path) from None
    except OSError as exc:  # EACCES, ELOOP, EIO ...
        raise ConfigError(t("config.cannot_read", detail=exc.strerror or type(exc).__name__), path) from None
    return parse_profile(text, path, default_secure_dir=default_secure_dir)


def check_config_dir(directory: Path) -> None:
    """The config file's directory must be ours and closed to others (0700), on load and on
    save alike: whoever can write in it can replace the profile."""
    st = os.lstat(directory)
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(t("config.dir_not_dir", path=directory), directory)
    if st.st_uid != os.geteuid():
        raise ConfigError(t("config.fix_owner", path=directory, uid=st.st_uid, me=os.geteuid()), directory)
    if st.st_mode & 0o077:
        raise ConfigError(t("config.fix_dir_mode", path=directory, mode=f"{stat.S_IMODE(st.st_mode):04o}"), directory)


def ensure_config_dir(directory: Path) -> None:
    """Create the config directory 0700, or refuse one that others can enter."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        return
    check_config_dir(directory)


def config_bytes(profile: Profile, path: Path) -> bytes:
    """The file ``save_profile`` writes, checked with the loader's own rules first: a profile
    that could not be loaded back (a 1 MB paste, a value out of range) is refused, not saved."""
    import tomli_w

    text = t("config.file_header") + tomli_w.dumps(profile.to_toml_dict())
    parse_profile(text, path)  # first: a refusal that names the field
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate pasted into a field
        raise ConfigError(t("config.not_utf8"), path) from None
    _decode(data, path)
    return data


def save_profile(profile: Profile, path: Path) -> None:
    """Write the profile atomically, file 0600 in a 0700 directory (explicit save only)."""
    path = Path(path)
    data = config_bytes(profile, path)
    try:
        ensure_config_dir(path.parent)
        if path.is_symlink():
            raise ConfigError(t("config.fix_symlink", path=path), path)
        atomic_write_bytes(path, data, mode=0o600)
    except OSError as exc:  # a full disk, a read-only file system, no permission
        raise ConfigError(t("config.cannot_write", detail=exc.strerror or type(exc).__name__), path) from None


# --- validation of a whole profile (the Config screen, `config check`, preflight) -------------


@dataclass(frozen=True)
class FieldProblem:
    attr: str
    severity: str  # "error" | "warning"
    message: str


def validate_profile(profile: Profile) -> list[FieldProblem]:
    """Check every field with the number checks; errors and warnings, never a bare False."""
    from iplos_tui.core import identifiers

    problems: list[FieldProblem] = []

    def add(attr: str, verdict: Any) -> None:
        if verdict.severity in ("error", "warning") and verdict.message:
            problems.append(FieldProblem(attr, verdict.severity, verdict.message))

    add("kommunenr", identifiers.check_kommunenr(profile.kommunenr, profile.year))
    add("bydel", identifiers.check_bydel(profile.bydel, profile.kommunenr))
    add("orgnr", identifiers.check_orgnr(profile.orgnr))
    add("contact_email", identifiers.check_email(profile.contact_email))
    if profile.contact_mobile:
        add("contact_mobile", identifiers.check_mobile(profile.contact_mobile))
    else:
        problems.append(FieldProblem("contact_mobile", "warning", t("config.mobile_recommended")))
    add("postmottak", identifiers.check_email(profile.postmottak, field="postmottak"))
    if not profile.sendemodul_url.startswith("https://"):
        problems.append(FieldProblem("sendemodul_url", "error", t("config.https_required", field="Sendemodul")))
    if not profile.gateway_url.startswith("https://"):
        problems.append(FieldProblem("gateway_url", "error", t("config.https_required", field=t("config.field.gateway_url"))))
    if not 1 <= profile.gateway_request_timeout <= 600 or not 1 <= profile.gateway_fetch_timeout <= 86_400:
        problems.append(FieldProblem("gateway_fetch_timeout", "error", t("config.gateway_timeout_range")))
    if not 1 <= profile.gateway_max_files <= 10_000 or not 1 <= profile.gateway_max_bytes <= 4 * 1024**3:
        problems.append(FieldProblem("gateway_max_files", "error", t("config.gateway_caps_range")))
    if profile.part_size < 64 * 1024 or profile.part_size > 256 * 1024 * 1024:
        problems.append(FieldProblem("part_size", "error", t("config.part_size_range")))
    if profile.language not in ("nb", "en"):
        problems.append(FieldProblem("language", "error", t("config.language_choice")))
    if not 0.5 <= profile.preflight_timeout <= 120:
        problems.append(FieldProblem("preflight_timeout", "error", t("config.timeout_range")))
    for attr in ("ssb_certificate", "tpf_certificate"):
        if getattr(profile, attr) is None:
            problems.append(FieldProblem(attr, "warning", t("config.certificate_missing")))
    return problems


def submission_window(year: int) -> tuple[dt.date, dt.date, dt.date]:
    """(window opens, window closes, corrections deadline) for a reporting year (the guide)."""
    return dt.date(year + 1, 1, 2), dt.date(year + 1, 1, 15), dt.date(year + 1, 3, 21)


def example_toml() -> str:
    """config.example.toml: every key, documented, with its default (a test keeps the file in sync)."""
    import tomli_w

    defaults = Profile(secure_dir=Path("~/.local/share/iplos-tui/secure"))
    document = defaults.to_toml_dict()
    lines = [
        "# iplos-tui configuration: the municipality profile.",
        "# Written by the console on an explicit save (file mode 0600, directory 0700).",
        "# The PIN is never stored here: the console asks for it, or reads it with --pin-stdin.",
        "# Several municipalities: one file like this per profile, profiles/<kommunenr>[-<bydel>].toml",
        "# beside this one, each with its own secure_dir (iplos --profile 0403 ...; docs/fleet.md).",
        "",
    ]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        for spec in FIELDS:
            if spec.section != section:
                continue
            lines.append(f"# {spec.doc}")
            lines.append(tomli_w.dumps({spec.key: document[section][spec.key]}).strip())
        lines.append("")
    return "\n".join(lines)
