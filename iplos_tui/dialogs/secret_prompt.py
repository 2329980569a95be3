"""Masked fields for a PIN or a password that stay open while the value is tried.

On Enter the values go to ``on_submit`` as ``Secret``s and the dialog waits, showing that it
works: the caller then calls ``failed(message)`` (the message is shown, every field cleared, the
operator tries again) or dismisses it with ``True``. Esc or «Avbryt» dismisses with ``None``.
``check`` may refuse the values before anything leaves the dialog. Enter in a field moves on to
the next empty one until every field is filled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from iplos_tui.core.i18n import t
from iplos_tui.core.secrets import Secret
from iplos_tui.core.text import safe_text


class SecretPromptDialog(ModalScreen[bool | None]):
    DEFAULT_CSS = """
    SecretPromptDialog { align: center middle; }
    SecretPromptDialog > Vertical {
        width: 74; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    SecretPromptDialog .prompt-title { text-style: bold; }
    SecretPromptDialog .prompt-body { height: auto; color: $text-muted; }
    SecretPromptDialog .prompt-row { height: 1; margin-top: 1; }
    SecretPromptDialog .prompt-label { width: 22; }
    SecretPromptDialog Input { width: 1fr; }
    SecretPromptDialog #prompt-error { color: $error; height: auto; }
    SecretPromptDialog #prompt-busy { color: $text-muted; height: auto; }
    SecretPromptDialog Horizontal.prompt-buttons { height: 3; align: right middle; }
    SecretPromptDialog Button { margin-left: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", t("dialogs.cancel"), id="dialogs.secret.cancel")]

    def __init__(
        self,
        title: str,
        lines: Sequence[str],
        fields: Sequence[tuple[str, str]],
        submit_label: str,
        on_submit: Callable[[dict[str, Secret]], None],
        *,
        check: Callable[[dict[str, str]], str] | None = None,
        prefill: dict[str, str] | None = None,
        error: str = "",
    ) -> None:
        super().__init__()
        self._title = title
        self._lines = list(lines)
        self._fields = list(fields)
        self._submit_label = submit_label
        self._on_submit = on_submit
        self._check = check
        self._prefill = prefill or {}
        self._error = error
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content(self._title), classes="prompt-title")
            if self._lines:
                yield Static(Content("\n".join(self._lines)), classes="prompt-body")
            for field_id, label in self._fields:
                with Horizontal(classes="prompt-row"):
                    yield Static(Content(label), classes="prompt-label")
                    yield Input(self._prefill.get(field_id, ""), password=True, compact=True, id=f"prompt-{field_id}")
            yield Static(Content(self._error), id="prompt-error")
            yield Static("", id="prompt-busy")
            with Horizontal(classes="prompt-buttons"):
                yield Button(t("dialogs.cancel"), id="prompt-cancel")
                yield Button(self._submit_label, variant="primary", id="prompt-ok")

    # typed accessors
    @property
    def inputs(self) -> list[Input]:
        return list(self.query(Input).results(Input))

    @property
    def error_line(self) -> Static:
        return self.query_one("#prompt-error", Static)

    @property
    def busy_line(self) -> Static:
        return self.query_one("#prompt-busy", Static)

    def on_mount(self) -> None:
        # the first empty field, else the last one (Enter then submits what was prefilled)
        inputs = self.inputs
        empty = [field for field in inputs if not field.value]
        (empty[0] if empty else inputs[-1]).focus()

    def values(self) -> dict[str, str]:
        return {field_id: self.query_one(f"#prompt-{field_id}", Input).value for field_id, _ in self._fields}

    def clear(self) -> None:
        for widget in self.inputs:
            widget.value = ""

    @on(Input.Submitted)
    @on(Button.Pressed, "#prompt-ok")
    def action_submit(self) -> None:
        if self.busy:
            return
        inputs = self.inputs
        focused = self.focused
        if isinstance(focused, Input) and focused in inputs and focused is not inputs[-1] and not all(f.value for f in inputs):
            inputs[inputs.index(focused) + 1].focus()
            return
        values = self.values()
        problem = self._check(values) if self._check else ""
        if problem:
            self.failed(problem)
            return
        secrets = {key: Secret(value) for key, value in values.items()}
        self.clear()
        self.busy = True
        self.error_line.update("")
        self.busy_line.update(Content(t("dialogs.working")))
        self._on_submit(secrets)

    def failed(self, message: str) -> None:
        """The value was refused: say why, clear every field, let the operator try again."""
        self.busy = False
        self.clear()
        self.busy_line.update("")
        self.error_line.update(Content(safe_text(message)))
        inputs = self.inputs
        if inputs:
            inputs[0].focus()

    @on(Button.Pressed, "#prompt-cancel")
    def action_cancel(self) -> None:
        self.clear()
        self.dismiss(None)
