"""Helpers the tests share (import them from here, never from conftest).

- ``PIN_CANARY`` / ``FNR_CANARY``: canary secrets that must appear nowhere but where a test put
  them (a leak test greps for them).
- ``FROZEN_NOW``: the demo municipality's clock for pictures and pilot tests.
- ``wait_until(pilot, predicate)``: let a pilot test's app run until ``predicate()`` holds.
- ``run_in_pty(argv)``: a real child process on a pseudo-terminal (the TUI needs one);
  ``ctrl_c_as_at_a_terminal``: the ``preexec_fn`` of a child a test sends Ctrl-C.
- ``is_loopback(host)``: the rule of the loopback guard in conftest.
- ``tests.support.gateway``: the gateway fixtures (TLS identity, one swappable HTTPS server, the
  sandbox and the fault-injecting gateway on it) and a raw TLS server that drips.
- ``tests.support.cli``: ``iplos`` as a real child process, with its own peak RSS.
"""

from tests.support.canaries import FNR_CANARY, PIN_CANARY
from tests.support.clock import FROZEN_NOW
from tests.support.net import is_loopback
from tests.support.pilot import wait_until
from tests.support.terminal import PtyResult, ctrl_c_as_at_a_terminal, run_in_pty

__all__ = ["FNR_CANARY", "FROZEN_NOW", "PIN_CANARY", "PtyResult", "ctrl_c_as_at_a_terminal", "is_loopback", "run_in_pty", "wait_until"]
