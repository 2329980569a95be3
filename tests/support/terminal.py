"""A real child process on a pseudo-terminal, for the parts that need a terminal (the TUI)."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def ctrl_c_as_at_a_terminal() -> None:
    """A ``preexec_fn`` for a child a test sends Ctrl-C (SIGINT): a test run started in the
    background (``nohup``, ``&`` in a script) passes SIGINT on ignored, and a program rightly keeps
    an ignored Ctrl-C ignored; at a terminal it is not."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class PtyResult:
    returncode: int
    output: str


def run_in_pty(argv: Sequence[str], *, env: Mapping[str, str] | None = None, limit: float = 60.0) -> PtyResult:
    """Run ``argv`` on an 80x24 pty until it exits (killed after ``limit`` seconds, a bound
    against a hung test); return its exit code and everything it wrote to the terminal."""
    environment = {**(env if env is not None else os.environ), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    pid, fd = pty.fork()
    if pid == 0:  # the child
        try:
            os.execvpe(argv[0], list(argv), environment)
        finally:
            os._exit(127)
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                finished, status = os.waitpid(pid, os.WNOHANG)
                if finished:
                    return PtyResult(_code(status), _drain(fd, chunks))
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        return PtyResult(_code(status), b"".join(chunks).decode("utf-8", "replace"))
    finally:
        os.close(fd)


def _drain(fd: int, chunks: list[bytes]) -> str:
    try:
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks).decode("utf-8", "replace")


def _code(status: int) -> int:
    return os.waitstatus_to_exitcode(status)
