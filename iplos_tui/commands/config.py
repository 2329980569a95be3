"""`iplos config path|show|check|init`."""

from __future__ import annotations

import argparse
import json
import sys

from iplos_tui.core import format as fmt
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help=t("cli.help_cmd_config"), description=t("cli.help_cmd_config"))
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True, parser_class=type(parser))
    path = actions.add_parser("path", help=t("cli.help_config_path"))
    path.set_defaults(handler=run_path, needs_profile=False)
    show = actions.add_parser("show", help=t("cli.help_config_show"))
    show.add_argument("--json", action="store_true", help=t("cli.help_json"))
    show.set_defaults(handler=run_show, needs_profile=False)
    check = actions.add_parser("check", help=t("cli.help_config_check"))
    check.add_argument("--json", action="store_true", help=t("cli.help_json"))
    check.set_defaults(handler=run_check, needs_profile=False)
    init = actions.add_parser("init", help=t("cli.help_config_init"))
    init.set_defaults(handler=run_init, needs_profile=False)


def _resolve(args: argparse.Namespace):
    """The file `config path` and `config init` mean: the config file, or with --profile that
    profile's file (profiles/<id>.toml when it does not exist yet)."""
    from iplos_tui.core.config import ConfigError, resolve_config_path
    from iplos_tui.core.profiles import load_fleet, parse_profile_id, profile_id, profiles_dir

    path, source = resolve_config_path(args.config)
    wanted = getattr(args, "profile_id", None)
    if not wanted:
        return path, source
    kommunenr, bydel = parse_profile_id(wanted)
    try:
        return load_fleet(path).get(wanted).path, "--profile"
    except ConfigError:
        return profiles_dir(path) / f"{profile_id(kommunenr, bydel)}.toml", "--profile"


def run_path(args: argparse.Namespace) -> ExitCode:
    path, source = _resolve(args)
    print(path)
    exists = t("cli.exists") if path.exists() else t("cli.not_exists")
    print(t("cli.config_source", source=source, exists=exists), file=sys.stderr)
    return ExitCode.OK


def _load(args: argparse.Namespace):
    from iplos_tui.cli import load_profile_for

    return load_profile_for(args)


def run_show(args: argparse.Namespace) -> ExitCode:
    import tomli_w

    from iplos_tui.core.text import escape_unsafe

    profile = _load(args)
    # Values are the operator's own, but may hold bidi or invisible characters: printed escaped
    # (\u202E), never raw, so the output reads back to the same profile.
    if args.json:
        print(escape_unsafe(json.dumps(profile.to_json_dict(), ensure_ascii=False, indent=2), style="json"))
    else:
        sys.stdout.write(escape_unsafe(tomli_w.dumps(profile.to_toml_dict()), style="toml"))
    return ExitCode.OK


def run_check(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.config import ConfigError, validate_profile

    try:
        profile = _load(args)
    except ConfigError as exc:
        if args.json:
            error = {"message": exc.reason, "key": exc.key, "line": exc.line}
            print(json.dumps({"ok": False, "config": str(exc.path or ""), "error": error, "problems": []}, ensure_ascii=False))
        raise
    problems = validate_profile(profile)
    errors = [p for p in problems if p.severity == "error"]
    if args.json:
        print(json.dumps({
            "ok": not errors,
            "config": str(args.config_path),
            "problems": [{"field": p.attr, "severity": p.severity, "message": p.message} for p in problems],
        }, ensure_ascii=False, indent=2))
    for problem in problems:
        mark = t("cli.mark_error") if problem.severity == "error" else t("cli.mark_warning")
        print(f"{mark} {t('config.field.' + problem.attr)}: {safe_text(problem.message)}", file=sys.stderr)
    if errors:
        print(t("config.check_failed", errors=fmt.count(len(errors), "format.errors"), warnings=fmt.count(len(problems) - len(errors), "format.warnings")), file=sys.stderr)
        return ExitCode.FAILED
    print(t("config.check_ok"), file=sys.stderr)
    return ExitCode.OK


def run_init(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core.config import ConfigError, Profile, resolve_config_path
    from iplos_tui.core.profiles import new_profile_file, save_checked

    if getattr(args, "profile_id", None):
        _, path = new_profile_file(resolve_config_path(args.config)[0], args.profile_id)
        print(path)
        print(t("config.created", path=path), file=sys.stderr)
        return ExitCode.OK
    path, _ = _resolve(args)
    if path.exists() or path.is_symlink():
        raise ConfigError(t("config.exists", path=path))
    save_checked(Profile(), path)
    print(path)
    print(t("config.created", path=path), file=sys.stderr)
    return ExitCode.OK
