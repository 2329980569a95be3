"""Drive the real console in tmux: the terminal an operator has over SSH, at a fixed size.

Each ``TmuxTerminal`` runs its own tmux server (``tmux -L <unique socket>``, no user config), so
tests never share a server or a session; ``close()`` (done by the fixture) kills that server and
with it the console. ``screen()`` is what the operator sees (``capture-pane``, plain text).

    def test_x(tmux_terminal):
        term = tmux_terminal(["iplos", "tui"], env={...})
        term.wait_for("F1 Profil")
        term.send("?")
        assert "Hjelp" in term.wait_for("Hjelp")

``wait_for`` polls until a text is on screen or a generous deadline has passed (then it fails with
the screen as it was): a wait, not a timed assertion.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
DEADLINE = 60.0  # seconds; a loaded 2-core machine starts Textual in 2-5 s


class TmuxTerminal:
    def __init__(self, command: Sequence[str], *, width: int = 80, height: int = 24, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        assert TMUX is not None
        self.socket = f"operator-{uuid.uuid4().hex[:12]}"
        self.session = "operator-console"
        environ = {key: value for key, value in os.environ.items() if not key.startswith(("TMUX", "TEXTUAL"))}
        environ.update(env or {})
        self._env = environ
        self._tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
            *(arg for key, value in (env or {}).items() for arg in ("-e", f"{key}={value}")),
            *(["-c", str(cwd)] if cwd else []),
            _shell_line(command),
        )
        # Keep the pane after the program ends, so its last words can be read.
        self._tmux("set-option", "-t", self.session, "remain-on-exit", "on")

    def _tmux(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, env=self._env, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:2])} failed: {result.stderr.strip()}")
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def send(self, *keys: str) -> None:
        """tmux key names: "F3", "Escape", "Enter", "C-q", or plain text (sent literally)."""
        for key in keys:
            if _is_key_name(key):
                self._tmux("send-keys", "-t", self.session, key)
            else:
                self._tmux("send-keys", "-t", self.session, "-l", key)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def wait_for(self, *texts: str, gone: bool = False, deadline: float = DEADLINE) -> str:
        """The screen once every text is on it (or, with ``gone``, none of them is)."""
        end = time.monotonic() + deadline
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            present = [text in screen for text in texts]
            if (not any(present)) if gone else all(present):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"waited {deadline:.0f} s for {texts!r} ({'gone' if gone else 'shown'}); the screen:\n{screen}")

    def settle(self, deadline: float = DEADLINE) -> str:
        """The screen once two captures a moment apart agree (the console has drawn)."""
        end = time.monotonic() + deadline
        previous = None
        while time.monotonic() < end:
            screen = self.screen()
            if screen == previous:
                return screen
            previous = screen
            time.sleep(0.5)
        return previous or ""

    def pane_dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", self.session, "#{pane_dead}").strip() == "1"

    def close(self) -> None:
        self._tmux("kill-server", check=False)


def _is_key_name(key: str) -> bool:
    if key in ("Enter", "Escape", "Tab", "BTab", "Space", "BSpace", "Up", "Down", "Left", "Right", "PageUp", "PageDown", "Home", "End"):
        return True
    if key.startswith(("C-", "M-", "S-")) and len(key) > 2:
        return True
    return key[:1] == "F" and key[1:].isdigit()


def _shell_line(command: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(part) for part in command)


def iplos_command(*args: str) -> list[str]:
    """The console as an operator starts it, from this checkout's interpreter."""
    return [sys.executable, "-m", "iplos_tui", *args]


@pytest.fixture
def tmux_terminal() -> Iterator[Callable[..., TmuxTerminal]]:
    if TMUX is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    terminals: list[TmuxTerminal] = []

    def start(command: Sequence[str], **kwargs) -> TmuxTerminal:
        terminal = TmuxTerminal(command, **kwargs)
        terminals.append(terminal)
        return terminal

    yield start
    for terminal in terminals:
        terminal.close()
