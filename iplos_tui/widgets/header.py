"""The header: the profile and the submission window countdown, and the panes as tabs with their
F-keys (so the footer keeps room for the pane's own keys at 80 columns)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from iplos_tui.core.i18n import t
from iplos_tui.core.status import window_status

MODE_KEYS = (("config", "F1"), ("preflight", "F2"), ("submission", "F3"), ("feedback", "F4"), ("board", "F7"))


class ProfileHeader(Static):
    DEFAULT_CSS = """
    ProfileHeader {
        dock: top;
        height: 2;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    ProfileHeader.-sandbox { background: $warning-muted; }
    """

    def __init__(self, mode: str | None = None) -> None:
        self._mode = mode
        # Filled now, not on mount, so that the pane's first frame has it (issue 15: first paint).
        super().__init__(self._content(), classes="-sandbox" if getattr(self.app, "sandbox", None) is not None else "")

    def on_mount(self) -> None:
        self.set_interval(60, self.refresh_header)

    def on_resize(self) -> None:
        self.refresh_header()

    def refresh_header(self) -> None:
        if getattr(self.app, "sandbox", None) is not None:
            self.add_class("-sandbox")
        self.update(self._content())

    def _content(self) -> Content:
        app = self.app
        profile = app.profile  # type: ignore[attr-defined]
        parts: list[Content] = []
        if getattr(app, "sandbox", None) is not None:
            parts.append(Content.styled(f"{t('app.sandbox_marker')} ", "bold"))
        parts.append(Content.styled("IPLOS ", "bold"))
        parts.append(Content(app.profile_label()))  # type: ignore[attr-defined]
        parts.append(Content(" │ "))
        parts.append(Content(window_status(profile.year, app.today())))  # type: ignore[attr-defined]
        parts += self._switch_hint(Content("").join(parts).cell_length)
        parts.append(Content("\n"))
        parts.append(self._tabs())
        return Content("").join(parts)

    def _switch_hint(self, used: int) -> list[Content]:
        """"│ K bytt (30)" when there are several profiles and the line has room (else the palette)."""
        count = len(getattr(self.app, "profile_choices", ()))
        if count < 2:
            return []
        hint = Content.styled(f" │ {t('app.header_switch', count=count)}", "dim")
        return [hint] if used + hint.cell_length <= self._room() else []

    def _room(self) -> int:
        """The line's width inside the padding (the app's, before this widget is laid out)."""
        try:
            width = self.size.width
        except RuntimeError:  # called from __init__ (the first frame's content)
            width = 0
        return (width or self.app.size.width) - 2

    def _tabs(self) -> Content:
        current = self._mode
        if current is None:
            try:
                current = getattr(self.screen, "MODE", None)
            except Exception:  # not in a screen yet
                current = None
            current = current or self.app.current_mode
        fleet = len(getattr(self.app, "profile_choices", ())) > 1
        quit_tab = Content.styled(f" F10 {t('app.quit')}", "dim")
        # Every tab with its name when the row has room; else the other tabs by their key alone
        # (the current one keeps its name), so that the row and F10 stay on a narrow terminal.
        for short in (False, True):
            tabs: list[Content] = []
            for mode, key in MODE_KEYS:
                if mode == "board" and not fleet and current != "board":
                    continue  # the board tab is for a fleet (it is in the palette anyway)
                if mode == current:
                    tabs.append(Content.styled(f" {key} {t(f'app.mode_{mode}')} ", "reverse bold"))
                else:
                    tabs.append(Content.styled(f" {key} " if short else f" {key} {t(f'app.mode_{mode}')} ", "dim"))
            if getattr(self.app, "sandbox", None) is not None:
                tabs.append(Content.styled(" F9 " if short else f" F9 {t('app.advance_clock')} ", "dim"))
            if sum(tab.cell_length for tab in tabs) + quit_tab.cell_length <= self._room():
                return Content("").join([*tabs, quit_tab])
        return Content("").join(tabs)  # F10 is in the footer's help (?) and the palette
