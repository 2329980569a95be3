"""Running ``iplos`` as a real child process: output, exit code and the child's own peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, the child's own high-water mark (wait4 rusage), not ours


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.update(extra)
    return env


def iplos_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "iplos_tui", "--config", str(config), *args]


def run_iplos(config: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> Finished:
    """Run ``iplos --config CONFIG ARGS`` to the end; ``peak_rss`` is measured by the kernel."""
    process = subprocess.Popen(
        iplos_command(config, *args),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(), text=True,
    )
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return Finished(process.returncode, out, err, 0)


# The measured process is started by a small launcher: a child forked straight from pytest would
# carry pytest's own high-water mark into its ru_maxrss (the kernel keeps the old one at exec).
LAUNCHER = """
import os, resource, sys
limit, report, *command = sys.argv[1:]
pid = os.fork()
if pid == 0:
    if limit != "-":
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    out.write(str(usage.ru_maxrss * 1024))
sys.exit(os.waitstatus_to_exitcode(status) % 256)
"""


def run_measured(config: Path, *args: str, stdin: str | None = None, timeout: float = 120, address_space: int | None = None) -> Finished:
    """Like ``run_iplos`` and reports the child's own peak RSS (``wait4`` in a small launcher).

    ``address_space`` caps the child's virtual memory (RLIMIT_AS), so that a defect shows as a
    failing test instead of a machine out of memory."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "peak"
        command = [sys.executable, "-c", LAUNCHER, str(address_space) if address_space else "-", str(report), *iplos_command(config, *args)]
        done = _communicate(command, stdin, timeout)
        done.peak_rss = int(report.read_text()) if report.exists() else 0
        if done.returncode >= 192:  # the launcher passes signal n on as 256 - n
            done.returncode -= 256
        return done


def _communicate(command: list[str], stdin: str | None, timeout: float) -> Finished:
    import selectors
    import time

    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    if stdin is not None:
        process.stdin.write(stdin.encode())
    process.stdin.close()
    chunks: dict[int, list[bytes]] = {process.stdout.fileno(): [], process.stderr.fileno(): []}
    selector = selectors.DefaultSelector()
    for stream in (process.stdout, process.stderr):
        selector.register(stream, selectors.EVENT_READ)
    end = time.monotonic() + timeout
    open_streams = 2
    while open_streams:
        if time.monotonic() > end:
            process.kill()
            raise subprocess.TimeoutExpired(process.args, timeout)
        for key, _ in selector.select(timeout=0.5):
            data = os.read(key.fd, 1 << 16)
            if data:
                chunks[key.fd].append(data)
            else:
                selector.unregister(key.fileobj)
                open_streams -= 1
    process.wait()
    return Finished(
        process.returncode,
        b"".join(chunks[process.stdout.fileno()]).decode("utf-8", "replace"),
        b"".join(chunks[process.stderr.fileno()]).decode("utf-8", "replace"),
        0,
    )


@pytest.fixture
def config(tmp_path, valid_profile) -> Path:
    """The test's profile saved as a config file (0600 in a 0700 folder) for ``iplos --config``."""
    from iplos_tui.core import config as cfg

    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(mode=0o700)
    cfg.save_profile(valid_profile, path)
    return path
