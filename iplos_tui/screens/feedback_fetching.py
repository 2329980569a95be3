"""The Feedback pane's gateway half: ask for the password (and a new one when the gateway wants
it), run core ``FeedbackFetch`` in a thread worker, and show what it did. A mixin of
``FeedbackScreen`` (it uses the pane's status line, prompts and file list state); its messages
are handled by name (``on_gateway_fetching_*``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.message import Message

from iplos_tui.core.i18n import t
from iplos_tui.core.secrets import Secret
from iplos_tui.core.text import safe_text
from iplos_tui.dialogs.secret_prompt import SecretPromptDialog
from iplos_tui.widgets.feedback_format import shown_path, tn


def failure(exc: BaseException) -> str:
    """What a worker says about an exception: an IplosError's message, else its type and text."""
    from iplos_tui.core.errors import IplosError

    if isinstance(exc, IplosError):
        return exc.message()
    return safe_text(f"{type(exc).__name__}: {exc}", one_line=True, limit=200)


class GatewayFetching:
    """Fetching from the gateway (``h`` / F6, ``c`` cancels). Expects the pane's ``profile``,
    ``status``, ``files``, ``folder``, ``archive``, ``selected_row``, ``refresh_local``,
    ``_show_prompt``, ``_close_prompt`` and ``_sandbox_secret``."""

    @dataclass
    class LoginResult(Message):
        attempt: int
        error: str = ""
        change: Any = None  # PasswordRequirements when the gateway wants a new password

    @dataclass
    class FetchProgress(Message):
        text: str

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, GatewayFetching.FetchProgress)

    @dataclass
    class Fetched(Message):
        attempt: int
        result: Any  # FetchResult

    def action_fetch(self) -> None:
        self._fetch(all_files=False)

    def action_fetch_all(self) -> None:
        self._fetch(all_files=True)

    def _fetch(self, *, all_files: bool) -> None:
        if self.archive is not None or self.fetching:
            return
        profile = self.profile
        if not profile.gateway_username:
            self.status(t("gateway.no_username"), error=True)
            return
        if not str(profile.gateway_url).lower().startswith("https://"):
            self.status(t("feedback_screen.gateway_not_https"), error=True)
            return
        row = self.selected_row()
        wanted = frozenset({row.remote.id}) if row is not None and row.kind == "remote" else frozenset()
        self._ask_password(all_files, wanted)

    def _new_fetch(self, all_files: bool, wanted: frozenset[str]) -> Any:
        from iplos_tui.core.feedback.fetch import FeedbackFetch, FetchOptions

        return FeedbackFetch(
            self.profile,
            options=FetchOptions(all_files=all_files, only_ids=wanted),
            pin=self.app.pin,  # type: ignore[attr-defined]  # never sent: the password may not be it
            on_event=self._on_fetch_event,
        )

    def _ask_password(self, all_files: bool, wanted: frozenset[str], *, change: Any = None, error: str = "") -> None:
        fetch = self._new_fetch(all_files, wanted)
        profile = self.profile
        lines = [t("feedback_screen.password_body", user=safe_text(profile.gateway_username, one_line=True, limit=60), url=safe_text(profile.gateway_url, one_line=True, limit=60))]
        prefill = self._sandbox_secret("gateway_password") if change is None else ""
        if change is None:
            fields = [("password", t("feedback_screen.password_label"))]
            lines.append(t("feedback_screen.password_not_stored"))
        else:
            fields = [
                ("password", t("feedback_screen.password_current")),
                ("new", t("feedback_screen.password_new")),
                ("again", t("feedback_screen.password_again")),
            ]
            lines.append(t("feedback_screen.password_change_rules", min=max(6, change.minimum_length)))
        if prefill:
            lines.append(t("feedback_screen.prefilled_sandbox"))

        def check(values: dict[str, str]) -> str:
            from iplos_tui.core.gateway import GatewayError

            if change is not None and values["new"] != values["again"]:
                return t("feedback_screen.passwords_differ")
            try:
                fetch.check_passwords(Secret(values["password"]), Secret(values["new"]) if change is not None else None, change)
            except GatewayError as exc:
                return exc.message()
            return ""

        def submit(values: dict[str, Secret]) -> None:
            if "again" in values:
                values["again"].clear()
            self._start_fetch(fetch, values["password"], values.get("new"), change)

        self._fetch_args = (all_files, wanted)
        title = t("feedback_screen.password_title" if change is None else "feedback_screen.password_change_title")
        prompt = SecretPromptDialog(
            title, lines, fields, t("feedback_screen.fetch"), submit,
            check=check, prefill={"password": prefill} if prefill else None, error=error,
        )
        self._show_prompt(prompt)

    def _start_fetch(self, fetch: Any, password: Secret, new_password: Secret | None, change: Any) -> None:
        self._attempt += 1
        self._fetch_attempt = self._attempt
        self._cancel = threading.Event()
        fetch.cancel = self._cancel
        self.fetching = True
        self.refresh_bindings()
        self.status(t("feedback_screen.logging_in"))
        self._fetch_worker(fetch, password, new_password, change, self._attempt)

    def _on_fetch_event(self, event: Any) -> None:
        """Called in the worker: core events become messages."""
        from iplos_tui.core.feedback.fetch import FileStarted, Listed

        if isinstance(event, Listed):
            self.post_message(self.LoginResult(self._fetch_attempt))
        elif isinstance(event, FileStarted):
            self.post_message(self.FetchProgress(t("feedback_screen.downloading", n=event.number, total=event.total, name=event.name[:60])))

    @work(thread=True, exclusive=True, group="feedback-gateway", exit_on_error=False)
    def _fetch_worker(self, fetch: Any, password: Secret, new_password: Secret | None, change: Any, attempt: int) -> None:
        from iplos_tui.core.gateway import PasswordChangeRequired

        try:
            result = fetch.run(password, new_password=new_password, requirements=change)
        except PasswordChangeRequired as required:
            self.post_message(self.LoginResult(attempt, required.message(), required.requirements))
            return
        except Exception as exc:  # noqa: BLE001 - login and setup failures are answered in the prompt
            self.post_message(self.LoginResult(attempt, failure(exc) or t("feedback_screen.login_failed")))
            return
        finally:
            password.clear()
            if new_password is not None:
                new_password.clear()
        self.post_message(self.Fetched(attempt, result))

    def on_gateway_fetching_login_result(self, message: GatewayFetching.LoginResult) -> None:
        if message.error and message.attempt == self._fetch_attempt:
            self.fetching = False  # the worker has ended
            self.refresh_bindings()
        if message.attempt != self._attempt:
            return  # the prompt was cancelled meanwhile
        if not message.error:
            self._close_prompt()
            self.status(t("feedback_screen.listing"))
            return
        if message.change is not None:
            self._close_prompt()
            all_files, wanted = self._fetch_args
            self._ask_password(all_files, wanted, change=message.change, error=message.error)
            return
        self.status(message.error, error=True)  # not "Logger inn …" after the login failed
        if self._prompt is not None:
            self._prompt.failed(message.error)

    def on_gateway_fetching_fetch_progress(self, message: GatewayFetching.FetchProgress) -> None:
        if self.fetching:
            self.status(message.text)

    def on_gateway_fetching_fetched(self, message: GatewayFetching.Fetched) -> None:
        if message.attempt == self._fetch_attempt:
            self.fetching = False
        if message.attempt == self._attempt:
            self._close_prompt()  # a failure right after the login ends here too
        result = message.result
        # whatever was fetched is on disk now, even after a cancel: show it
        if result.listing is not None:
            self.files.remote = result.listing.files
            self.files.remote_checked = self.app.now()  # type: ignore[attr-defined]
        for row in result.stored:
            self.files.remote_done.add(row.file.id)
            if row.file.is_new:
                self.files.fresh.add(row.path.name)
        texts = []
        if result.stored:
            texts.append(tn("feedback_screen.fetched", len(result.stored), path=shown_path(self.folder)))
        elif result.listing is not None and result.error is None:
            texts.append(tn("feedback_screen.fetched_none", len(result.listing.files)))
        texts.extend(row.error for row in result.rows if row.error and row.error != (result.error.message() if result.error else None))
        if result.skipped_summary():
            texts.append(result.skipped_summary())
        if result.error is not None:
            from iplos_tui.core.errors import Cancelled

            texts.append(t("feedback_screen.fetch_cancelled") if isinstance(result.error, Cancelled) else result.error.message())
        self.status(" ".join(texts), error=bool(result.error or any(row.error for row in result.rows)))
        self.refresh_local()

    def action_cancel_fetch(self) -> None:
        if self.fetching:
            self._cancel.set()
            self.status(t("feedback_screen.cancelling"))
