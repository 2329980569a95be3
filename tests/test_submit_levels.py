"""Issue 13.2: fatal findings block sending; errors are sent only when the operator accepts them
(``iplos submit --accept-errors`` besides ``--yes``), and the journal records what was accepted;
warnings and info send with the normal confirmation."""

from __future__ import annotations

import json

import pytest
from submit_world import World

from iplos_tui.core.extract.generator import generate_file

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, persons=300)
    yield w
    w.close()


def _regenerate(world, **kwargs) -> None:
    generate_file(world.extract, persons=300, kommunenr="0403", year=2017, seed=11, **kwargs)
    world.extract_sha = world.sha()


def _counts(world) -> dict:
    done = world.cli("validate", str(world.extract), "--json", pin=None)
    return json.loads(done.stdout)["counts"]


def test_errors_are_sent_only_when_accepted_and_the_journal_says_which(world):
    _regenerate(world, error_rate=0.05)
    counts = _counts(world)
    assert counts["error"] > 0 and counts["fatal"] == 0

    refused = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert refused.returncode == 1, refused.stderr
    assert "--accept-errors" in refused.stderr and str(counts["error"]) in refused.stderr
    assert "21.3.2018" in refused.stderr  # the corrections deadline for the June publication
    assert json.loads(refused.stdout)["state"] == "not-sent"
    assert world.server.requests == []  # not even a login

    sent = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--accept-errors", "--json")
    assert sent.returncode == 0, sent.stderr
    [sub] = [s for s in world.journal().submissions() if s.state == "confirmed"]
    assert sub.levels == counts and sub.accepted_levels == counts
    sending = [r for r in world.journal().records() if r["id"] == sub.id and r["state"] == "sending"]
    assert sending and sending[0]["accepted_levels"] == counts
    world.assert_invariants(refused.stdout, refused.stderr, sent.stdout, sent.stderr, delivered=True)


def test_a_fatal_extract_is_refused_with_its_reason_whatever_is_accepted(world):
    world.profile = world.profile.replace(kommunenr="0301")
    from iplos_tui.core.config import save_profile

    save_profile(world.profile, world.config)
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--accept-errors", "--json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["state"] == "refused" and "0403" in data["error"]["message"]
    assert world.server.requests == []
    assert world.journal().submissions() == []  # refused at the header: nothing journalled


def test_a_warning_only_extract_sends_with_the_normal_confirmation(world):
    _regenerate(world, header_errors=("header.produced_at",))
    counts = _counts(world)
    assert counts["warning"] >= 1 and counts["error"] == 0 and counts["fatal"] == 0
    done = world.cli("submit", str(world.extract), "--yes", "--pin-stdin", "--json")
    assert done.returncode == 0, done.stderr
    [sub] = world.journal().submissions()
    assert sub.levels == counts and sub.accepted_levels == {}


def test_the_confirmation_states_the_counts_per_level(world):
    _regenerate(world, error_rate=0.05)
    from iplos_tui.core.secrets import Secret
    from iplos_tui.core.submission import Decision, SubmitRun
    from submit_world import PIN_CANARY

    seen = []

    def confirm(request):
        seen.append(request)
        return Decision(True, Secret(PIN_CANARY))  # yes, but the errors are not accepted

    result = SubmitRun(world.profile, client_factory=world.client_factory()).run(world.extract, confirm)
    [request] = seen
    assert request.needs_acceptance and request.levels["error"] > 0
    text = "\n".join(request.lines)
    assert f"{request.levels['error']} feil" in text and "21.3.2018" in text
    assert not result.ok and result.state == "refused" and world.server.requests == []
