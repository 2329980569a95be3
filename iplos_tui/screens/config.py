"""The Config pane: every profile field with live validation, the masked PIN, save with a key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.content import Content
from textual.screen import ModalScreen
from textual.widget import MountError, Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from iplos_tui.core import config as cfg
from iplos_tui.core import format as fmt
from iplos_tui.core.i18n import has, t
from iplos_tui.core.profiles import save_checked
from iplos_tui.core.secrets import Secret, check_pin
from iplos_tui.core.text import safe_text
from iplos_tui.screens.base import PaneScreen
from iplos_tui.widgets.path_input import PathInput
from iplos_tui.widgets.tickbox import TickBox

SECTION_TITLES = {
    "profile": "config_screen.section_profile",
    "paths": "config_screen.section_paths",
    "sendemodul": "config_screen.section_sendemodul",
    "feedback": "config_screen.section_feedback",
    "ui": "config_screen.section_ui",
    "preflight": "config_screen.section_preflight",
}


def _widget_value_to_text(spec: cfg.FieldSpec, value: Any) -> str:
    if value is None:
        return ""
    if spec.kind is list:
        return ", ".join(value)
    return str(value)


class UnsavedChangesScreen(ModalScreen[str]):
    """Save, discard or stay. Reached by accident as often as on purpose, so "Bli her" has the
    focus and Esc means stay; a form with errors cannot be saved from here (F5 on the pane can)."""

    BINDINGS = [Binding("escape", "dismiss('stay')", t("app.unsaved_stay"), show=False)]
    AUTO_FOCUS = "#stay"

    def __init__(self, errors: int = 0) -> None:
        super().__init__()
        self._errors = errors

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="unsaved-dialog"):
            yield Static(Content.styled(t("app.unsaved_title"), "bold"))
            yield Static(Content(t("app.unsaved_body")))
            if self._errors:
                yield Static(Content(t("app.unsaved_has_errors", errors=fmt.count(self._errors, "format.errors"))), id="unsaved-errors")
            with Horizontal(id="unsaved-buttons"):
                yield Button(t("app.unsaved_stay"), id="stay", variant="primary", compact=True)
                yield Button(t("app.unsaved_save"), id="save", compact=True, disabled=bool(self._errors))
                yield Button(t("app.unsaved_discard"), id="discard", variant="error", compact=True)

    @on(Button.Pressed)
    def _choose(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stay")


class ConfigScreen(PaneScreen):
    # The form, not a field: a stray key on arrival must not edit anything (Tab or Enter enter it).
    AUTO_FOCUS = "#config-form"
    DEFAULT_CSS = "#config-more { height: auto; }"
    BINDINGS = [
        Binding("f5", "save", t("config_screen.save"), id="config.save"),
        Binding("ctrl+s", "save", t("config_screen.save"), show=False, id="config.save_alt"),
        Binding("enter", "enter_fields", t("config_screen.enter_fields"), show=False, id="config.enter_fields"),
        Binding("escape", "leave_field", t("config_screen.leave_field"), show=False, id="config.leave_field"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._saved_values: dict[str, str] = {}
        self._check_queued = False
        self._form_ready = False  # every section mounted
        # The mounted field and message widgets by attribute: a query per field per look was most
        # of the first frame's time (issue 15, first paint).
        self._fields: dict[str, Any] = {}
        self._messages: dict[str, Static] = {}

    # --- layout ------------------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        profile: cfg.Profile = self.app.profile  # type: ignore[attr-defined]
        with VerticalScroll(id="config-form"):
            yield Static(Content(t("config_screen.intro")), id="config-intro")
            yield from self._section(cfg.SECTIONS[0], profile)
            # The sections below the first are mounted after the first frame (issue 15: first paint).
            yield Vertical(id="config-more")
            yield Static("", id="config-status")

    def _section(self, section: str, profile: cfg.Profile) -> list[Widget]:
        widgets: list[Widget] = [Static(Content.styled(t(SECTION_TITLES[section]), "bold"), classes="section-title")]
        for spec in cfg.FIELDS:
            if spec.section != section:
                continue
            label = Label(t(f"config.field.{spec.attr}"), classes="field-label")
            widgets.append(Horizontal(label, self._field_widget(spec, getattr(profile, spec.attr)), classes="field-row"))
            widgets.append(Static("", id=f"msg-{spec.attr}", classes="field-message"))
        if section == "profile":
            pin = Input(password=True, compact=True, id="field-pin", placeholder=t("config_screen.pin_placeholder"))
            widgets.append(Horizontal(Label(t("config_screen.pin"), classes="field-label"), pin, classes="field-row"))
            widgets.append(Static(Content(t("config_screen.pin_note")), id="msg-pin", classes="field-message -note"))
        return widgets

    def _field_widget(self, spec: cfg.FieldSpec, value: Any):
        widget_id = f"field-{spec.attr}"
        if spec.kind is bool:
            label = f"config_screen.checkbox.{spec.attr}"
            return TickBox(t(label) if has(label) else t("config_screen.confirmed"), value=bool(value), id=widget_id, compact=True)
        if spec.attr == "language":
            return Select([("Norsk bokmål", "nb"), ("English", "en")], value=value, allow_blank=False, id=widget_id, compact=True)
        if spec.attr == "year":
            from iplos_tui.core import refdata

            years = list(refdata.supported_years())
            if value not in years:
                years.append(value)
            return Select([(str(year), year) for year in sorted(years)], value=value, allow_blank=False, id=widget_id, compact=True)
        return (PathInput if spec.kind is Path else Input)(
            _widget_value_to_text(spec, value),
            id=widget_id,
            compact=True,
            max_length=cfg.MAX_LIST_ITEMS * (spec.max_chars + 2) if spec.kind is list else spec.max_chars,
            placeholder=t(f"config_screen.placeholder.{spec.attr}") if has(f"config_screen.placeholder.{spec.attr}") else "",
        )

    def _index_fields(self) -> None:
        for node in self.walk_children(with_self=False):
            node_id = node.id or ""
            if node_id.startswith("field-"):
                self._fields[node_id.removeprefix("field-")] = node
            elif node_id.startswith("msg-") and isinstance(node, Static):
                self._messages[node_id.removeprefix("msg-")] = node

    def on_mount(self) -> None:
        self._index_fields()
        self._saved_values = self._form_texts()
        after_first_frame = getattr(self.app, "after_first_frame", self.call_after_refresh)
        after_first_frame(self._mount_more)

    async def _mount_more(self) -> None:
        profile: cfg.Profile = self.app.profile  # type: ignore[attr-defined]
        more = [widget for section in cfg.SECTIONS[1:] for widget in self._section(section, profile)]
        try:
            await self.query_one("#config-more", Vertical).mount_all(more)
            self._index_fields()
            self._form_ready = True
            saved = self._form_texts()
            saved.update(self._saved_values)  # keep what was typed into the first section meanwhile
            self._saved_values = saved
            self._validate()
        except (NoMatches, MountError):  # the console closed while the pane was being built
            return

    def action_leave_field(self) -> None:
        """Esc: out of the field, back to the form (where ? and the pane's keys work again)."""
        self.query_one("#config-form").focus()

    def action_enter_fields(self) -> None:
        if self.focused is self.query_one("#config-form"):
            self.query_one("#field-kommunenr").focus()

    # --- reading the form --------------------------------------------------------------------

    def _form_texts(self) -> dict[str, str]:
        """The text of every field mounted so far."""
        texts = {}
        for spec in cfg.FIELDS:
            widget = self._fields.get(spec.attr)
            if widget is not None:
                texts[spec.attr] = str(widget.value)
        return texts

    def _raw(self, spec: cfg.FieldSpec) -> Any:
        """A field's value; one of a section not mounted yet still has the profile's."""
        widget = self._fields.get(spec.attr)
        if widget is not None:
            return widget.value
        value = getattr(self.app.profile, spec.attr)  # type: ignore[attr-defined]
        return value if spec.kind is bool or spec.attr in ("year", "language") else _widget_value_to_text(spec, value)

    def form_profile(self) -> tuple[cfg.Profile | None, dict[str, str]]:
        """The profile the form describes, or None and the fields that cannot be read."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for spec in cfg.FIELDS:
            raw = self._raw(spec)
            if spec.kind is bool:
                values[spec.attr] = bool(raw)
            elif spec.kind is int:
                try:
                    values[spec.attr] = int(str(raw).strip())
                except ValueError:
                    errors[spec.attr] = t("config_screen.need_int")
            elif spec.kind is float:
                try:
                    values[spec.attr] = float(str(raw).strip().replace(",", "."))
                except ValueError:
                    errors[spec.attr] = t("config_screen.need_number")
            elif spec.kind is Path:
                text = str(raw).strip()
                if text:
                    values[spec.attr] = Path(text).expanduser()
                elif spec.attr != "secure_dir":
                    values[spec.attr] = None
            elif spec.kind is list:
                values[spec.attr] = [item.strip() for item in str(raw).split(",") if item.strip()]
            else:
                values[spec.attr] = str(raw).strip() if spec.attr in ("kommunenr", "bydel", "orgnr") else str(raw)
        if errors:
            return None, errors
        return cfg.Profile(**values), {}

    @property
    def has_unsaved_changes(self) -> bool:
        return self._form_texts() != self._saved_values

    # --- live validation ---------------------------------------------------------------------

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Any) -> None:
        if getattr(event, "input", None) is not None and event.input.id == "field-pin":
            self._check_pin(event.value)
            return
        # One check for a burst of changes (every field posts one as the pane mounts).
        if self._form_ready and not self._check_queued:
            self._check_queued = True
            self.call_later(self._queued_check)

    def _queued_check(self) -> None:
        self._check_queued = False
        self._validate()

    def _check_pin(self, value: str) -> None:
        message = self.query_one("#msg-pin", Static)
        if not value:
            self.app.remember_pin(None)  # type: ignore[attr-defined]
            message.update(Content(t("config_screen.pin_note")))
            message.set_class(False, "-error")
            return
        problem = check_pin(value)
        if problem:
            message.update(Content(problem))
            message.set_class(True, "-error")
            self.app.remember_pin(None)  # type: ignore[attr-defined]
        else:
            message.update(Content(t("config_screen.pin_held")))
            message.set_class(False, "-error")
            self.app.remember_pin(Secret(value))  # type: ignore[attr-defined]

    def _validate(self) -> tuple[int, int]:
        profile, parse_errors = self.form_profile()
        problems: dict[str, tuple[str, str]] = {attr: ("error", text) for attr, text in parse_errors.items()}
        if profile is not None:
            for problem in cfg.validate_profile(profile):
                problems.setdefault(problem.attr, (problem.severity, problem.message))
        for spec in cfg.FIELDS:
            message = self._messages.get(spec.attr)
            if message is None:
                continue
            severity, text = problems.get(spec.attr, ("", ""))
            message.update(Content(safe_text(text)))
            message.set_class(severity == "error", "-error")
            message.set_class(severity == "warning", "-warning")
            message.display = bool(text)
        errors = sum(1 for severity, _ in problems.values() if severity == "error")
        warnings = len(problems) - errors
        status = self.query_one("#config-status", Static)
        dirty = t("config_screen.unsaved") if self.has_unsaved_changes else ""
        status.update(Content(t("config_screen.status", errors=fmt.count(errors, "format.errors"), warnings=fmt.count(warnings, "format.warnings")) + dirty))
        return errors, warnings

    # --- saving and leaving ------------------------------------------------------------------

    def action_save(self) -> bool:
        profile, parse_errors = self.form_profile()
        if profile is None:
            self._validate()
            self.notify(t("config_screen.cannot_save"), severity="error", markup=False)
            return False
        path = self.app.config_path  # type: ignore[attr-defined]
        if path is None:
            path, _ = cfg.resolve_config_path(None)
        try:
            save_checked(profile, path)  # the fleet's checks too (core/profiles.py)
        except (cfg.ConfigError, OSError) as exc:
            from iplos_tui.core.errors import describe

            reason = safe_text(str(exc)) if isinstance(exc, cfg.ConfigError) else describe(exc)
            self.notify(reason, severity="error", title=t("config_screen.save_failed"), markup=False)
            return False
        self.app.config_path = path  # type: ignore[attr-defined]
        self.app.set_profile(profile)  # type: ignore[attr-defined]
        self._saved_values = self._form_texts()
        errors, warnings = self._validate()
        message = t("config.saved", path=path)
        if errors:
            message += " " + t("config_screen.saved_with_errors", errors=fmt.count(errors, "format.errors"))
        self.notify(safe_text(message), markup=False)
        return True

    def request_leave(self, proceed: Callable[[], object]) -> None:
        if not self.has_unsaved_changes:
            proceed()
            return

        def chosen(choice: str | None) -> None:
            if choice == "save":
                if self.action_save():
                    proceed()
            elif choice == "discard":
                self._restore_saved()
                proceed()

        errors, _ = self._validate()
        self.app.push_screen(UnsavedChangesScreen(errors), chosen)

    def _restore_saved(self) -> None:
        profile = self.app.profile  # type: ignore[attr-defined]
        for spec in cfg.FIELDS:
            self._set_field(spec, getattr(profile, spec.attr))
        self._saved_values = self._form_texts()
        self._validate()

    def _set_field(self, spec: cfg.FieldSpec, value: Any) -> None:
        widget = self._fields.get(spec.attr)
        if widget is None:  # not mounted yet: it will be, with the profile's value
            return
        widget.value = value if spec.kind is bool or isinstance(widget, Select) else _widget_value_to_text(spec, value)

    def on_screen_resume(self) -> None:
        """Another pane may have saved the profile (preflight's ticks): take over what changed,
        keeping the operator's own unsaved edits."""
        super().on_screen_resume()
        if not self._saved_values:
            return
        profile = self.app.profile  # type: ignore[attr-defined]
        edited = {attr for attr, text in self._form_texts().items() if text != self._saved_values.get(attr)}
        for spec in cfg.FIELDS:
            if spec.attr not in edited:
                self._set_field(spec, getattr(profile, spec.attr))
        current = self._form_texts()
        self._saved_values = {attr: (self._saved_values[attr] if attr in edited else current[attr]) for attr in current}
        self._validate()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(t("config_screen.save"), t("config_screen.save_help"), self.action_save)
