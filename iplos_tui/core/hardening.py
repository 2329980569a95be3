"""The process hardening every process of ours that may hold a secret or plaintext gets: no core
dumps, and not dumpable (no ptrace, no /proc/<pid>/mem by other processes of the same user).
``cli.harden_process`` applies it to the console and the CLI; the submission's process pool
(``core.pass_pool``) to each of its workers, which hold an extract's plaintext."""

from __future__ import annotations

import sys

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def harden() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        except OSError:
            pass


def hardening_state() -> tuple[int | None, int | None]:
    """(the core-dump size limit, the dumpable flag) of this process; None where unknown."""
    core: int | None = None
    dumpable: int | None = None
    try:
        import resource

        core = resource.getrlimit(resource.RLIMIT_CORE)[1]
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            dumpable = int(ctypes.CDLL(None, use_errno=True).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
        except OSError:
            pass
    return core, dumpable
