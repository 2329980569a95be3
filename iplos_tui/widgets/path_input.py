"""An input for a path that, when not being edited, shows the end of the path (the file's name
and `.xml`) rather than its start: `…-med-feil.xml` and the clean file look alike by their start."""

from __future__ import annotations

from rich.cells import cell_len
from textual.widgets import Input


class PathInput(Input):
    def on_mount(self) -> None:
        self.call_after_refresh(self.show_end)

    def on_resize(self) -> None:
        self.show_end()

    def on_blur(self) -> None:
        self.show_end()

    def _watch_value(self, value: str) -> None:
        super()._watch_value(value)
        if not self.has_focus:
            self.call_after_refresh(self.show_end)

    def show_end(self) -> None:
        if self.has_focus or not self.is_mounted:
            return
        overflow = cell_len(self.value) - self.content_size.width + 1
        self.scroll_to(x=max(0, overflow), animate=False, immediate=True)
