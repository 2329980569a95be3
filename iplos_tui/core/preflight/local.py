"""The checks of this machine: the recipients' certificates, the secure directory, the profile and
the operator's manual ticks."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

from iplos_tui.core import format as fmt
from iplos_tui.core.config import validate_profile
from iplos_tui.core.i18n import t
from iplos_tui.core.preflight.context import Context
from iplos_tui.core.preflight.model import FAIL, MANUAL, MANUAL_CHECKS, PASS, WARN, CheckResult, error_text, mark, result, show, utc

FREE_SPACE_WARN = 1 << 30
FREE_SPACE_FAIL = 100 << 20
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "ceph", "glusterfs", "afs", "lustre", "gpfs", "davfs"}
)
MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def check_certificate(ctx: Context, check_id: str, attr: str, fingerprint_attr: str) -> CheckResult:
    from iplos_tui.core import keys

    profile = ctx.profile
    path = getattr(profile, attr)
    if path is None:
        return result(check_id, FAIL, t("preflight.cert_not_configured"), hint=t(f"preflight.hint.{check_id}_missing", key=f"paths.{attr}"))
    path = Path(path)
    evidence = [t("preflight.ev.file", path=show(path))]
    try:
        cert = keys.load_certificate(path)
    except keys.CertificateError as exc:
        return result(check_id, FAIL, str(exc), evidence, t(f"preflight.hint.{check_id}_missing", key=f"paths.{attr}"))
    now = ctx.now()
    info = keys.describe(cert)
    evidence += [
        f"subject={info.subject}",
        f"issuer={info.issuer}",
        f"serial={info.serial}",
        f"notBefore={utc(info.not_before)}",
        f"notAfter={utc(info.not_after)}",
        t("preflight.ev.key", key=f"{info.key_type} {info.key_size or ''} {info.key_detail}".strip()),
        f"SHA256 Fingerprint={keys.format_fingerprint(info.sha256)}",
    ]
    fingerprint = getattr(profile, fingerprint_attr) or None
    problems = keys.check_for_encryption(cert, profile.year, fingerprint, now)
    warnings: list[str] = []
    hints: list[str] = []
    failures = [p for p in problems if p.code != "not_yet_valid"]
    if fingerprint and not any(p.code == "fingerprint" for p in problems):
        evidence.append(t("preflight.ev.fingerprint_ok"))
    for problem in problems:
        if problem.code == "not_yet_valid":
            warnings.append(problem.message)
            hints.append(t("preflight.hint.cert_clock", now=utc(now)))
    try:
        mtime = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.timezone.utc)
    except OSError:
        mtime = None
    if mtime is not None:
        evidence.append(t("preflight.ev.fetched", when=utc(mtime)))
        cutoff = dt.datetime(profile.year, 12, 1, tzinfo=keys.OSLO_WINTER)
        if mtime < cutoff:
            warnings.append(t("preflight.cert_fetched_early", when=mtime.astimezone(keys.OSLO_WINTER).strftime("%Y-%m-%d"), year=profile.year))
            hints.append(t("preflight.hint.cert_refetch", year=profile.year))
    if failures:
        clock_hint = any(p.code in ("expired", "not_yet_valid") for p in problems)
        hint = t(f"preflight.hint.{check_id}_replace")
        if clock_hint:
            hint += " " + t("preflight.hint.cert_clock", now=utc(now))
        return result(check_id, FAIL, failures[0].message, evidence + [f"- {p.message}" for p in problems[1:]], hint)
    if warnings:
        return result(check_id, WARN, warnings[0], evidence + [f"- {w}" for w in warnings[1:]], " ".join(hints))
    return result(
        check_id,
        PASS,
        t("preflight.cert_ok", key=f"{info.key_type} {info.key_size}", until=info.not_after.strftime("%Y-%m-%d"), year=profile.year),
        evidence,
    )


def check_ssb_certificate(ctx: Context) -> CheckResult:
    return check_certificate(ctx, "ssb_certificate", "ssb_certificate", "ssb_fingerprint")


def check_tpf_certificate(ctx: Context) -> CheckResult:
    return check_certificate(ctx, "tpf_certificate", "tpf_certificate", "tpf_fingerprint")


def mount_of(path: Path) -> tuple[str, str]:
    """(mount point, file system type) of the mount holding ``path``, from /proc/self/mountinfo."""
    best = ("", "")
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read(1 << 20).splitlines()
    except OSError:
        return best
    target = str(path)
    for line in lines:
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = right.split()[0] if right.split() else ""
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best[0]):
            best = (mount_point, fs_type)
    return best


def check_secure_dir(ctx: Context) -> CheckResult:
    path = Path(ctx.profile.secure_dir).expanduser()
    shown = show(path)
    evidence = [t("preflight.ev.path", path=shown)]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return result("secure_dir", FAIL, t("preflight.dir_missing", path=shown), evidence, t("preflight.hint.dir_create", path=shown))
    except OSError as exc:
        return result("secure_dir", FAIL, t("preflight.dir_unreadable", path=shown, error=error_text(exc)), evidence)
    if stat.S_ISLNK(st.st_mode):
        return result("secure_dir", FAIL, t("preflight.dir_symlink", path=shown), evidence, t("preflight.hint.dir_symlink"))
    if not stat.S_ISDIR(st.st_mode):
        return result("secure_dir", FAIL, t("preflight.dir_not_dir", path=shown), evidence, t("preflight.hint.dir_create", path=shown))
    mode = stat.S_IMODE(st.st_mode)
    evidence.append(t("preflight.ev.owner_mode", uid=st.st_uid, me=os.geteuid(), mode=f"{mode:04o}"))
    if st.st_uid != os.geteuid():
        return result("secure_dir", FAIL, t("preflight.dir_owner", uid=st.st_uid, me=os.geteuid()), evidence, t("preflight.hint.dir_owner", path=shown))
    if mode & 0o077:
        return result("secure_dir", FAIL, t("preflight.dir_mode", mode=f"{mode:04o}"), evidence, t("preflight.hint.dir_mode", path=shown))
    if not os.access(path, os.W_OK | os.X_OK):
        return result("secure_dir", FAIL, t("preflight.dir_not_writable", mode=f"{mode:04o}"), evidence, t("preflight.hint.dir_mode", path=shown))
    resolved = path.resolve()
    mount_point, fs_type = mount_of(resolved)
    if fs_type:
        evidence.append(t("preflight.ev.mount", mount=show(mount_point), fs=show(fs_type)))
    warnings: list[str] = []
    hints: list[str] = []
    try:
        vfs = os.statvfs(path)
        free = vfs.f_bavail * vfs.f_frsize
        evidence.append(t("preflight.ev.free", mib=free >> 20))
    except OSError:
        free = None
    if free is not None and free < FREE_SPACE_FAIL:
        return result("secure_dir", FAIL, t("preflight.dir_full", mib=free >> 20), evidence, t("preflight.hint.dir_space"))
    base_type = fs_type.split(".")[-1] if fs_type.startswith("fuse.") else fs_type
    if base_type in NETWORK_FILESYSTEMS or fs_type in ("fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.davfs2"):
        warnings.append(t("preflight.dir_network_fs", fs=show(fs_type)))
        hints.append(t("preflight.hint.dir_local"))
    elif fs_type in MEMORY_FILESYSTEMS:
        warnings.append(t("preflight.dir_memory_fs", fs=fs_type))
        hints.append(t("preflight.hint.dir_local"))
    for root in ctx.temp_roots:
        try:
            root_resolved = Path(root).resolve()
        except OSError:
            continue
        if resolved == root_resolved or root_resolved in resolved.parents:
            warnings.append(t("preflight.dir_in_temp", root=show(root)))
            hints.append(t("preflight.hint.dir_local"))
            break
    if free is not None and free < FREE_SPACE_WARN:
        warnings.append(t("preflight.dir_low_space", mib=free >> 20))
        hints.append(t("preflight.hint.dir_space"))
    loose = []
    try:
        for entry in sorted(os.scandir(path), key=lambda e: e.name)[:200]:
            entry_stat = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(entry_stat.st_mode) and entry_stat.st_mode & 0o077:
                loose.append(f"{show(entry.name, 60)} ({stat.S_IMODE(entry_stat.st_mode):04o})")
    except OSError:
        pass
    if loose:
        warnings.append(t("preflight.dir_loose_children", names=", ".join(loose[:5])))
        hints.append(t("preflight.hint.dir_mode", path=shown))
    if warnings:
        return result("secure_dir", WARN, warnings[0], evidence + [f"- {w}" for w in warnings[1:]], " ".join(dict.fromkeys(hints)))
    return result("secure_dir", PASS, t("preflight.dir_ok", mode=f"{mode:04o}", gib=fmt.number((free or 0) / (1 << 30), 1)), evidence)


def check_profile(ctx: Context) -> CheckResult:
    problems = validate_profile(ctx.profile)
    errors = [p for p in problems if p.severity == "error"]
    evidence = [f"{mark(FAIL if p.severity == 'error' else WARN)} {t('config.field.' + p.attr)}: {show(p.message)}" for p in problems]
    if errors:
        return result("profile", FAIL, t("preflight.profile_errors", errors=fmt.count(len(errors), "format.errors"), warnings=fmt.count(len(problems) - len(errors), "format.warnings")), evidence, t("preflight.hint.profile"))
    if problems:
        return result("profile", WARN, t("preflight.profile_warnings", warnings=fmt.count(len(problems), "format.warnings")), evidence, t("preflight.hint.profile"))
    return result("profile", PASS, t("preflight.profile_ok"), evidence)


def check_manual(ctx: Context, check_id: str) -> CheckResult:
    confirmed = bool(getattr(ctx.profile, MANUAL_CHECKS[check_id]))
    if confirmed:
        return result(check_id, PASS, t("preflight.manual_confirmed"), [t(f"preflight.manual.{check_id}")])
    return result(check_id, MANUAL, t(f"preflight.manual.{check_id}"), hint=t("preflight.hint.manual"))


