"""A whole submission world on loopback for the submit tests: secure directory, recipient
certificates, a synthetic extract, a profile (also as a 0600 config file for the CLI), the fake
Sendemodul, and the checks every fault test ends with (nothing lost, nothing twice, no leak)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from sendemodul_fake import Account, FakeSendemodul

from iplos_tui.sandbox.demo import DEMO_PROFILE
from tests.support import PIN_CANARY
ROOT = Path(__file__).resolve().parent.parent


class World:
    def __init__(self, tmp_path: Path, persons: int = 120, part_size: int = 64 * 1024) -> None:
        from iplos_tui.core.config import save_profile
        from iplos_tui.core.extract.generator import generate_file
        from iplos_tui.sandbox import certs

        self.tmp = tmp_path
        self.secure = tmp_path / "secure"
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.secure.mkdir(mode=0o700, exist_ok=True)
        keys = tmp_path / "keys"
        keys.mkdir(exist_ok=True)
        ca = certs.make_ca("recipients CA")
        start = dt.datetime(2017, 12, 1, tzinfo=dt.timezone.utc)
        end = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)
        certs.issue_recipient(ca, "SSB IPLOS", start, end).write(keys / "ssb.pem")
        certs.issue_recipient(ca, "TPF", start, end).write(keys / "tpf.pem")
        self.extract = self.secure / "uttrekk-0403-2017.xml"
        generate_file(self.extract, persons=persons, kommunenr="0403", year=2017)
        self.extract_sha = self.sha()
        text = self.extract.read_text("utf-8")
        self.fnrs = re.findall(r'personId="(\d{11})"', text)[:20]
        self.server = FakeSendemodul(tmp_path / "server", account=Account(pin=PIN_CANARY))
        self.server.start()
        self.profile = DEMO_PROFILE.replace(
            secure_dir=self.secure,
            ssb_certificate=keys / "ssb.pem",
            tpf_certificate=keys / "tpf.pem",
            sendemodul_url=self.server.url,
            sendemodul_ca_bundle=self.server.ca_bundle,
            part_size=part_size,
        )
        self.config = tmp_path / "config" / "config.toml"
        save_profile(self.profile, self.config)

    def sha(self) -> str:
        return hashlib.sha256(self.extract.read_bytes()).hexdigest()

    def close(self) -> None:
        self.server.stop()

    # --- running ------------------------------------------------------------------------------

    def client_factory(self, **overrides):
        from iplos_tui.core.sendemodul import RetryPolicy, SendemodulClient, Timeouts

        def make(profile):
            kwargs = {
                "timeouts": Timeouts(connect=2, read=2, write=2, pool=2, total_base=5),
                "retry": RetryPolicy(attempts=3, first_delay=0.05, max_elapsed=2),
            }
            kwargs.update(overrides)
            return SendemodulClient.from_profile(profile, **kwargs)

        return make

    def pipeline(self, events=None, **client_overrides):
        from iplos_tui.core.pipeline import SubmissionPipeline

        return SubmissionPipeline(self.profile, emit=(events.append if events is not None else None), client_factory=self.client_factory(**client_overrides))

    def run(self, pin: str = PIN_CANARY, *, again: str = "", accept_errors: bool = False, events=None, **client_overrides):
        from iplos_tui.core.pipeline import RunResult
        from iplos_tui.core.secrets import Secret

        with self.pipeline(events, **client_overrides) as pipeline:
            prepared = pipeline.prepare(self.extract, again=again)
            if isinstance(prepared, RunResult):
                return prepared
            return pipeline.send(prepared, Secret(pin), accept_errors=accept_errors)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
        env["HOME"] = str(self.tmp / "home")
        env["XDG_CONFIG_HOME"] = str(self.tmp / "home" / ".config")
        env["XDG_DATA_HOME"] = str(self.tmp / "home" / ".local" / "share")
        env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{ROOT / 'tests'}"
        env["IPLOS_LANG"] = "nb"
        return env

    def cli(self, *args: str, pin: str | None = PIN_CANARY, timeout: float = 60, child: str | None = None, child_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """``iplos --config ... submit/status ...`` in a child process (or a test child script)."""
        argv = ["--config", str(self.config), *args]
        if child:
            cmd = [sys.executable, str(ROOT / "tests" / child), *child_args, "--", *argv]
        else:
            cmd = [sys.executable, "-m", "iplos_tui", *argv]
        # A session of its own: no controlling terminal, as in cron or over a pipe.
        return subprocess.run(cmd, input=(pin + "\n") if pin is not None else "", capture_output=True, text=True, timeout=timeout, env=self.env(), cwd=self.tmp, start_new_session=True)

    def popen(self, *args: str, pin: str = PIN_CANARY, child: str, child_args: tuple[str, ...] = ()) -> subprocess.Popen:
        argv = ["--config", str(self.config), *args]
        cmd = [sys.executable, str(ROOT / "tests" / child), *child_args, "--", *argv]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env(), cwd=self.tmp, start_new_session=True)
        proc.stdin.write(pin + "\n")
        proc.stdin.close()
        return proc

    # --- the invariants -------------------------------------------------------------------------

    def journal(self):
        from iplos_tui.core.journal import Journal

        return Journal(self.secure)

    def assert_invariants(self, *captured: str, delivered: bool | None = None) -> None:
        server = self.server
        # Nothing twice: every part stored at most once, every key committed at most once, and
        # this extract delivered at most once.
        assert server.max_stores() <= 1, server.stores
        assert all(count == 1 for count in server.commits.values()), server.commits
        assert len(server.committed()) <= 1, server.committed()
        if delivered is not None:
            assert (len(server.committed()) == 1) is delivered, server.committed()
        # Nothing lost: the extract is untouched; every journalled envelope that is not
        # confirmed still verifies.
        assert self.sha() == self.extract_sha
        from iplos_tui.core.envelope import verify_envelope

        for sub in self.journal().submissions():
            if sub.envelope_dir and sub.state != "confirmed" and sub.state != "prepared":
                assert verify_envelope(Path(sub.envelope_dir)) == [], sub
        # No staging or temp leftovers in the outbox.
        outbox = self.secure / "outbox"
        if outbox.exists():
            assert not [p for p in outbox.iterdir() if p.name.startswith(".iplos-tmp")], list(outbox.iterdir())
        # No plaintext outside the secure directory; the PIN nowhere.
        for path in self.tmp.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            assert PIN_CANARY.encode() not in data, path
            if self.secure not in path.parents:
                for fnr in self.fnrs:
                    assert fnr.encode() not in data, (path, fnr)
        journal_bytes = (self.secure / "journal.jsonl").read_bytes() if (self.secure / "journal.jsonl").exists() else b""
        for fnr in self.fnrs:
            assert fnr.encode() not in journal_bytes
        if (self.secure / "journal.jsonl").exists():
            assert (os.stat(self.secure / "journal.jsonl").st_mode & 0o777) == 0o600
        for text in captured:
            assert PIN_CANARY not in text
            for fnr in self.fnrs:
                assert fnr not in text


def wait_paused(proc, point: str, timeout: float = 60) -> str:
    """Read the child's stderr until it says it paused at ``point``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith(f"PAUSED {point}"):
            return "".join(seen)
    proc.kill()
    raise AssertionError(f"child never paused at {point}: {''.join(seen)} {proc.stdout.read()}")
