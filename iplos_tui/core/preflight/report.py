"""The plain-text report an operator pastes into an IT ticket, and its saved copy in the secure
directory."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

from iplos_tui.core import format as fmt
from iplos_tui.core.config import Profile
from iplos_tui.core.errors import IplosError
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.endpoint import mask_proxy
from iplos_tui.core.preflight.model import FAIL, MANUAL, PASS, SKIP, WARN, CheckResult, error_text, mark, seconds_text, show, summary_counts
from iplos_tui.core.text import safe_text


def render_report(
    results: list[CheckResult],
    profile: Profile,
    *,
    generated_at: dt.datetime,
    host: str,
    config_path: Path | None = None,
) -> str:
    """The plain-text report an operator pastes into an IT ticket."""
    from iplos_tui import __version__
    from iplos_tui.core.tlsconfig import trust_source

    counts = summary_counts(results)
    lines = [
        t("preflight.report.title"),
        "=" * len(t("preflight.report.title")),
        t("preflight.report.generated", when=generated_at.strftime("%Y-%m-%d %H:%M:%S %Z").strip(), host=show(host), version=__version__),
    ]
    if config_path is not None:
        lines.append(t("preflight.report.config", path=show(config_path)))
    lines += [
        t("preflight.report.profile", kommunenr=show(profile.kommunenr or "-"), bydel=show(profile.bydel), year=profile.year),
        t("preflight.report.sendemodul", url=show(profile.sendemodul_url), expected=show(profile.sendemodul_address or "-")),
    ]
    if profile.sendemodul_connect_address:
        lines.append(t("preflight.report.override", address=show(profile.sendemodul_connect_address)))
    if profile.proxy:
        lines.append(t("preflight.report.proxy", proxy=show(mask_proxy(profile.proxy))))
    lines += [
        t("preflight.report.trust", source=show(trust_source(profile.sendemodul_ca_bundle))),
        t("preflight.report.feedback", url=show(profile.gateway_url)),
        t("preflight.report.timeout", seconds=seconds_text(profile.preflight_timeout)),
        "",
        t(
            "preflight.report.summary",
            ok=counts[PASS],
            warnings=fmt.count(counts[WARN], "format.warnings"),
            failed=fmt.count(counts[FAIL], "preflight.count.failed"),
            skipped=counts[SKIP],
            manual=fmt.count(counts[MANUAL], "preflight.count.manual"),
        ),
        "",
    ]
    for result in results:
        lines.append(f"{mark(result.status):<6} {result.id} — {show(result.title)} ({result.elapsed_ms:.0f} ms)")
        lines.append(f"       {safe_text(result.detail, one_line=True)}")
        for item in result.evidence:
            lines.append(f"         {safe_text(item, one_line=True)}")
        if result.hint:
            lines.append(f"       {t('preflight.report.hint')}: {safe_text(result.hint, one_line=True)}")
        if result.commands:
            lines.append(f"       {t('preflight.report.commands')}:")
            lines += [f"         $ {safe_text(command, one_line=True)}" for command in result.commands]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


class ReportError(IplosError):
    """The report could not be written (the message says where and why)."""


def write_report(
    results: list[CheckResult],
    profile: Profile,
    *,
    generated_at: dt.datetime | None = None,
    host: str | None = None,
    config_path: Path | None = None,
) -> Path:
    """Write the report into ``<secure_dir>/reports/`` atomically (0600); returns its path."""
    from iplos_tui.core.fsutil import UnsafePathError, atomic_write_bytes, ensure_private_dir

    generated_at = generated_at or dt.datetime.now().astimezone()
    host = host or socket.gethostname()
    secure = Path(profile.secure_dir).expanduser()
    if not secure.is_dir():
        raise ReportError(t("preflight.report.no_secure_dir", path=show(secure)))
    try:
        directory = ensure_private_dir(secure / "reports")
    except (UnsafePathError, OSError) as exc:
        raise ReportError(t("preflight.report.cannot_write", path=show(secure / "reports"), error=show(exc))) from None
    stem = f"preflight-{profile.kommunenr or 'profil'}-{generated_at.strftime('%Y%m%d-%H%M%S')}"
    path = directory / f"{stem}.txt"
    counter = 1
    while path.exists():
        counter += 1
        path = directory / f"{stem}-{counter}.txt"
    text = render_report(results, profile, generated_at=generated_at, host=host, config_path=config_path)
    try:
        atomic_write_bytes(path, text.encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise ReportError(t("preflight.report.cannot_write", path=show(path), error=error_text(exc))) from None
    return path
