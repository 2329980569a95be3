"""`iplos submit EXTRACT [--yes] [--pin-stdin] [--accept-errors] [--again RECEIPT] [--json]`: the run, headless.

Progress on stderr (a line per step, a progress line at most every second), the result as JSON on
stdout with ``--json``. Exit codes: 0 confirmed, 1 refused by validation (or already delivered),
2 usage/config (also: the journal cannot be written), 3 network/server error, ambiguous, or
another run in progress, 4 authentication, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from iplos_tui.commands.options import add_workers
from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.i18n import t


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("submit", help=t("submit.cli_help"), description=t("submit.cli_description"))
    parser.add_argument("extract", metavar="EXTRACT", help=t("submit.cli_extract"))
    parser.add_argument("--yes", action="store_true", help=t("submit.cli_yes"))
    parser.add_argument("--pin-stdin", action="store_true", help=t("submit.cli_pin_stdin"))
    parser.add_argument("--json", action="store_true", help=t("submit.cli_json"))
    parser.add_argument("--accept-errors", action="store_true", help=t("submit.cli_accept_errors"))
    parser.add_argument("--again", metavar="RECEIPT", default="", help=t("submit.cli_again"))
    add_workers(parser, t("submit.cli_workers"))
    parser.set_defaults(handler=run)


def _err(text: str) -> None:
    from iplos_tui.core.text import safe_text

    print(safe_text(text), file=sys.stderr, flush=True)


class StderrReporter:
    """Pipeline events as stderr lines: one per step, progress at most every ``interval`` s."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._labels: dict[str, str] = {}

    def __call__(self, event: Any) -> None:
        from iplos_tui.core import events as ev
        from iplos_tui.core.submission import progress_text

        if isinstance(event, ev.StepStarted):
            self._labels[event.step] = event.label
            _err(f"▸ {event.label} …")
        elif isinstance(event, ev.StepDone):
            _err(f"✓ {self._labels.get(event.step, event.step)}: {event.detail}")
        elif isinstance(event, ev.StepFailed):
            _err(f"✗ {self._labels.get(event.step) or t(f'submit.step_{event.step}')}: {event.reason}")
            if event.hint:
                _err(f"  {event.hint}")
        elif isinstance(event, ev.LogLine):
            _err(f"  {event.text}")
        elif isinstance(event, ev.StepProgress):
            now = time.monotonic()
            if now - self._last.get(event.step, 0.0) < self.interval:
                return
            self._last[event.step] = now
            _err("  " + progress_text(event))


def _run_in_thread(function: Any, cancel: threading.Event) -> Any:
    """Run ``function`` in a worker so that ctrl+c cancels it cooperatively (the journal stays
    right); a second ctrl+c interrupts at once."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # re-raised in the main thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="iplos-submit", daemon=True)
    worker.start()
    interrupted = False
    while worker.is_alive():
        try:
            worker.join(0.2)
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            cancel.set()
            _err(t("submit.cancelling"))
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _terminal() -> bool:
    """A terminal to ask on (not stdin, which may carry the PIN)."""
    try:
        with open("/dev/tty", "r+b", buffering=0):
            return True
    except OSError:
        return False


def _ask(question: str) -> bool:
    """A yes/no question on the terminal (not stdin, which may carry the PIN)."""
    try:
        with open("/dev/tty", "r+", encoding="utf-8", errors="replace") as tty:
            tty.write(question + " ")
            tty.flush()
            return tty.readline().strip().lower() in ("j", "ja", "y", "yes")
    except OSError:
        return False


def run(args: argparse.Namespace) -> ExitCode:
    import signal

    from iplos_tui.core.pipeline import RunResult
    from iplos_tui.core.secrets import Secret, check_pin, read_secret_stdin
    from iplos_tui.core.submission import ConfirmRequest, Decision, NotConfirmed, SubmitRun

    profile = args.profile
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file-size limit becomes an error, not a kill

    if not args.yes and not _terminal():
        _err(f"iplos: {t('submit.cli_needs_tty')}")  # nobody could answer the question
        return ExitCode.USAGE
    pin: Secret | None = None
    if args.pin_stdin:
        pin = read_secret_stdin()
        problem = check_pin(pin.reveal() if pin.is_set else "")
        if problem:
            pin.clear()
            _err(f"iplos: {problem}")
            return ExitCode.USAGE

    def confirm(request: ConfirmRequest) -> Decision:
        nonlocal pin
        for line in request.lines:
            _err(line)
        if request.needs_acceptance and not args.accept_errors:
            due = request.summary.get("corrections_due", "")
            raise NotConfirmed(t("submit.cli_needs_accept_errors", errors=request.levels.get("error", 0), due=due), ExitCode.FAILED)
        if not args.yes and not _ask(t("submit.cli_confirm")):
            return Decision.no()
        if pin is None:
            import getpass

            try:
                pin = Secret(getpass.getpass(t("submit.cli_pin_prompt")))
            except (EOFError, OSError):
                return Decision(True, None)
            problem = check_pin(pin.reveal() if pin.is_set else "")
            if problem:
                raise NotConfirmed(problem)
        return Decision(True, pin, accept_errors=args.accept_errors)

    def finish(result: RunResult) -> ExitCode:
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        elif result.ok:
            print(t("submit.cli_done", id=result.submission_id or "", receipt=(result.receipt or {}).get("receipt_id", "")))
        else:
            print(t("submit.cli_failed", state=result.state, id=result.submission_id or "-"))
        return result.exit_code

    cancel = threading.Event()
    if args.workers is not None:
        profile = profile.replace(workers=args.workers)
    submission = SubmitRun(profile, emit=StderrReporter(), cancel=cancel)
    try:
        return finish(_run_in_thread(lambda: submission.run(args.extract, confirm, again=args.again), cancel))
    finally:
        if pin is not None:
            pin.clear()
