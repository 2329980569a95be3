"""The header line: the profile and the submission window countdown, on every pane."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from iplos_tui.core.i18n import t
from iplos_tui.core.status import window_status


class ProfileHeader(Static):
    DEFAULT_CSS = """
    ProfileHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    ProfileHeader.-sandbox { background: $warning-muted; }
    """

    def on_mount(self) -> None:
        self.refresh_header()
        self.set_interval(60, self.refresh_header)

    def refresh_header(self) -> None:
        app = self.app
        profile = app.profile  # type: ignore[attr-defined]
        parts: list[Content] = []
        if getattr(app, "sandbox", None) is not None:
            parts.append(Content.styled(f" {t('app.sandbox_marker')} ", "bold reverse"))
            self.add_class("-sandbox")
        parts.append(Content.styled("IPLOS ", "bold"))
        parts.append(Content(app.profile_label()))  # type: ignore[attr-defined]
        parts.append(Content(" │ "))
        parts.append(Content(window_status(profile.year, app.today())))  # type: ignore[attr-defined]
        self.update(Content("").join(parts))
