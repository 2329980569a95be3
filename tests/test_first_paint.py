"""What the console does before its first frame (issue 15, item 5): only the first pane's code,
only the first section of the profile pane, and the sandbox's ports bound but its servers started
after the first paint. Measured figures come from `make bench`; these tests check the behaviour,
never a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_FIRST_FRAME = textwrap.dedent(
    """
    import asyncio, json, sys
    from iplos_tui.app import IplosApp
    from iplos_tui.core.config import Profile

    PANES = ("iplos_tui.screens.config", "iplos_tui.screens.preflight", "iplos_tui.screens.submission", "iplos_tui.screens.feedback")

    async def main():
        app = IplosApp(Profile(), None, initial_mode="config")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            first = [name for name in PANES if name in sys.modules]
            await pilot.press("f4")
            await pilot.pause()
            shown = type(app.screen).__name__
            after = [name for name in PANES if name in sys.modules]
        print(json.dumps({"first": first, "after_f4": after, "shown": shown}))

    asyncio.run(main())
    """
)


def test_first_frame_loads_only_the_first_pane(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path), "IPLOS_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-c", _FIRST_FRAME], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["first"] == ["iplos_tui.screens.config"]
    # the other panes still open on their key, their code loaded then
    assert data["shown"] == "FeedbackScreen"
    assert "iplos_tui.screens.feedback" in data["after_f4"]


class _FirstFrame:
    """What an app subclass saw at its first frame with the profile pane on screen."""

    def __init__(self) -> None:
        self.seen: dict[str, object] | None = None


def _recording_app(record: _FirstFrame, *args, **kwargs):
    from iplos_tui.app import IplosApp

    class Recording(IplosApp):
        def _display(self, screen, renderable) -> None:
            if record.seen is None and screen.query("#field-kommunenr"):
                record.seen = {"later_section": bool(screen.query("#field-secure_dir"))}
            super()._display(screen, renderable)

    return Recording(*args, **kwargs)


async def test_the_profile_pane_works_before_its_lower_sections_arrive(tmp_path):
    """The sections below the first come after the first frame; a key typed in the first field
    before them is kept: leaving asks about the unsaved change."""
    from iplos_tui.core.config import Profile

    record = _FirstFrame()
    app = _recording_app(record, Profile(secure_dir=tmp_path / "secure"), tmp_path / "config.toml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "9", "f3")  # Enter enters the form's first field (issue 14 item 6)
        await pilot.pause()
        assert type(app.screen).__name__ == "UnsavedChangesScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.query("#field-secure_dir")  # every section is there now
        assert app.screen.has_unsaved_changes
    assert record.seen == {"later_section": False}


_SANDBOX_FIRST_FRAME = textwrap.dedent(
    """
    import asyncio, json, sys
    from iplos_tui.app import IplosApp
    from iplos_tui.sandbox.session import start_session

    HEAVY = ("uvicorn", "starlette", "h11", "iplos_tui.sandbox.gateway", "iplos_tui.sandbox.sendemodul",
             "iplos_tui.sandbox.world", "iplos_tui.core.extract.generator", "httpx", "cryptography", "pyzipper", "dns")

    class Recording(IplosApp):
        seen = None

        def _display(self, screen, renderable):
            if Recording.seen is None and screen.query("#field-kommunenr"):
                Recording.seen = {"serving": self.sandbox.serving, "loaded": [m for m in HEAVY if m in sys.modules],
                                  "later_section": bool(screen.query("#field-secure_dir"))}
            super()._display(screen, renderable)

    async def main():
        with start_session(sys.argv[1], serve=False) as session:
            app = Recording(session.profile, session.config_path, sandbox=session, clock=session.now)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()
                after = session.serving
        print(json.dumps({**Recording.seen, "serving_after": after}))

    asyncio.run(main())
    """
)


def test_sandbox_servers_start_after_the_first_frame(tmp_path):
    """`iplos tui --sandbox`: the first frame waits for neither the servers nor their code."""
    from iplos_tui.sandbox.session import start_session

    start_session(tmp_path / "sandbox", serve=False).stop()  # the first run's certificates and extracts
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _SANDBOX_FIRST_FRAME, str(tmp_path / "sandbox")],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"serving": False, "loaded": [], "later_section": False, "serving_after": True}


def _get(url: str, ca_bundle: Path) -> int:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca_bundle))
    try:
        with urllib.request.urlopen(url, context=context, timeout=60) as answer:  # noqa: S310 - loopback sandbox
            return int(answer.status)
    except urllib.error.HTTPError as error:  # an error status is an answer too
        return int(error.code)


def test_a_request_made_before_the_servers_start_is_answered_after(tmp_path):
    """The port is bound before the first frame: a client that comes early waits, it is not refused;
    the DNS server answers from the start (the profile names both ports)."""
    import threading

    import dns.message
    import dns.query

    from iplos_tui.sandbox.layout import SENDEMODUL_NAME
    from iplos_tui.sandbox.session import start_session

    with start_session(tmp_path / "sandbox", serve=False) as session:
        host, port = session.profile.preflight_nameservers[0].rsplit(":", 1)
        reply = dns.query.udp(dns.message.make_query(SENDEMODUL_NAME, "A"), host, port=int(port), timeout=30)
        assert [item.address for rrset in reply.answer for item in rrset] == ["127.0.0.1"]
        result: dict[str, object] = {}

        def early() -> None:
            try:
                result["status"] = _get(session.profile.gateway_url + "/api/v1/info", session.server.ca_bundle)
            except Exception as exc:  # refused or reset: no answer
                result["status"] = repr(exc)

        client = threading.Thread(target=early)
        client.start()
        client.join(0.5)  # let it connect and wait
        assert not session.serving and "status" not in result
        session.serve()
        client.join(60)
        assert isinstance(result.get("status"), int) and result["status"] < 500, result


async def test_preflight_run_before_the_sandbox_servers_are_up_passes(tmp_path):
    """A key that talks to the sandbox before its servers have started (they are held back here)
    waits for them and gets its answers: the round still works."""
    import asyncio
    import threading

    from iplos_tui.app import IplosApp
    from iplos_tui.sandbox.session import start_session

    gate = threading.Event()
    with start_session(tmp_path / "sandbox", serve=False) as session:
        real_serve = session.serve

        def held_serve() -> None:
            gate.wait(60)
            real_serve()

        session.serve = held_serve  # type: ignore[method-assign]
        profile = session.profile.replace(spam_allowlist_confirmed=True, postmottak_routing_confirmed=True)
        app = IplosApp(profile, session.config_path, sandbox=session, clock=session.now, initial_mode="preflight",
                       services={"preflight": {"temp_roots": ()}})
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("r")
            await pilot.pause()
            assert app.screen.running and not session.serving
            await asyncio.sleep(0.3)  # the checks reach the bound port and wait there
            gate.set()
            while app.screen.running:
                await app.workers.wait_for_complete()
                await pilot.pause()
            results = {check_id: result.status for check_id, result in app.screen.results.items()}
        assert session.serving
    assert results.pop("proxy") == "skip"  # none in the sandbox profile
    assert set(results.values()) == {"pass"}, results
