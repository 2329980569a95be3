"""Runs `iplos ...` in a child with a test-only crash point or file-size limit (issue 7 faults).

    python tests/submit_child.py [--pause-at POINT] [--fsize BYTES] [--fsize-at-sending] -- ARGS

``--pause-at`` prints ``PAUSED <point>`` on stderr and sleeps there, so that the parent can SIGKILL
the process at exactly that point. Points: a journal state (``prepared``, ``encrypted``,
``sending``: just after its record is fsynced), ``before-confirmed`` (the receipt is in, its
record not yet written), ``mid-encrypt`` and ``mid-upload`` (between two parts).
``--fsize`` sets RLIMIT_FSIZE from the start; ``--fsize-at-sending`` sets it to the journal's
size right before the ``sending`` record, so that record cannot be written (EFBIG).
"""

from __future__ import annotations

import resource
import signal
import sys
import time


def pause(point: str) -> None:
    print(f"PAUSED {point}", file=sys.stderr, flush=True)
    time.sleep(120)
    raise SystemExit(99)


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--")
    options, args = argv[:split], argv[split + 1 :]
    pause_at = options[options.index("--pause-at") + 1] if "--pause-at" in options else ""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    if "--fsize" in options:
        limit = int(options[options.index("--fsize") + 1])
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    from iplos_tui.commands import submit
    from iplos_tui.core import journal, pipeline

    real_append = journal.Journal.append

    def append(self, sub_id, state, **fields):
        if state == "confirmed" and pause_at == "before-confirmed":
            pause(pause_at)
        if state == "sending" and "--fsize-at-sending" in options:
            size = self.path.stat().st_size
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        record = real_append(self, sub_id, state, **fields)
        if state == pause_at:
            pause(pause_at)
        return record

    journal.Journal.append = append
    real_call = submit.StderrReporter.__call__

    def report(self, event):
        real_call(self, event)
        if pause_at == "mid-encrypt" and isinstance(event, pipeline.StepProgress) and event.step == "encrypt" and 0 < event.done < event.total:
            pause(pause_at)
        if pause_at == "mid-upload" and isinstance(event, pipeline.LogLine) and "content-0001" in event.text:
            pause(pause_at)

    submit.StderrReporter.__call__ = report
    from iplos_tui.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
