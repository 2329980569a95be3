"""`iplos encrypt EXTRACT [--out DIR] [--ssb-cert FILE] [--tpf-cert FILE] [--part-size BYTES] [--workers N] [--json]`."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from iplos_tui.commands.options import add_workers
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t
from iplos_tui.core.text import safe_text

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encrypt", help=t("envelope.help_encrypt"), description=t("envelope.help_encrypt"))
    parser.add_argument("extract", metavar="EXTRACT", help=t("envelope.help_extract"))
    parser.add_argument("--out", metavar="DIR", help=t("envelope.help_out"))
    parser.add_argument("--ssb-cert", metavar="FILE", help=t("keys.help_ssb_cert"))
    parser.add_argument("--tpf-cert", metavar="FILE", help=t("keys.help_tpf_cert"))
    parser.add_argument("--part-size", metavar="BYTES", type=_size, help=t("envelope.help_part_size"))
    parser.add_argument("--json", action="store_true", help=t("envelope.help_json"))
    add_workers(parser, t("envelope.help_workers"))
    parser.set_defaults(handler=run)


def _size(text: str) -> int:
    """``4194304``, ``4M``, ``4MiB``, ``512k`` -> bytes (binary multiples)."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    factor = 1
    for suffix, multiple in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if value.endswith(suffix):
            value, factor = value[:-1], multiple
            break
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(t("envelope.bad_size", value=safe_text(text, one_line=True))) from None
    return number * factor


def default_out_dir(profile, now: dt.datetime | None = None) -> Path:
    """``<secure_dir>/envelopes/<kommunenr><bydel>-<year>-<UTC time>``, with ``-2``, ``-3``, ...
    when a run in the same second already took that name."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    base = Path(profile.secure_dir) / "envelopes" / f"{profile.kommunenr or 'kommune'}{profile.bydel or ''}-{profile.year}-{now:%Y%m%dT%H%M%SZ}"
    candidate, number = base, 1
    while os.path.lexists(candidate):
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _err(message: str) -> None:
    print(f"iplos: {safe_text(message)}", file=sys.stderr)


def run(args: argparse.Namespace) -> ExitCode:
    from iplos_tui.core import encryption, envelope
    from iplos_tui.core.config import DEFAULT_PART_SIZE
    from iplos_tui.core.extract.importer import ExtractError
    from iplos_tui.core.keys import CertificateError, load_certificate

    profile = args.profile
    ssb_path = args.ssb_cert or getattr(profile, "ssb_certificate", None)
    tpf_path = args.tpf_cert or getattr(profile, "tpf_certificate", None)
    if not ssb_path or not tpf_path:
        _err(t("envelope.no_certs"))
        return ExitCode.USAGE
    try:
        ssb = load_certificate(ssb_path)
        tpf = load_certificate(tpf_path)
    except CertificateError as exc:
        _err(str(exc))
        return ExitCode.USAGE
    # Without a config file the profile is all defaults (year 2017, no kommunenr): take the
    # extract's header instead of checking it against made-up values.
    config_path = getattr(args, "config_path", None)
    has_config = profile is not None and config_path is not None and Path(config_path).exists()
    params = envelope.EnvelopeParams.from_profile(profile) if has_config else envelope.EnvelopeParams()
    part_size = args.part_size or getattr(profile, "part_size", None) or DEFAULT_PART_SIZE
    out_dir = Path(args.out) if args.out else default_out_dir(profile)

    interactive = sys.stderr.isatty() and not args.json
    last = {"parts": 0}

    def progress(event: envelope.Progress) -> None:
        if interactive and event.phase == "part" and event.parts != last["parts"]:
            last["parts"] = event.parts
            print(
                t("envelope.progress", parts=event.parts, read=_human(event.bytes_read), total=_human(event.total_bytes), persons=event.persons),
                file=sys.stderr,
            )

    workers = args.workers if args.workers is not None else getattr(profile, "workers", 1)
    try:  # an EnvelopeError (or Cancelled) reaches cli.main, which says why with its exit code
        result = encryption.encrypt_extract(args.extract, out_dir, ssb, tpf, params, part_size, progress=progress, workers=workers)
    except ExtractError as exc:
        _err(str(exc))  # a path problem is a usage error; a file that is not an extract failed the check
        return ExitCode.USAGE if exc.rule == "file.path" else ExitCode.FAILED

    if result.workers > 1:
        print(t("envelope.log_workers", workers=result.workers), file=sys.stderr)
    manifest = result.manifest
    if args.json:
        sys.stdout.write(manifest.to_json().decode("utf-8"))
    else:
        print(result.manifest_path)
    content = manifest.content_parts
    ciphertext = sum(p.ciphertext_size for p in manifest.parts)
    print(
        t(
            "envelope.summary",
            persons=manifest.persons,
            parts=len(content),
            size=_human(ciphertext),
            out=safe_text(str(result.out_dir), one_line=True),
            sha256=result.extract_sha256,
        ),
        file=sys.stderr,
    )
    return ExitCode.OK
