"""The submission pipeline against the fake Sendemodul on loopback, with the faults of issue 7.

Every test ends with the same invariants (``World.assert_invariants``): nothing lost, nothing
stored or committed twice, no plaintext outside the secure directory, the PIN canary nowhere.
"""

from __future__ import annotations

import time

import pytest
from sendemodul_fake import Fault
from submit_world import PIN_CANARY, World

from iplos_tui.core import pipeline as pl
from iplos_tui.core.exitcodes import ExitCode

PART = r"submissions/[0-9a-f-]+/parts/content-0001\.p7m"
COMMIT = r"submissions/[0-9a-f-]+/commit"
LOOKUP = r"submissions/[0-9a-f-]+"


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


def _requests(world, method, pattern):
    import re

    return [p for m, p in world.server.requests if m == method and re.search(pattern, p)]


def test_happy_path_events_journal_and_receipt(world):
    events = []
    result = world.run(events=events)
    assert result.ok and result.state == "confirmed" and result.exit_code == ExitCode.OK
    assert result.receipt["receipt_id"].startswith("IPLOS-2018-")
    assert result.receipt["manifest_sha256"] == result.manifest["sha256"]
    steps = [e.step for e in events if isinstance(e, pl.StepDone)]
    assert steps == list(pl.STEPS)
    assert any(isinstance(e, pl.StepProgress) and e.step == "upload" and e.done == e.total for e in events)
    sub = world.journal().get(result.submission_id)
    assert [state for _, _, state in sub.history] == ["prepared", "encrypted", "sending", "confirmed"]
    assert sub.receipt["receipt_id"] == result.receipt["receipt_id"]
    assert world.server.logins == 1
    world.assert_invariants(delivered=True)
    # JSON result shape of the CLI
    data = result.to_json()
    assert set(data) >= {"ok", "state", "submission_id", "receipt", "manifest"}


def test_same_extract_again_needs_an_explicit_override(world):
    first = world.run()
    assert first.ok
    again = world.run()
    assert not again.ok and again.state == "duplicate" and again.exit_code == ExitCode.FAILED
    assert again.existing["receipt"]["receipt_id"] == first.receipt["receipt_id"]
    assert len(world.server.committed()) == 1
    assert world.run(again="IPLOS-2018-999999").state == "duplicate"  # an override names the receipt
    forced = world.run(again=first.receipt["receipt_id"])
    assert forced.ok and forced.submission_id != first.submission_id
    assert len(world.server.committed()) == 2  # the operator asked for it, naming the receipt


def test_validation_refusal_sends_nothing(world, tmp_path):
    world.extract.write_text(world.extract.read_text("utf-8").replace("<Kommunenr>0403", "<Kommunenr>9999"), "utf-8")
    world.extract_sha = world.sha()
    result = world.run()
    assert result.state == "refused" and result.exit_code == ExitCode.FAILED
    assert world.server.requests == []
    assert not (world.secure / "journal.jsonl").exists() or world.journal().submissions() == []


def test_connection_refused_is_failed_safe_then_a_rerun_delivers(world):
    port = world.server.port
    world.server.stop()
    result = world.run()
    assert result.state == "failed-safe" and result.exit_code == ExitCode.NETWORK
    assert "Ingenting ble sendt" in result.hint
    # the server comes back on the same address: the same envelope and key are used
    from sendemodul_fake import Account, FakeSendemodul

    server = FakeSendemodul.__new__(FakeSendemodul)
    FakeSendemodul.__init__(server, world.tmp / "server2", account=Account(pin=PIN_CANARY), context=world.server.context, ca_bundle=world.server.ca_bundle)
    server._sock.close()
    import socket

    server._sock = socket.socket()
    server._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server._sock.bind(("127.0.0.1", port))
    server._sock.listen(16)
    server.port = port
    world.server = server
    server.start()
    again = world.run()
    assert again.ok and again.submission_id == result.submission_id
    world.assert_invariants(delivered=True)


def test_tls_unknown_ca_no_request_reaches_the_server(world, tmp_path):
    from sendemodul_fake import make_tls

    _, other_bundle, _ = make_tls(tmp_path / "other", hostnames=("localhost",), ca=__import__("iplos_tui.sandbox.certs", fromlist=["x"]).make_ca("another CA"))
    world.profile = world.profile.replace(sendemodul_ca_bundle=other_bundle)
    result = world.run()
    assert result.state == "failed-safe" and result.exit_code == ExitCode.NETWORK
    assert world.server.requests == [] and world.server.raw_bytes == 0
    world.assert_invariants(delivered=False)


def test_close_mid_body_then_rerun_sends_only_what_is_missing(world):
    world.server.faults.append(Fault("PUT", PART, "close_mid_body"))
    first = world.run()
    assert first.state in ("failed-safe", "ambiguous") and first.exit_code == ExitCode.NETWORK
    assert world.server.committed() == []
    stored_before = dict(world.server.stores)
    second = world.run()
    assert second.ok and second.submission_id == first.submission_id
    for key in stored_before:  # parts held before were not sent again
        assert len(_requests(world, "PUT", key[1].replace(".", r"\."))) == 1
    world.assert_invariants(delivered=True)


def test_store_then_reset_on_commit_is_resolved_by_lookup(world):
    world.server.faults.append(Fault("POST", COMMIT, "reset_after_store"))
    result = world.run()
    assert result.ok and result.state == "confirmed"
    assert len(_requests(world, "POST", "commit")) == 1  # never re-POSTed
    sub = world.journal().get(result.submission_id)
    assert sub.state == "confirmed"
    world.assert_invariants(delivered=True)


def test_store_then_reset_on_a_part_stores_it_exactly_once(world):
    world.server.faults.append(Fault("PUT", PART, "reset_after_store"))
    first = world.run()
    assert not first.ok and first.state == "failed-safe"
    assert len(_requests(world, "PUT", PART)) == 1
    second = world.run()
    assert second.ok
    assert len(_requests(world, "PUT", PART)) == 1  # the look-up said it is there
    world.assert_invariants(delivered=True)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_after_the_body_is_not_resent(world, status):
    world.server.faults.append(Fault("PUT", PART, "status_after_body", status=status, message="\x1b]52;c;QUFB\x07[red]boom[/]"))
    result = world.run()
    assert not result.ok and result.exit_code == ExitCode.NETWORK
    assert len(_requests(world, "PUT", PART)) == 1
    assert "\x1b" not in result.message and "\x07" not in result.message
    assert world.server.committed() == []
    assert world.run().ok
    world.assert_invariants(delivered=True)


@pytest.mark.parametrize("status", [400, 422])
def test_a_4xx_with_a_json_error_fails_at_once_and_shows_the_message_literally(world, status):
    """F07: refused by the Sendemodul: failed, no retry, the server's words shown as text."""
    world.server.faults.append(Fault("PUT", PART, "status_after_body", status=status, error="invalid_part",
                                     message="[red]del 1 er ugyldig[/] \x1b[31m"))
    result = world.run()
    assert not result.ok and result.state == "failed-safe" and result.exit_code == ExitCode.NETWORK
    assert len(_requests(world, "PUT", PART)) == 1  # no retry
    assert "[red]del 1 er ugyldig[/]" in result.message and "\x1b" not in result.message
    assert world.server.committed() == []
    world.assert_invariants(delivered=False)


def test_503_retry_after_means_nothing_processed(world):
    world.server.faults.append(Fault("PUT", PART, "status_after_body", status=503, retry_after=30))
    result = world.run()
    assert result.state == "failed-safe" and "30" in result.message
    world.assert_invariants(delivered=False)


def test_session_expired_after_login_asks_to_log_in_again(world):
    world.server.faults.append(Fault("PUT", PART, "expire"))
    result = world.run()
    assert result.state == "failed-safe" and result.exit_code == ExitCode.AUTH
    assert len(_requests(world, "PUT", PART)) == 1
    assert world.server.logins == 1  # no hidden re-login
    assert world.run().ok
    world.assert_invariants(delivered=True)


def test_read_timeout_after_the_body_is_resolved_by_lookup(world):
    world.server.faults.append(Fault("POST", COMMIT, "sleep_after_body", seconds=3))
    from iplos_tui.core.sendemodul import Timeouts

    started = time.monotonic()
    result = world.run(timeouts=Timeouts(connect=2, read=0.5, write=2, total_base=5))
    assert time.monotonic() - started < 10
    assert result.ok  # the server had committed: the look-up found the receipt
    assert len(_requests(world, "POST", "commit")) == 1
    world.assert_invariants(delivered=True)


def test_dripping_answer_hits_the_total_deadline(world):
    world.server.faults.append(Fault("POST", COMMIT, "drip", interval=0.05))
    from iplos_tui.core.sendemodul import Timeouts

    started = time.monotonic()
    result = world.run(timeouts=Timeouts(connect=2, read=2, write=2, total_base=1.0))
    assert time.monotonic() - started < 8
    assert result.ok  # committed, found by the look-up
    assert len(_requests(world, "POST", "commit")) == 1
    world.assert_invariants(delivered=True)


def test_lookup_impossible_leaves_it_ambiguous_then_a_rerun_resolves(world):
    world.server.faults.append(Fault("POST", COMMIT, "reset_after_store"))
    world.server.faults.append(Fault("GET", LOOKUP, "drop", times=10))
    result = world.run()
    assert result.state == "ambiguous" and result.exit_code == ExitCode.NETWORK
    assert world.journal().get(result.submission_id).state == "ambiguous"
    world.server.faults.clear()
    again = world.run()
    assert again.ok and again.submission_id == result.submission_id
    assert len(_requests(world, "POST", "commit")) == 1  # resolved by look-up, not by a new commit
    world.assert_invariants(delivered=True)


def test_redirect_is_not_followed_and_the_pin_not_resent(world, tmp_path):
    from sendemodul_fake import FakeSendemodul

    with FakeSendemodul(tmp_path / "elsewhere") as elsewhere:
        world.server.faults.append(Fault("POST", "login", "redirect", location=elsewhere.url + "api/v1/login"))
        result = world.run()
        assert result.state == "failed-safe" and result.exit_code == ExitCode.NETWORK
        assert "302" in result.message
        assert elsewhere.connections == 0 and elsewhere.requests == []
    assert world.server.logins == 1
    world.assert_invariants(delivered=False)


def test_html_answer_is_refused_and_shown_safely(world):
    world.server.faults.append(Fault("POST", "login", "html"))
    result = world.run()
    assert result.exit_code == ExitCode.NETWORK and "text/html" in result.message
    assert "\x1b" not in result.message and "\x07" not in result.message
    world.assert_invariants(delivered=False)


def test_100_mb_answer_is_cut_at_the_cap(world):
    world.server.faults.append(Fault("POST", COMMIT, "huge", size=100 * 1024 * 1024))
    result = world.run()
    assert not result.ok and result.state == "failed-safe"  # the look-up: not committed
    assert "KiB" in result.message
    assert world.run().ok
    world.assert_invariants(delivered=True)


def test_wrong_pin_three_times_is_three_login_requests_and_a_lockout(world):
    results = [world.run(pin=f"PIN-CANARY-000{i}") for i in range(3)]
    assert [r.exit_code for r in results] == [ExitCode.AUTH] * 3
    assert world.server.logins == 3
    assert "2 forsøk igjen" in results[0].message
    assert "sperret" in results[2].message
    assert results[2].hint
    world.assert_invariants(delivered=False)
    journal = (world.secure / "journal.jsonl").read_text()
    assert "PIN-CANARY" not in journal


def test_cancel_before_sending_sends_nothing(world):
    with world.pipeline() as pipeline:
        prepared = pipeline.prepare(world.extract)
        pipeline.cancel.set()
        from iplos_tui.core.secrets import Secret

        result = pipeline.send(prepared, Secret(PIN_CANARY))
    assert result.state == "cancelled" and result.exit_code == ExitCode.INTERRUPTED
    assert world.server.requests == []


def test_cancel_during_upload_keeps_the_journal_right(world, tmp_path):
    world.close()
    big = World(tmp_path / "big", persons=3000, part_size=64 * 1024)
    try:
        events = []
        with big.pipeline(events) as pipeline:
            prepared = pipeline.prepare(big.extract)

            def emit(event):
                events.append(event)
                if isinstance(event, pl.LogLine) and "content-0002" in event.text:
                    pipeline.cancel.set()

            pipeline.emit = emit
            from iplos_tui.core.secrets import Secret

            result = pipeline.send(prepared, Secret(PIN_CANARY))
        assert result.exit_code == ExitCode.INTERRUPTED and result.state == "failed-safe"
        assert big.server.committed() == []
        again = big.run()
        assert again.ok and again.submission_id == result.submission_id
        big.assert_invariants(delivered=True)
    finally:
        big.close()


def test_the_journal_is_stamped_with_the_runs_clock(world):
    """Issue 14 item 18: in the sandbox the run's clock is January 2018, and so is the history (the
    journal took the real clock while the header showed 2018)."""
    from iplos_tui.core import journal as jn
    from iplos_tui.core.pipeline import RunResult, SubmissionPipeline
    from iplos_tui.core.secrets import Secret
    from tests.support import FROZEN_NOW

    with SubmissionPipeline(world.profile, client_factory=world.client_factory(), now=lambda: FROZEN_NOW) as pipeline:
        prepared = pipeline.prepare(world.extract)
        assert not isinstance(prepared, RunResult), prepared
        result = pipeline.send(prepared, Secret(PIN_CANARY))
    assert result.ok, result
    stamps = {record["at"] for record in jn.Journal(world.profile.secure_dir).records()}
    assert stamps == {FROZEN_NOW.astimezone().isoformat(timespec="seconds")}, stamps
