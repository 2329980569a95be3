"""`iplos sandbox ACTION`: the loopback reference world (synthetic data, servers, clock).

Each action registers itself through a function in ``ACTIONS``; adding one (serve,
advance-clock, ...) is a function ``_register_<name>(actions)`` plus one line in ``ACTIONS``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sandbox", help=t("sandbox.help"), description=t("sandbox.description"))
    actions = parser.add_subparsers(dest="sandbox_action", metavar="ACTION", required=True, parser_class=type(parser))
    for register_action in ACTIONS:
        register_action(actions)


# --- generate ------------------------------------------------------------------------------------


def _register_generate(actions: argparse._SubParsersAction) -> None:
    gen = actions.add_parser("generate", help=t("sandbox.help_generate"), description=t("sandbox.description_generate"))
    gen.add_argument("--persons", type=int, required=True, metavar="N", help=t("sandbox.help_persons"))
    gen.add_argument("--seed", type=int, default=0, metavar="S", help=t("sandbox.help_seed"))
    gen.add_argument("--kommunenr", metavar="K", help=t("sandbox.help_kommunenr"))
    gen.add_argument("--bydel", metavar="B", help=t("sandbox.help_bydel"))
    gen.add_argument("--year", type=int, metavar="Y", help=t("sandbox.help_year"))
    gen.add_argument("--error-rate", type=float, default=0.0, metavar="R", help=t("sandbox.help_error_rate"))
    gen.add_argument("-o", "--output", required=True, metavar="FILE", help=t("sandbox.help_output"))
    gen.add_argument("--planted", metavar="FILE", help=t("sandbox.help_planted"))
    gen.add_argument("--header-error", action="append", default=[], metavar="RULE", help=t("sandbox.help_header_error"))
    gen.add_argument("--json", action="store_true", help=t("cli.help_json"))
    gen.set_defaults(handler=run_generate)


def _usage(message: str) -> ExitCode:
    print(f"iplos: {message}", file=sys.stderr)
    return ExitCode.USAGE


def run_generate(args: argparse.Namespace) -> ExitCode:
    from pathlib import Path

    from iplos_tui.core import identifiers, refdata
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.fsutil import atomic_writer
    from iplos_tui.core.text import safe_text

    profile = getattr(args, "profile", None)
    configured = profile is not None and bool(getattr(profile, "kommunenr", ""))
    kommunenr = args.kommunenr or (profile.kommunenr if configured else "0403")
    bydel = args.bydel or (profile.bydel if configured and profile.bydel else "00")
    year = args.year if args.year is not None else (profile.year if configured else 2017)

    if year not in refdata.supported_years():
        return _usage(str(refdata.UnsupportedYear(year)))
    for verdict in (identifiers.check_kommunenr(kommunenr, year), identifiers.check_bydel(bydel, kommunenr)):
        if not verdict.ok:
            return _usage(verdict.message)
    if not 0 <= args.persons <= 1_500_000:
        return _usage(t("sandbox.bad_persons"))
    if not 0.0 <= args.error_rate <= 1.0:
        return _usage(t("sandbox.bad_error_rate"))

    from iplos_tui.core.extract.generator import HEADER_PLANTS

    unknown = [rule for rule in args.header_error if rule not in HEADER_PLANTS]
    if unknown:
        return _usage(t("sandbox.bad_header_error", rules=", ".join(unknown), known=", ".join(HEADER_PLANTS)))
    output = Path(args.output)
    try:
        planted = generate_file(
            output, persons=args.persons, seed=args.seed, kommunenr=kommunenr, bydel=bydel, year=year,
            error_rate=args.error_rate, header_errors=tuple(dict.fromkeys(args.header_error)),
        )
        if args.planted:
            with atomic_writer(Path(args.planted)) as handle:
                for item in planted:
                    handle.write((json.dumps({"local_id": item.local_id, "rule": item.rule}) + "\n").encode("utf-8"))
    except OSError as exc:
        return _usage(t("sandbox.write_failed", path=safe_text(str(output), one_line=True), detail=safe_text(exc.strerror or str(exc))))

    by_rule: dict[str, int] = {}
    for item in planted:
        by_rule[item.rule] = by_rule.get(item.rule, 0) + 1
    if args.json:
        print(json.dumps({
            "file": str(output),
            "persons": args.persons,
            "seed": args.seed,
            "kommunenr": kommunenr,
            "bydel": bydel,
            "year": year,
            "error_rate": args.error_rate,
            "planted": len(planted),
            "planted_by_rule": dict(sorted(by_rule.items())),
        }, ensure_ascii=False, indent=2))
    print(t("sandbox.generated", path=safe_text(str(output), one_line=True), persons=args.persons, kommunenr=kommunenr,
            bydel=bydel, year=year, planted=len(planted)), file=sys.stderr)
    return ExitCode.OK


# --- serve and advance-clock ----------------------------------------------------------------------


def _register_serve(actions: argparse._SubParsersAction) -> None:
    serve = actions.add_parser("serve", help=t("sandbox.help_serve"), description=t("sandbox.description_serve"))
    serve.add_argument("--dir", metavar="DIR", help=t("sandbox.help_dir"))
    serve.add_argument("--port", type=int, default=0, metavar="PORT", help=t("sandbox.help_port"))
    serve.add_argument("--accounts", type=int, metavar="N", help=t("sandbox.help_accounts"))
    serve.set_defaults(handler=run_serve, needs_profile=False)


def _register_advance_clock(actions: argparse._SubParsersAction) -> None:
    adv = actions.add_parser("advance-clock", help=t("sandbox.help_advance"), description=t("sandbox.description_advance"))
    adv.add_argument("--dir", metavar="DIR", help=t("sandbox.help_dir"))
    adv.add_argument("--hours", type=float, metavar="H", help=t("sandbox.help_hours"))
    adv.add_argument("--json", action="store_true", help=t("cli.help_json"))
    adv.set_defaults(handler=run_advance_clock, needs_profile=False)


def _sandbox_missing(exc: ModuleNotFoundError) -> ExitCode:
    return _usage(t("sandbox.extra_missing", module=exc.name or "?"))


def run_serve(args: argparse.Namespace) -> ExitCode:
    import signal
    import threading

    if not 0 <= args.port <= 65535:
        return _usage(t("sandbox.bad_port"))
    from iplos_tui.sandbox.accounts import MAX_ACCOUNTS

    if args.accounts is not None and not 1 <= args.accounts <= MAX_ACCOUNTS:
        return _usage(t("sandbox.bad_accounts", limit=MAX_ACCOUNTS))
    try:
        from iplos_tui.sandbox.server import SandboxServer
        from iplos_tui.sandbox.session import ensure_extracts
    except ModuleNotFoundError as exc:
        return _sandbox_missing(exc)
    from iplos_tui.sandbox.layout import SandboxDir

    try:
        sdir = SandboxDir(args.dir).ensure()
        clean, with_errors = ensure_extracts(sdir)
        server = SandboxServer(sdir.root, port=args.port, accounts=args.accounts).start()
    except OSError as exc:
        from iplos_tui.core.text import safe_text

        print(f"iplos: {t('sandbox.serve_failed', detail=safe_text(exc.strerror or str(exc), one_line=True))}", file=sys.stderr)
        return ExitCode.NETWORK
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(json.dumps(dict(server.info(), extract=str(clean), extract_with_errors=str(with_errors)), ensure_ascii=False), flush=True)
        print(t("sandbox.serving", url=server.sendemodul_url, profile=str(server.config_path)), file=sys.stderr, flush=True)
        if len(server.accounts) > 1:
            from iplos_tui.core.profiles import profiles_dir

            print(t("sandbox.serving_accounts", count=len(server.accounts), dir=str(sdir.root),
                    profiles=str(profiles_dir(server.config_path))), file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print(t("sandbox.stopped"), file=sys.stderr)
    return ExitCode.OK


def run_advance_clock(args: argparse.Namespace) -> ExitCode:
    try:
        from iplos_tui.sandbox.control import advance_clock
    except ModuleNotFoundError as exc:
        return _sandbox_missing(exc)
    from iplos_tui.sandbox.layout import SandboxDir

    if args.hours is not None and not 0 <= args.hours <= 24 * 366:
        return _usage(t("sandbox.bad_hours"))
    sdir = SandboxDir(args.dir)
    if not sdir.account_file.exists():
        return _usage(t("sandbox.no_sandbox", dir=str(sdir.root)))
    outcome = advance_clock(sdir, None if args.hours is None else args.hours * 3600)
    if args.json:
        print(json.dumps(outcome, ensure_ascii=False, indent=2))
    print(t("sandbox.clock_now", now=outcome["clock"], delivered=len(outcome["delivered"]), pending=outcome["pending"]), file=sys.stderr)
    return ExitCode.OK


ACTIONS: list[Callable[[argparse._SubParsersAction], None]] = [
    _register_generate,
    _register_serve,
    _register_advance_clock,
]
