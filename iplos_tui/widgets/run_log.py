"""The live log of a run: a bounded ``Log`` whose long lines wrap at the log's width with an
indented continuation (nothing is cut at 80 columns), wrapped anew when the terminal is resized,
and that keeps following new lines unless the operator scrolled up (issue 14 items 1 and 2).

Textual's ``Log`` neither wraps nor scrolls sideways here, and it follows only when it is at the
end at the moment of writing: a smaller terminal moves the end down and it stopped following.
"""

from __future__ import annotations

import textwrap
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from textual import events
from textual.widgets import Log

CONTINUATION = "    "
_DEFAULT_WIDTH = 76  # before the first layout (80 columns less border, padding and scrollbar)


class RunLog(Log):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._written: deque[str] = deque(maxlen=self.max_lines)
        self._wrap_width = 0
        self._following = True
        self._reflowing = False

    @property
    def lines(self) -> Sequence[str]:
        """The lines as written (one per message), not as wrapped on screen."""
        return list(self._written)

    @property
    def shown_lines(self) -> Sequence[str]:
        """The lines as the log shows them, wrapped at its width."""
        return list(self._lines)

    @property
    def following(self) -> bool:
        return self._following

    def _content_width(self) -> int:
        width = self.scrollable_content_region.width
        return width if width > 8 else _DEFAULT_WIDTH

    def _wrap(self, lines: Iterable[str], width: int) -> list[str]:
        wrapped: list[str] = []
        for line in lines:
            if len(line) <= width:
                wrapped.append(line)
                continue
            indent = len(line) - len(line.lstrip(" "))
            wrapped.extend(
                textwrap.wrap(line, width, initial_indent="", subsequent_indent=" " * indent + CONTINUATION, break_on_hyphens=False, drop_whitespace=True)
                or [line[:width]]
            )
        return wrapped

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> RunLog:
        new = [part for line in lines for part in (line.splitlines() or [""])]
        self._written.extend(new)
        self._wrap_width = self._wrap_width or self._content_width()
        follow = self._following if scroll_end is None else scroll_end
        super().write_lines(self._wrap(new, self._wrap_width), scroll_end=False)
        if follow and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        return self

    def write_line(self, line: str, scroll_end: bool | None = None) -> RunLog:
        return self.write_lines([line], scroll_end)

    def write(self, data: str, scroll_end: bool | None = None) -> RunLog:
        return self.write_lines(data.splitlines(), scroll_end)

    def clear(self) -> RunLog:
        super().clear()
        if not self._reflowing:
            self._written.clear()
            self._following = True
        return self

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self._reflowing and self.size.height:
            # Up on purpose stops following; back at the end follows again. A resize changes the
            # end, not the position, so it does not count as scrolling up.
            self._following = new_value >= self.max_scroll_y

    def on_resize(self, event: events.Resize) -> None:
        width = self._content_width()
        if self._written and width != self._wrap_width:
            self._reflow(width)
        self.call_after_refresh(self._to_end_if_following)

    def _to_end_if_following(self) -> None:
        # Asked again when it runs: the operator may have scrolled up since the resize.
        if self._following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _reflow(self, width: int) -> None:
        top = self.scroll_y
        self._wrap_width = width
        self._reflowing = True
        try:
            super().clear()
            super().write_lines(self._wrap(self._written, width), scroll_end=False)
            if not self._following:
                self.scroll_to(y=top, animate=False, immediate=True)
        finally:
            self._reflowing = False
