"""Options more than one command has."""

from __future__ import annotations

import argparse

from iplos_tui.core.i18n import t


def add_workers(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--workers N``: the processes that read the extract (``core.pass_pool.worker_count``)."""
    parser.add_argument("--workers", metavar="N", type=workers, help=help_text)


def workers(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(t("cli.workers_bad", value=text))
    return int(text)
