"""The App: four modes on F1–F4, the profile header, the command palette, and the hardening
that belongs at the root (crash report without locals, no screenshot command, no selection)."""

from __future__ import annotations

import datetime as dt
import os
import traceback
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from iplos_tui.core import format as fmt
from iplos_tui.core.config import ConfigError, Profile
from iplos_tui.core.errors import explain
from iplos_tui.core.i18n import t
from iplos_tui.core.profiles import ProfileChoice, profile_id
from iplos_tui.core.secrets import Secret
from iplos_tui.core.status import profile_label
from iplos_tui.core.text import safe_text
from iplos_tui.runs import RunFailed, RunFinished

# Over SSH every frame is bytes down the link: 20 frames a second is smooth enough to type in.
MAX_FPS = 20

MODE_KEYS = (("config", "f1"), ("preflight", "f2"), ("submission", "f3"), ("feedback", "f4"), ("board", "f7"))
SWITCHING_MODE = "profile-switch"  # an empty screen while the panes are made anew


# mode -> (module, class): each pane's module is imported when the pane is first shown, so the
# first frame waits only for the first pane's code (issue 15, first paint).
MODE_SCREENS = {
    "config": ("iplos_tui.screens.config", "ConfigScreen"),
    "preflight": ("iplos_tui.screens.preflight", "PreflightScreen"),
    "submission": ("iplos_tui.screens.submission", "SubmissionScreen"),
    "feedback": ("iplos_tui.screens.feedback", "FeedbackScreen"),
    "board": ("iplos_tui.screens.board", "BoardScreen"),
}


def _mode_screens() -> dict[str, Callable[[], Screen]]:
    def factory(mode: str) -> Callable[[], Screen]:
        def make() -> Screen:
            import importlib

            module, name = MODE_SCREENS[mode]
            screen = getattr(importlib.import_module(module), name)()
            screen.MODE = mode  # the header's tabs show which pane this is
            return screen

        return make

    return {mode: factory(mode) for mode in MODE_SCREENS}


def is_16_colour_terminal(environ: dict[str, str] | None = None) -> bool:
    """A terminal that only has the 16 ANSI colours (a Linux console, plain xterm, screen)."""
    environ = dict(os.environ if environ is None else environ)
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return False
    term = environ.get("TERM", "").lower()
    if "256" in term or "direct" in term:
        return False
    return term in ("linux", "xterm", "xterm-color", "vt100", "vt220", "ansi", "screen", "tmux", "rxvt", "cons25", "putty")


class IplosApp(App[int]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute, so subclasses elsewhere find it
    TITLE = "iplos-tui"
    ALLOW_SELECT = False  # selection + ctrl+c would copy through OSC 52 to the workstation
    BINDINGS = [
        *(
            Binding(key, f"switch_mode('{mode}')", t(f"app.mode_{mode}"), id=f"mode.{mode}", show=False)
            for mode, key in MODE_KEYS
        ),
        # The header shows these as tabs; the footer keeps room for each pane's own keys.
        Binding("k", "switch_profile", t("app.switch_profile"), id="app.switch_profile", show=False),
        Binding("f9", "advance_clock", t("app.advance_clock"), id="app.advance_clock", show=False),
        Binding("f10", "quit", t("app.quit"), id="app.quit", show=False),
        Binding("question_mark", "help", t("app.help"), id="app.help", show=False),
        Binding("ctrl+q", "quit", t("app.quit"), id="app.quit_alt", show=False, priority=True),
        Binding("ctrl+c", "help_quit", show=False, system=True),
    ]

    def __init__(
        self,
        profile: Profile | None = None,
        config_path: Path | None = None,
        *,
        sandbox: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        initial_mode: str = "config",
        services: dict[str, Any] | None = None,
        fleet_config: Path | None = None,
    ) -> None:
        # The first pane is the app's default mode, built as the app composes: switching to it
        # from on_mount restyled the whole pane twice more before the first frame (issue 15).
        self.DEFAULT_MODE = initial_mode
        super().__init__()
        for mode, factory in _mode_screens().items():
            self.add_mode(mode, factory)
        self.profile = profile or Profile()
        self.config_path = config_path
        # The config file whose profiles/ folder holds the other profiles (core/profiles.py).
        self.fleet_config = fleet_config or config_path
        self.profile_choices: list[ProfileChoice] = []
        self._profiles_problem = ""
        self.sandbox = sandbox
        self.pin: Secret | None = None
        self.services = services or {}
        self._clock = clock or (lambda: dt.datetime.now().astimezone())
        self.animation_level = "none"
        import textual.screen

        textual.screen.UPDATE_PERIOD = 1 / MAX_FPS  # read when each screen starts its update timer
        theme = self.profile.theme or "textual-dark"
        if theme not in self.available_themes:
            choices = ", ".join(sorted(self.available_themes))
            raise ConfigError(t("app.unknown_theme", name=safe_text(theme), choices=choices), config_path, key="ui.theme")
        self.theme = theme
        # Chosen before the first pane is styled (a change later restyles every widget); a test
        # (headless) keeps the profile's theme whatever its TERM, see on_mount.
        self._ansi_for_terminal = self.theme == "textual-dark" and is_16_colour_terminal()
        if self._ansi_for_terminal:
            self.theme = "ansi-dark"
        sandbox_pin = getattr(sandbox, "pin", None)
        if isinstance(sandbox_pin, Secret) and sandbox_pin.is_set:
            self.pin = Secret(sandbox_pin.reveal())  # the sandbox's own test PIN, a copy in memory
        self._after_first_frame: list[Callable[[], object]] | None = []
        # Panes with a run that must not end unasked (``quit_question()``, ``stop_for_quit()``).
        self.quit_guards: weakref.WeakSet[Any] = weakref.WeakSet()

    # --- shared state the panes read -------------------------------------------------------

    def now(self) -> dt.datetime:
        return self._clock()

    def today(self) -> dt.date:
        return self.now().date()

    def profile_label(self) -> str:
        return profile_label(self.profile)

    def set_profile(self, profile: Profile) -> None:
        """A saved profile: every pane's header follows it."""
        self.profile = profile
        self._refresh_headers()
        self.load_profile_choices()

    def _refresh_headers(self) -> None:
        from iplos_tui.widgets.header import ProfileHeader

        for screen in self.screen_stack:
            for header in screen.query(ProfileHeader):
                header.refresh_header()

    # --- several profiles (core/profiles.py): the header's `k` and the palette --------------

    @property
    def profile_id(self) -> str:
        return profile_id(self.profile.kommunenr, self.profile.bydel)

    def load_profile_choices(self) -> None:
        if self.fleet_config is not None:
            self.run_worker(self._profile_choices_worker, thread=True, exclusive=True, group="profile-choices", exit_on_error=False)

    def _profile_choices_worker(self) -> None:
        """In the background: a fleet that cannot be read is said when `k` is pressed."""
        from iplos_tui.core.errors import IplosError
        from iplos_tui.core.profiles import choices, load_fleet

        assert self.fleet_config is not None
        try:
            found, problem = choices(load_fleet(self.fleet_config)), ""
        except (IplosError, OSError) as exc:
            found, problem = [], explain(exc).message
        self.call_from_thread(self._profile_choices_loaded, found, problem)

    def _profile_choices_loaded(self, found: list[ProfileChoice], problem: str) -> None:
        self.profile_choices, self._profiles_problem = found, problem
        self._refresh_headers()

    def action_switch_profile(self) -> None:
        from iplos_tui.dialogs.profile_picker import ProfilePickerDialog

        if len(self.profile_choices) < 2:
            self.notify(self._profiles_problem or t("app.one_profile"), markup=False, severity="error" if self._profiles_problem else "information")
            return

        def chosen(choice: str | None) -> None:
            if choice is not None:
                self.use_profile(choice)

        self.push_screen(ProfilePickerDialog(self.profile_choices, self.profile_id), chosen)

    def _busy_workers(self) -> list[Worker[Any]]:
        idle = ("profile-choices", "profile-switch", "board")  # reading only
        return [w for w in self.workers if w.state in (WorkerState.PENDING, WorkerState.RUNNING) and w.group not in idle]

    def use_profile(self, wanted: str) -> None:
        """Switch every pane to another profile: refused while a run is going on; the current
        pane is asked first (unsaved changes); the PIN in memory is cleared, never carried over."""
        if wanted == self.profile_id or self.fleet_config is None:
            return
        if self._busy_workers():
            self.notify(t("app.switch_busy"), severity="warning", markup=False)
            return
        self._leave_then(lambda: self.run_worker(lambda: self._switch_worker(wanted), thread=True, exclusive=True, group="profile-switch", exit_on_error=False))

    def _switch_worker(self, wanted: str) -> None:
        from iplos_tui.core.profiles import select_profile

        assert self.fleet_config is not None
        profile, path = select_profile(self.fleet_config, wanted)  # a ConfigError: the worker handler says why
        self.call_from_thread(self._switch_to, profile, path)

    async def _switch_to(self, profile: Profile, path: Path) -> None:
        self.remember_pin(None)  # the PIN of one municipality never serves another
        self.profile, self.config_path = profile, path
        sandbox_pin = getattr(self.sandbox, "pin_for", None)
        if sandbox_pin is not None:
            pin = sandbox_pin(profile)
            self.pin = Secret(pin.reveal()) if pin is not None and pin.is_set else None
        await self._rebuild_panes()
        self.notify(t("app.switched", profile=self.profile_label()), markup=False)

    async def _rebuild_panes(self) -> None:
        """Fresh panes for the new profile: nothing a pane loaded or was typed into survives."""
        target = self.current_mode
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.add_mode(SWITCHING_MODE, Screen)
        await self.switch_mode(SWITCHING_MODE)
        for mode, factory in _mode_screens().items():
            await self.remove_mode(mode)
            self.add_mode(mode, factory)
        await self.switch_mode(target)
        await self.remove_mode(SWITCHING_MODE)

    def on_descendant_focus(self, event) -> None:
        # No blinking cursor over SSH (every blink is a repaint sent down the link).
        if hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False

    def remember_pin(self, pin: Secret | None) -> None:
        if self.pin is not None and pin is not self.pin:
            self.pin.clear()
        self.pin = pin

    # --- modes -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.is_headless and self._ansi_for_terminal:
            self.theme = "textual-dark"
        if callable(getattr(self.sandbox, "serve", None)) and not getattr(self.sandbox, "serving", True):
            self.after_first_frame(self._serve_sandbox)
        self.after_first_frame(self.load_profile_choices)  # the header's K: not before the first frame
        self.after_first_frame(self._announce_unfinished)

    def _announce_unfinished(self) -> None:
        """An upload cut off last time (a dropped SSH session) is said on start, pointing to F3.
        Here, not in a thread: the run lock's probe must not race the pane's own (core/status)."""
        from iplos_tui.core.errors import IplosError
        from iplos_tui.core.status import unfinished_submissions

        try:
            cut_off = [sub for sub in unfinished_submissions(self.profile) if sub["interrupted"]]
        except IplosError:  # an unusable journal: F3 says why when it is used
            return
        if cut_off:
            self.notify(cut_off[0]["line"], title=t("app.unfinished_title"), severity="warning", timeout=30, markup=False)

    def _serve_sandbox(self) -> None:
        """The sandbox's servers (bound before the first frame, so the profile is known and an
        early request waits in the port's queue) start in a worker; a failure is explained by
        the one worker handler."""
        self.run_worker(self.sandbox.serve, thread=True, group="sandbox-serve", exit_on_error=False)

    # --- what waits for the first frame (issue 15: first paint) ----------------------------

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` once the first frame of a pane has been drawn (at once after that)."""
        if self._after_first_frame is None:
            self.call_later(callback)
        else:
            self._after_first_frame.append(callback)

    def _display(self, screen: Screen, renderable: Any) -> None:
        super()._display(screen, renderable)
        # Frames computed while the app mounts are batched and never drawn: wait for a drawn one.
        if self._after_first_frame is not None and renderable is not None and not self._batch_count and screen.id != "_default":
            waiting, self._after_first_frame = self._after_first_frame, None
            for callback in waiting:
                self.call_later(callback)

    def action_switch_mode(self, mode: str) -> None:
        if mode != self.current_mode:
            self._leave_then(lambda: self.switch_mode(mode))

    def on_resize(self, event) -> None:
        """Below 60x20 a clear message instead of a broken screen; it goes when there is room."""
        from iplos_tui.screens.too_small import TooSmallScreen, too_small

        width, height = event.size.width, event.size.height
        showing = isinstance(self.screen, TooSmallScreen)
        if too_small(width, height):
            if showing:
                self.screen.show_size(width, height)
            elif self.screen_stack:
                self.push_screen(TooSmallScreen())
        elif showing:
            self.pop_screen()

    def action_help(self) -> None:
        """`?`: help for the pane the operator is on (a second `?` closes it)."""
        from iplos_tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        pane = next((screen for screen in reversed(self.screen_stack) if getattr(screen, "MODE", None)), None)
        mode = getattr(pane, "MODE", None) or self.current_mode
        self.push_screen(HelpScreen(mode, type(pane).BINDINGS if pane is not None else None, sandbox=self.sandbox is not None))

    def action_show_help_panel(self) -> None:
        """The palette's "Taster" and Textual's own key panel: our help screen instead."""
        self.action_help()

    def action_help_quit(self) -> None:
        """Ctrl+C quits nothing here (a reflex over SSH); say how to quit, in the UI language."""
        self.notify(t("app.how_to_quit"), title=t("app.how_to_quit_title"), markup=False)

    def action_command_palette(self) -> None:
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(CommandPalette(id="--command-palette", placeholder=t("app.palette_placeholder")))

    def action_quit(self) -> None:
        guard = next((pane for pane in self.quit_guards if pane.quit_question()), None)
        if guard is None:
            self._leave_then(self._quit_now)
            return
        from iplos_tui.dialogs.confirm import Choice, ConfirmDialog

        title, lines = guard.quit_question()

        def answer(choice: str | None) -> None:
            if choice == "quit":
                guard.stop_for_quit()
                self._quit_now()

        if not isinstance(self.screen, ConfirmDialog):
            choice = Choice("quit", t("app.quit_anyway"), key="j", danger=True)
            self.push_screen(ConfirmDialog(title, lines, [choice], cancel_label=t("app.stay")), answer)

    def _quit_now(self) -> None:
        if self.pin is not None:
            self.pin.clear()
        self.exit(0)

    def _leave_then(self, proceed: Callable[[], object]) -> None:
        """Run ``proceed`` once the current pane agrees to be left (unsaved changes asked about)."""
        guard = getattr(self.screen, "request_leave", None)
        if guard is None:
            proceed()
        else:
            guard(proceed)

    # --- the one worker handler (iplos_tui/runs.py) -------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's end, the app's own and the panes' (through ``ReportsWorkers``): a
        failure of any kind is shown as one explained, sanitised message, and the worker's node
        gets ``RunFailed`` (or ``RunFinished``) so that it never stays "running"."""
        worker = event.worker
        node = worker.node
        if event.state == WorkerState.SUCCESS:
            node.post_message(RunFinished(worker, worker.result))
        elif event.state == WorkerState.ERROR and worker.error is not None:
            explanation = explain(worker.error)
            text = t("errors.worker_failed", message=explanation.message)
            if explanation.hint:
                text += "\n" + explanation.hint
            self.notify(text, severity="warning" if explanation.cancelled else "error", markup=False, timeout=15)
            node.post_message(RunFailed(worker, explanation))

    # --- the sandbox's clock ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "advance_clock":
            return self.sandbox is not None
        return True

    def action_advance_clock(self) -> None:
        """Sandbox only: let "08:00 the next working day" arrive (receipt mail, feedback zip)."""
        if self.sandbox is not None:
            self.run_worker(self._advance_clock, thread=True, exclusive=True, group="sandbox-clock", exit_on_error=False)

    def _advance_clock(self) -> None:
        delivered = self.sandbox.advance_clock()
        self.call_from_thread(self._clock_advanced, len(delivered))

    def _clock_advanced(self, count: int) -> None:
        from iplos_tui.widgets.header import ProfileHeader

        for header in self.screen.query(ProfileHeader):
            header.refresh_header()
        clock_moved = getattr(self.screen, "clock_advanced", None)
        if callable(clock_moved):
            clock_moved()  # e.g. the history no longer waits for a receipt mail now due
        now = self.now()
        self.notify(t("app.clock_advanced", time=fmt.moment(now), deliveries=fmt.count(count, "format.deliveries")), markup=False)

    # --- command palette: every action, and no screenshot ----------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for mode, key in MODE_KEYS:
            yield SystemCommand(
                f"{t(f'app.mode_{mode}')} ({key.upper()})",
                t(f"app.mode_{mode}_help"),
                lambda mode=mode: self.action_switch_mode(mode),
            )
        screen_commands = getattr(screen, "palette_commands", None)
        if screen_commands is not None:
            yield from screen_commands()
        if len(self.profile_choices) > 1:
            yield SystemCommand(f"{t('app.switch_profile')} (K)", t("app.switch_profile_help"), self.action_switch_profile)
            for choice in self.profile_choices:
                if choice.id != self.profile_id and not choice.problem:
                    yield SystemCommand(t("app.use_profile", profile=choice.label), t("app.use_profile_help"), lambda wanted=choice.id: self.use_profile(wanted))
        if self.sandbox is not None:
            yield SystemCommand(f"{t('app.advance_clock')} (F9)", t("app.advance_clock_help"), self.action_advance_clock)
        yield SystemCommand(t("app.theme"), t("app.theme_help"), self.action_change_theme)
        yield SystemCommand(t("app.keys"), t("app.keys_help"), self.action_show_help_panel)
        yield SystemCommand(t("app.quit"), t("app.quit_help"), self.action_quit)

    def deliver_screenshot(self, *args: Any, **kwargs: Any) -> None:
        """Refused: a screenshot is a plaintext copy of what may be personal data."""
        self.bell()

    def copy_to_clipboard(self, text: str) -> None:
        """Refused: OSC 52 would carry the text out of the secure zone to the workstation."""
        self.bell()

    # --- crash report without local variables ----------------------------------------------

    def _handle_exception(self, error: Exception) -> None:
        """Textual's own prints a Rich traceback with locals (a PIN could be one of them)."""
        from rich.text import Text

        self._return_code = 1
        if self._exception is None:
            self._exception = error
            self._exception_event.set()
        frames = traceback.extract_tb(error.__traceback__)[-8:]
        lines = [f"  {Path(frame.filename).name}:{frame.lineno} in {frame.name}" for frame in frames]
        lines.append(t("app.crashed", error=safe_text(type(error).__name__, one_line=True)))
        self._exit_renderables.append(Text("\n".join(lines)))
        self._close_messages_no_wait()

    def _fatal_error(self) -> None:
        self._handle_exception(RuntimeError("fatal error"))
