"""Waiting in pilot tests on state, never on a fixed sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


async def wait_until(pilot: Any, predicate: Callable[[], object], limit: float = 20.0) -> None:
    """Let the app run (50 ms steps) until ``predicate()`` is true; fail after ``limit`` seconds.

    ``limit`` is a bound against a hung test, not a timing assertion: make it generous.
    """
    for _ in range(int(limit / 0.05)):
        await pilot.pause(0.05)
        if predicate():
            return
    raise AssertionError(f"timed out after {limit} s waiting for {getattr(predicate, '__name__', 'a condition')}")


def screen_text(app: Any) -> str:
    """What the terminal shows, as plain text (the compositor's output, as in a screenshot)."""
    import io

    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), record=True, legacy_windows=False, color_system=None)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def readable(text: str) -> str:
    """Screen text with box lines and line ends removed: a sentence wrapped over lines reads whole."""
    import re

    return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─▏▕▁▔▎▍▌█▐▂▃▄▅▆▇]", " ", text)).strip()
