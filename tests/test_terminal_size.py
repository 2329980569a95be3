"""Small terminals (issue 14 item 15): dialogs fit or scroll at 60x20; below that a clear
message instead of a broken screen; the tab row stays."""

from __future__ import annotations

from iplos_tui.app import IplosApp
from tests.support import FROZEN_NOW


def make_app(tmp_path, profile, **kwargs) -> IplosApp:
    return IplosApp(profile, tmp_path / "conf" / "config.toml", clock=lambda: FROZEN_NOW, **kwargs)


def inside(widget, app) -> bool:
    region = widget.region
    return region.width > 0 and region.right <= app.size.width and region.bottom <= app.size.height


async def test_below_the_minimum_the_console_says_so_and_recovers(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.resize_terminal(50, 16)
        await pilot.pause()
        assert type(app.screen).__name__ == "TooSmallScreen"
        text = str(app.screen.query_one("#too-small").render())
        assert "for lite (50×16)" in text and "80×24" in text, text
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert type(app.screen).__name__ == "ConfigScreen"


async def test_the_unsaved_dialog_and_the_help_fit_at_60x20(tmp_path, valid_profile):
    app = make_app(tmp_path, valid_profile)
    async with app.run_test(size=(60, 20)) as pilot:
        assert type(app.screen).__name__ == "ConfigScreen"
        header = str(app.screen.query_one("ProfileHeader").render())
        assert all(f"F{n}" in header for n in (1, 2, 3, 4)), header  # the tab row did not disappear (F10 only where it has room)
        await pilot.press("enter", "9", "f2")
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedChangesScreen"
        for button in app.screen.query("Button"):
            assert inside(button, app), (button.id, button.region)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        assert inside(app.screen.query_one("#help-dialog"), app)
        assert inside(app.screen.query_one("#help-close"), app)
