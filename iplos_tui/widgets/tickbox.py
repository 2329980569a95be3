"""A checkbox whose state reads without colour: `[x]` ticked, `[ ]` not (Textual's own draws
`▐X▌` both ways and tells them apart by colour alone, two greys under NO_COLOR)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        return Content.styled("[x]" if self.value else "[ ]", "bold" if self.value else "")
