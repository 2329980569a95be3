"""The CLI as an API: stdout data, stderr diagnostics, exit codes from one enum."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from iplos_tui import __version__
from iplos_tui.core import config as cfg
from iplos_tui.core.exitcodes import ExitCode


def iplos(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "iplos_tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=60,
    )


def test_version():
    result = iplos("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"iplos-tui {__version__}"


def test_usage_error_exits_2():
    result = iplos("no-such-command")
    assert result.returncode == ExitCode.USAGE
    assert result.stdout == "" and "no-such-command" in result.stderr


def test_config_path_precedence(tmp_path):
    env_path = tmp_path / "env.toml"
    result = iplos("config", "path", env={"IPLOS_CONFIG": str(env_path)})
    assert result.returncode == 0 and result.stdout.strip() == str(env_path)
    assert "$IPLOS_CONFIG" in result.stderr
    result = iplos("--config", str(tmp_path / "cli.toml"), "config", "path", env={"IPLOS_CONFIG": str(env_path)})
    assert result.stdout.strip() == str(tmp_path / "cli.toml")


def test_init_then_check_and_show(tmp_path, valid_profile):
    path = tmp_path / "conf" / "config.toml"
    result = iplos("--config", str(path), "config", "init")
    assert result.returncode == 0 and result.stdout.strip() == str(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    again = iplos("--config", str(path), "config", "init")
    assert again.returncode == ExitCode.USAGE and path.exists()

    check = iplos("--config", str(path), "config", "check", "--json")
    assert check.returncode == ExitCode.FAILED
    report = json.loads(check.stdout)
    assert report["ok"] is False
    assert {p["field"] for p in report["problems"] if p["severity"] == "error"} >= {"kommunenr", "orgnr"}

    cfg.save_profile(valid_profile, path)
    check = iplos("--config", str(path), "config", "check", "--json")
    assert check.returncode == ExitCode.OK and json.loads(check.stdout)["ok"] is True

    show = iplos("--config", str(path), "config", "show", "--json")
    assert json.loads(show.stdout)["profile"]["kommunenr"] == "0403"
    toml_out = iplos("--config", str(path), "config", "show")
    assert 'kommunenr = "0403"' in toml_out.stdout


def test_unsafe_config_is_a_config_error(tmp_path):
    path = tmp_path / "c" / "config.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text("[profile]\n")
    os.chmod(path, 0o644)
    for args in (("config", "show"), ("config", "check", "--json")):
        result = iplos("--config", str(path), *args)
        assert result.returncode == ExitCode.USAGE
        assert "chmod 600" in result.stderr


def test_english_messages(tmp_path):
    result = iplos("--lang", "en", "config", "check")  # the default path, not made yet: defaults
    assert result.returncode == ExitCode.FAILED
    assert "Municipality number" in result.stderr


@pytest.mark.parametrize("name", ["TEXTUAL_PRESS", "TEXTUAL_SCREENSHOT", "TEXTUAL_LOG", "TEXTUAL"])
def test_textual_automation_variables_are_refused(tmp_path, name):
    value = "devtools" if name == "TEXTUAL" else "enter"
    result = iplos("tui", env={name: value})
    assert result.returncode == ExitCode.USAGE
    assert name in result.stderr and "--allow-textual-env" in result.stderr


def test_tui_needs_a_terminal():
    result = iplos()
    assert result.returncode == ExitCode.USAGE and "terminal" in result.stderr


def test_a_closed_pipe_is_not_a_crash(tmp_path, valid_profile):
    """`iplos ... | head` must end quietly, without a traceback."""
    path = tmp_path / "c" / "config.toml"
    cfg.save_profile(valid_profile, path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iplos_tui", "--config", str(path), "config", "show"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before anything is written
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err and b"BrokenPipe" not in err


def test_hardening_quiets_http_logs_and_core_dumps():
    """In a child (the settings are process-wide): httpx/httpcore at WARNING, no core dumps,
    not dumpable (so not ptrace-able by the same user, /proc/PID/environ root-only)."""
    code = textwrap.dedent(
        """
        import ctypes, logging, resource
        from iplos_tui.cli import harden_process
        logging.getLogger("httpx").setLevel(logging.DEBUG)
        harden_process()
        PR_GET_DUMPABLE = 3
        print(logging.getLogger("httpx").getEffectiveLevel(), logging.getLogger("httpcore").getEffectiveLevel(),
              resource.getrlimit(resource.RLIMIT_CORE)[0], ctypes.CDLL(None).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert out == ["30", "30", "0", "0"]


# --- issue 11: every bad input is one line on stderr with the documented exit code -------------


def _one_line_error(result: subprocess.CompletedProcess, code: ExitCode) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2 and all(line.startswith("iplos: ") for line in lines), result.stderr
    return result.stderr


def test_a_named_config_that_does_not_exist_is_exit_2_with_the_path(tmp_path):
    """Item 16: `--config /typo/x.toml` loaded the defaults (production URL, empty profile)."""
    typo = tmp_path / "typo" / "x.toml"
    for args, env in (
        (("--config", str(typo), "config", "show"), {}),
        (("--config", str(typo), "status"), {}),
        (("config", "check"), {"IPLOS_CONFIG": str(typo)}),
    ):
        assert str(typo) in _one_line_error(iplos(*args, env=env), ExitCode.USAGE)
    assert iplos("config", "show").returncode == ExitCode.OK  # the default path may be missing


@pytest.mark.parametrize(
    "text",
    ["[profile]\nyear = " + "9" * 5000 + "\n", "[profile]\nkommunenr = " + "[" * 100_000 + "]" * 100_000 + "\n"],
    ids=["5000-digits", "deep-array"],
)
def test_hostile_toml_is_one_line_and_exit_2(tmp_path, text):
    """Item 13."""
    path = tmp_path / "c" / "config.toml"
    path.parent.mkdir(mode=0o700)
    path.write_text(text)
    os.chmod(path, 0o600)
    for args in (("config", "show"), ("config", "check"), ("status",)):
        assert str(path) in _one_line_error(iplos("--config", str(path), *args), ExitCode.USAGE)


def test_a_symlinked_secure_directory_is_one_line_and_exit_2(tmp_path, valid_profile):
    """Item 13: `submit` with the secure directory a symlink gave a traceback and exit 1."""
    from iplos_tui.core.extract.generator import generate_file

    real = tmp_path / "real-secure"
    real.mkdir(mode=0o700)
    link = tmp_path / "secure-link"
    link.symlink_to(real)
    extract = real / "uttrekk.xml"
    generate_file(extract, persons=3, kommunenr="0403", year=2017)
    path = tmp_path / "c" / "config.toml"
    cfg.save_profile(valid_profile.replace(secure_dir=link), path)
    result = iplos("--config", str(path), "submit", str(extract), "--yes", "--pin-stdin", stdin="1234\n")
    stderr = _one_line_error(result, ExitCode.USAGE)
    assert str(link) in stderr and str(real) in stderr  # names the link and the real path to use


def _on_a_full_disk(directory, command: list[str]) -> list[str]:
    """``command`` in a private mount namespace with a full 64 KiB tmpfs on ``directory``; after
    it, the namespace's view of ``directory`` is listed on stdout (after a marker line)."""
    script = (
        'dir="$1"; shift; mount -t tmpfs -o size=64k tmpfs "$dir" || exit 99; '
        'dd if=/dev/zero of="$dir/fill" bs=4k 2>/dev/null; '
        '"$@"; code=$?; echo "--listing--"; ls -A "$dir" "$dir/conf" 2>/dev/null; exit $code'
    )
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(directory), *command]


def _unshare_works() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True).returncode == 0


def test_config_init_on_a_full_disk_is_one_line_and_exit_2(tmp_path):
    """Item 13: a real full file system (tmpfs in a private mount namespace), no mocks."""
    if not _unshare_works():
        pytest.skip("unshare (user + mount namespace) is not available here; the RLIMIT test covers the write error")
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o700)
    config = disk / "conf" / "config.toml"
    result = subprocess.run(
        _on_a_full_disk(disk, [sys.executable, "-m", "iplos_tui", "--config", str(config), "config", "init"]),
        capture_output=True, text=True, env=os.environ, timeout=60,
    )
    output, _, listing = result.stdout.partition("--listing--")
    assert listing, result.stderr  # the mount worked and the command ran
    stderr = _one_line_error(subprocess.CompletedProcess(result.args, result.returncode, output, result.stderr), ExitCode.USAGE)
    assert str(config) in stderr and ("No space left" in stderr or "plass" in stderr)
    assert sorted(listing.split()) == sorted([f"{disk}:", "conf", "fill", f"{disk}/conf:"])  # no file, no temp


def test_config_init_when_a_write_fails_is_one_line_and_exit_2(tmp_path):
    """Item 13, anywhere: a file size limit (RLIMIT_FSIZE) makes the real write fail (EFBIG)."""
    import resource
    import signal

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    config = tmp_path / "conf" / "config.toml"
    result = subprocess.run(
        [sys.executable, "-m", "iplos_tui", "--config", str(config), "config", "init"],
        capture_output=True, text=True, env=os.environ, timeout=60, preexec_fn=small_files,
    )
    assert str(config) in _one_line_error(result, ExitCode.USAGE)
    assert sorted(config.parent.iterdir()) == []  # neither the file nor a temp file


def test_config_show_prints_no_raw_bidi_or_invisible_character(tmp_path, valid_profile):
    """Item 17: `config show` printed U+202E raw; escaped now, and it reads back the same."""
    import tomllib

    hostile = "navn\u202etxt.exe\u200b\u2028x\ufeff\U000e0041"
    path = tmp_path / "c" / "config.toml"
    profile = valid_profile.replace(contact_email=hostile, proxy=hostile)
    cfg.save_profile(profile, path)
    toml_out = iplos("--config", str(path), "config", "show")
    json_out = iplos("--config", str(path), "config", "show", "--json")
    for result in (toml_out, json_out):
        assert result.returncode == 0
        assert not any(ch in result.stdout for ch in "\u202e\u200b\u2028\ufeff\U000e0041")
    assert tomllib.loads(toml_out.stdout)["profile"]["contact_email"] == hostile
    assert json.loads(json_out.stdout)["sendemodul"]["proxy"] == hostile


def test_only_the_named_commands_parser_is_built():
    """Start-up: ``--profile 0403 submit`` builds submit's parser alone (it built all of them),
    and ``--version`` none."""
    from iplos_tui.cli import COMMAND_MODULES, commands_needed

    assert commands_needed(["--profile", "0403", "submit", "x.xml"]) == ("submit",)
    assert commands_needed(["--profile=0403", "--lang", "en", "status"]) == ("status",)
    assert commands_needed(["--version"]) == ()
    assert commands_needed(["-h"]) == COMMAND_MODULES
    assert commands_needed([]) == ("tui",)
