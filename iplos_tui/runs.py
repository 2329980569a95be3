"""How a pane learns that its worker finished or failed: the app's one worker handler tells it.

A pane (or widget) runs blocking work in a thread worker as usual::

    @work(thread=True, exclusive=True, group="submission", exit_on_error=False)
    def send_worker(self, ...) -> RunResult: ...

and handles the two messages below instead of catching exceptions in every worker::

    def on_run_finished(self, message: RunFinished) -> None:   # message.result: what it returned
    def on_run_failed(self, message: RunFailed) -> None:       # message.explanation: what went wrong

``IplosApp.on_worker_state_changed`` (iplos_tui/app.py) is the one place that sees every worker
end: on an error it shows the explained message (``core.errors.explain``: sanitised, hint, exit
code; never a traceback) and posts ``RunFailed`` to the worker's node, so the pane can leave its
"running" state and be run again. Workers started on a node that mixes in ``ReportsWorkers``
(every ``PaneScreen`` does) reach that handler; Textual itself does not bubble
``Worker.StateChanged``.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message
from textual.worker import Worker

from iplos_tui.core.errors import Explanation


class RunFinished(Message):
    """A worker of this node returned; ``result`` is its return value."""

    def __init__(self, worker: Worker[Any], result: Any) -> None:
        super().__init__()
        self.worker = worker
        self.group = worker.group
        self.result = result


class RunFailed(Message):
    """A worker of this node raised; the operator has been shown ``explanation.message``."""

    def __init__(self, worker: Worker[Any], explanation: Explanation) -> None:
        super().__init__()
        self.worker = worker
        self.group = worker.group
        self.explanation = explanation

    @property
    def cancelled(self) -> bool:
        return self.explanation.cancelled


class ReportsWorkers:
    """Mixin for a Screen or Widget: hands its workers' state changes to the app's handler."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        handler = getattr(self.app, "worker_state_changed", None)  # type: ignore[attr-defined]
        if handler is not None:
            handler(event)
