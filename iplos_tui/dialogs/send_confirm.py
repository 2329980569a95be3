"""The send confirmation of the Submission pane: exactly what will be sent, and the PIN when it
is not in memory (issue 13 item 2, issue 14 items 3 and 7).

The summary comes first — a re-send's earlier receipt and its date, municipality, period,
persons, findings per level, recipients with fingerprints, destination, the parts in one line —
and the parts scroll below it; the body shrinks to the terminal so the buttons always show
(60x20 too). A normal send has «Send nå» focused. An extract with errors, and a re-send of a
delivered period, have «Ikke send» focused: they are sent only by their own button or its letter
(``j``), never by Enter.

The result is the choice (``SEND``, or ``SEND_WITH_ERRORS`` when the findings of level error are
accepted) or None; a PIN typed here is in ``pin`` (a ``Secret``), the field is cleared.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Static

from iplos_tui.core.i18n import t
from iplos_tui.dialogs.confirm import Choice, ConfirmDialog

SEND = "send"
SEND_WITH_ERRORS = "send_with_errors"
SEND_KEY = "j"


class ConfirmSend(ConfirmDialog):
    DEFAULT_CSS = """
    ConfirmSend #send-summary { margin-bottom: 1; }
    ConfirmSend #send-pin-row { height: 1; margin-top: 1; align: left middle; }
    ConfirmSend #send-pin-row Label { width: auto; padding-right: 1; }
    ConfirmSend #confirm-pin { width: 32; }
    ConfirmSend #send-note { height: auto; color: $warning; display: none; }
    ConfirmSend #send-note.-shown { display: block; }
    ConfirmSend #send-buttons { height: 3; align: right middle; }
    """

    def __init__(self, request: Any, need_pin: bool) -> None:
        """``request``: the core's ``ConfirmRequest`` (its summary, or only lines for a look-up)."""
        self.request = request
        self.need_pin = need_pin
        self.pin: Any = None
        self.deliberate = bool(request.needs_acceptance or request.again)
        choice = Choice(SEND_WITH_ERRORS if request.needs_acceptance else SEND, _send_label(request), key=SEND_KEY, danger=self.deliberate)
        super().__init__(_title(request), [], [choice], cancel_label=t("send_confirm.cancel"))
        # The safe choice unless this is a plain send; typing the PIN is never a send by itself.
        self.AUTO_FOCUS = "#confirm-pin" if need_pin else ("#confirm-no" if self.deliberate else f"#confirm-{choice.id}")

    def compose(self) -> ComposeResult:
        from iplos_tui.core.submission import summary_sections

        if self.request.summary:
            head, parts = summary_sections(self.request.summary, parts_shown=None)
        else:  # a look-up only: nothing is sent, the core's lines say so
            head, parts = list(self.request.lines), []
        choice = self._choices[0]
        with Vertical(id="send-dialog"):
            yield Static(Content(self._title), classes="dialog-title")
            with VerticalScroll(classes="dialog-body", id="send-body"):
                yield Static(Content("\n".join(head)), id="send-summary")
                if parts:
                    yield Static(Content("\n".join(parts)), id="send-parts")
            if self.need_pin:
                with Horizontal(id="send-pin-row"):
                    yield Label(t("send_confirm.pin_label"))
                    yield Input(password=True, placeholder=t("submit.pane.pin_placeholder"), id="confirm-pin", compact=True)
            yield Static("", id="send-note")
            yield Static(Content(self._keys_line()), classes="dialog-keys")
            with Horizontal(id="send-buttons"):
                yield Button(self._cancel_label, id="confirm-no")
                yield Button(choice.label, variant="error" if choice.danger else "warning", id=f"confirm-{choice.id}")

    def _keys_line(self) -> str:
        keys = super()._keys_line()
        return t("send_confirm.enter_does_not_send" if self.deliberate else "send_confirm.enter_sends") + " " + keys

    # --- fitting the terminal ----------------------------------------------------------------

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """The body gets the rows the title, PIN, keys and buttons leave (CSS has no calc)."""
        box = self.query_one("#send-dialog", Vertical)
        body = self.query_one("#send-body", VerticalScroll)
        fixed = box.gutter.height + sum(child.outer_size.height for child in box.children if child is not body and child.display)
        room = max(3, self.size.height - fixed)
        if body.styles.max_height is None or body.styles.max_height.value != room:
            body.styles.max_height = room

    # --- the answer ----------------------------------------------------------------------------

    @on(Input.Submitted, "#confirm-pin")
    def _pin_entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self.deliberate:  # Enter only takes the PIN; the send is the operator's own choice
            if self._pin_problem() is None:
                self._note(t("send_confirm.pin_then_choose", label=self._choices[0].label, key=SEND_KEY))
                self.query_one("#confirm-no", Button).focus()
            return
        self.dismiss(self._choices[0].id)

    def dismiss(self, result: str | None = None) -> AwaitComplete:
        if result is not None and self.need_pin:
            if self._pin_problem() is not None:
                return AwaitComplete.nothing()  # the dialog stays, saying why
            self.pin = self._take_pin()
        self._clear_pin()
        return super().dismiss(result)

    def _pin_problem(self) -> str | None:
        """Why the typed PIN cannot be one (shown, the field emptied), or None."""
        from iplos_tui.core.secrets import check_pin

        field = self.query_one("#confirm-pin", Input)
        problem = check_pin(field.value)
        if problem:
            self._note(problem)
            field.value = ""
            field.focus()
            return problem
        return None

    def _take_pin(self) -> Any:
        from iplos_tui.core.secrets import Secret

        return Secret(self.query_one("#confirm-pin", Input).value)

    def _clear_pin(self) -> None:
        for field in self.query("#confirm-pin").results(Input):
            field.value = ""

    def _note(self, text: str) -> None:
        note = self.query_one("#send-note", Static)
        note.update(Content(text))
        note.add_class("-shown")


def _title(request: Any) -> str:
    if request.again:
        return t("send_confirm.title_again")
    if request.needs_acceptance:
        return t("send_confirm.title_errors")
    return t("submit.pane.confirm_title")


def _send_label(request: Any) -> str:
    if request.again and request.needs_acceptance:
        return t("send_confirm.send_again_with_errors")
    if request.again:
        return t("send_confirm.send_again")
    if request.needs_acceptance:
        return t("send_confirm.send_with_errors")
    return t("send_confirm.send_now")
