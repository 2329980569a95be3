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
    result = iplos("--lang", "en", "--config", str(tmp_path / "none.toml"), "config", "check")
    assert result.returncode == ExitCode.FAILED
    assert "Municipality number" in result.stderr


@pytest.mark.parametrize("name", ["TEXTUAL_PRESS", "TEXTUAL_SCREENSHOT", "TEXTUAL_LOG", "TEXTUAL"])
def test_textual_automation_variables_are_refused(tmp_path, name):
    value = "devtools" if name == "TEXTUAL" else "enter"
    result = iplos("--config", str(tmp_path / "c.toml"), "tui", env={name: value})
    assert result.returncode == ExitCode.USAGE
    assert name in result.stderr and "--allow-textual-env" in result.stderr


def test_tui_needs_a_terminal(tmp_path):
    result = iplos("--config", str(tmp_path / "c.toml"))
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
