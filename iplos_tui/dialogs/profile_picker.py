"""Choose another municipality profile (the header's `k` and the palette): a filter field over the
list of profiles; a profile that cannot be used shows why and cannot be chosen. Dismisses with the
chosen profile's id, or ``None`` (Esc)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import ProfileChoice
from iplos_tui.core.text import safe_text


class ProfilePickerDialog(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ProfilePickerDialog { align: center middle; }
    ProfilePickerDialog > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ProfilePickerDialog .picker-title { text-style: bold; }
    ProfilePickerDialog #picker-filter { margin-top: 1; }
    ProfilePickerDialog #picker-list { height: auto; max-height: 16; border: none; }
    ProfilePickerDialog #picker-problem { color: $error; height: auto; }
    ProfilePickerDialog .picker-hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", t("fleet_screen.picker_cancel"), id="fleet.picker.cancel"),
        Binding("down", "move(1)", show=False),
        Binding("up", "move(-1)", show=False),
    ]

    def __init__(self, choices: Sequence[ProfileChoice], current: str) -> None:
        super().__init__()
        self._choices = list(choices)
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(t("fleet_screen.picker_title", count=len(self._choices))), classes="picker-title")
            yield Input(placeholder=t("fleet_screen.picker_filter"), compact=True, id="picker-filter")
            yield OptionList(id="picker-list")
            yield Static("", id="picker-problem")
            yield Static(Content(t("fleet_screen.picker_hint")), classes="picker-hint")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one("#picker-filter", Input).focus()

    def _fill(self, text: str) -> None:
        wanted = text.strip().casefold()
        options = []
        for choice in self._choices:
            if wanted and wanted not in choice.id and wanted not in choice.label.casefold():
                continue
            mark = "▸ " if choice.id == self._current else "  "
            line = f"{mark}{safe_text(choice.label, one_line=True)}"
            if choice.problem:
                line += "  " + t("fleet_screen.picker_unusable")
            options.append(Option(Content(line), id=choice.id))
        listing = self.query_one("#picker-list", OptionList)
        listing.clear_options()
        listing.add_options(options)
        if options:
            current = next((index for index, option in enumerate(options) if option.id == self._current), 0)
            listing.highlighted = current if not wanted else 0
        self._show_problem()

    @on(Input.Changed, "#picker-filter")
    def _filter(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submit(self) -> None:
        listing = self.query_one("#picker-list", OptionList)
        if listing.highlighted is not None:
            self._choose(listing.get_option_at_index(listing.highlighted).id)

    @on(OptionList.OptionSelected, "#picker-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._choose(event.option.id)

    @on(OptionList.OptionHighlighted, "#picker-list")
    def _highlighted(self) -> None:
        self._show_problem()

    def action_move(self, step: int) -> None:
        listing = self.query_one("#picker-list", OptionList)
        if listing.option_count:
            listing.highlighted = ((listing.highlighted or 0) + step) % listing.option_count

    def _choice(self, choice_id: str | None) -> ProfileChoice | None:
        return next((choice for choice in self._choices if choice.id == choice_id), None)

    def _show_problem(self) -> None:
        listing = self.query_one("#picker-list", OptionList)
        choice = None
        if listing.highlighted is not None and listing.option_count:
            choice = self._choice(listing.get_option_at_index(listing.highlighted).id)
        problem = choice.problem if choice is not None else ""
        self.query_one("#picker-problem", Static).update(Content(safe_text(problem)))

    def _choose(self, choice_id: str | None) -> None:
        choice = self._choice(choice_id)
        if choice is None:
            return
        if choice.problem:
            self.app.bell()
            self._show_problem()
            return
        self.dismiss(choice.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
