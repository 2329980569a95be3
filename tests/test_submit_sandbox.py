"""The submission run against the real sandbox Sendemodul (iplos_tui.sandbox.server) on loopback."""

from __future__ import annotations

import pytest

pytest.importorskip("uvicorn")

from iplos_tui.core.pipeline import SubmissionPipeline  # noqa: E402


def test_pipeline_against_the_sandbox_stores_once_and_resolves_a_reset(tmp_path):
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path / "sandbox", process=False) as sandbox:
        profile = sandbox.profile.replace(part_size=64 * 1024)
        extract = profile.secure_dir / "uttrekk.xml"
        profile.secure_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        generate_file(extract, persons=400, kommunenr=profile.kommunenr, bydel=profile.bydel, year=profile.year)
        sandbox.faults.inject("commit", "after", "drop")  # stores, then drops the connection
        with SubmissionPipeline(profile, now=sandbox.clock.now) as pipeline:
            prepared = pipeline.prepare(extract)
            result = pipeline.send(prepared, sandbox.pin)
        assert result.ok, (result.message, result.hint)
        assert result.receipt["receipt_id"]
        assert sandbox.stored_count(result.submission_id) == 1
        from iplos_tui.core.submission import Decision, SubmitRun

        again = SubmitRun(profile, now=sandbox.clock.now).run(extract, lambda request: Decision(True, sandbox.pin))
        assert again.state == "duplicate"
        assert sandbox.stored_count(result.submission_id) == 1
