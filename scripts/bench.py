#!/usr/bin/env python3
"""Benchmarks: named cases, each beside a peer tool on the same input in the same run.

    python scripts/bench.py --case validate --persons 1000,10000,100000 [--repeat 3]
    python scripts/bench.py --case table --persons 10000,100000 --repeat 3   # the issue-15 table

Every measured run is a separate process started by a small probe process, which reports the
run's wall time and the run's own peak memory (see PROBE). Medians over --repeat runs; the ratio
is ours / peer. Not a test: it prints figures. The ``table`` case (scripts/bench_table.py) runs
today's code (--baseline) and this checkout beside the peers in one interleaved run and prints
the issue's table with both columns.

Adding a case: a function ``def bench_<name>(bench: Bench) -> None`` decorated with
``@case("<name>")`` that calls ``bench.compare(...)`` for each input size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "scripts"))

# The probe: runs argv[2:] (argv[1] "1": keep stdout, to read an inner time from its last line),
# prints {"seconds", "peak_kb", "rc", "inner_seconds", "stderr_tail"} as JSON. The peak is the run's
# own, from GNU time (/usr/bin/time -f %M, whose forked child is ~1 MB before it execs the run):
# RUSAGE_CHILDREN of this Python probe would never report below the probe's own ~12 MB, because a
# child's peak includes the memory it had before exec. Without GNU time it falls back to that.
PROBE = r"""
import json, os, resource, subprocess, sys, tempfile, time
capture, argv = sys.argv[1] == "1", sys.argv[2:]
stdin_path = os.environ.pop("BENCH_STDIN", "")
timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak_file, \
        open(os.devnull, "r+b") as null, open(stdin_path or os.devnull, "rb") as stdin:
    command = [timer, "-f", "%M", "-o", peak_file.name, *argv] if timer else argv
    start = time.perf_counter()
    rc = subprocess.call(command, stdin=stdin, stdout=out if capture else null, stderr=err)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if timer:
        last = (peak_file.read().strip().splitlines() or ["0"])[-1]
        peak = int(last) if last.isdigit() else peak
    out.seek(max(0, out.seek(0, 2) - 200))
    tail = out.read().decode("utf-8", "replace").strip().splitlines()
    err.seek(max(0, err.seek(0, 2) - 2000))
    stderr_tail = err.read().decode("utf-8", "replace")
inner = None
if tail and tail[-1].startswith('{"inner_seconds"'):
    inner = json.loads(tail[-1])["inner_seconds"]
print(json.dumps({"seconds": seconds, "peak_kb": peak, "rc": rc, "inner_seconds": inner, "stderr_tail": stderr_tail}))
"""


@dataclass
class Row:
    case: str
    persons: int
    size_bytes: int
    tool: str
    seconds: float  # median wall time of the process
    peak_mb: float  # median peak RSS
    runs: list[float] = field(default_factory=list)
    ratio: float | None = None  # ours / peer, on the ours row

    @property
    def mb_per_s(self) -> float:
        return self.size_bytes / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def persons_per_s(self) -> float:
        return self.persons / self.seconds if self.seconds else 0.0


CASES: dict[str, Callable[[Bench], None]] = {}


def case(name: str):
    def register(function: Callable[[Bench], None]) -> Callable[[Bench], None]:
        CASES[name] = function
        return function

    return register


class Bench:
    def __init__(self, persons: list[int], repeat: int, workdir: Path) -> None:
        self.persons = persons
        self.repeat = repeat
        self.workdir = workdir
        self.rows: list[Row] = []
        self.baseline = "HEAD"
        self._extracts: dict[tuple[int, float], Path] = {}
        # The CLI reads no real profile during a benchmark: the default path, under a config home
        # that has none (a file named by $IPLOS_CONFIG must exist, else a usage error, exit 2).
        # Compiled code as an installed package has it: the warm-up run writes the .pyc files into the
        # bench's own cache (a shell with PYTHONDONTWRITEBYTECODE would compile every module on every run).
        self.env = {key: value for key, value in os.environ.items() if key not in ("IPLOS_CONFIG", "PYTHONDONTWRITEBYTECODE")}
        self.env.update({"XDG_CONFIG_HOME": str(workdir / "no-config"), "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(workdir / "pycache")})

    def extract(self, persons: int, error_rate: float = 0.0) -> Path:
        """A generated synthetic extract (cached for the run)."""
        key = (persons, error_rate)
        path = self.workdir / f"extract-{persons}-{error_rate}.xml"
        if key not in self._extracts and path.exists():  # a kept --workdir: made by an earlier run
            self._extracts[key] = path
        if key not in self._extracts:
            from iplos_tui.core.extract.generator import generate_file

            start = time.perf_counter()
            generate_file(path, persons=persons, seed=1, error_rate=error_rate)
            took = time.perf_counter() - start
            size = path.stat().st_size
            print(f"  generated {persons:>7} persons: {size / 1e6:7.1f} MB in {took:5.2f} s "
                  f"({persons / took:,.0f} persons/s)", file=sys.stderr)
            self._extracts[key] = path
        return self._extracts[key]

    def measure(self, argv: list[str], *, env: dict[str, str] | None = None, stdin: Path | None = None, capture: bool = True) -> dict:
        """One run of ``argv`` in its own process: wall seconds, its own peak RSS, exit code."""
        env = dict(env or self.env)
        if stdin is not None:
            env["BENCH_STDIN"] = str(stdin)
        # cwd: the work directory, never a checkout (``python -m``/``-c`` put the cwd before
        # PYTHONPATH on sys.path, so the "today" column would run this checkout's code).
        out = subprocess.run([sys.executable, "-c", PROBE, "1" if capture else "0", *argv],
                             capture_output=True, text=True, env=env, timeout=3600, cwd=self.workdir)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        return json.loads(out.stdout)

    def report_figure(self, name: str, figure, inner: bool = False) -> None:
        """The rows behind one line of the table: each tool's median, spread and peak."""
        for label, samples in figure.samples.items():
            times = [s["inner_seconds"] if inner and s["inner_seconds"] is not None else s["seconds"] for s in samples]
            row = Row(case=name, persons=0, size_bytes=0, tool=label, seconds=statistics.median(times),
                      peak_mb=statistics.median(s["peak_kb"] for s in samples) / 1024, runs=[round(v, 4) for v in times])
            self.rows.append(row)
            print(f"  {name:<14} {label:<28} median {row.seconds:8.3f} s  (min {min(times):.3f}, max {max(times):.3f})  "
                  f"peak {row.peak_mb:7.1f} MiB", file=sys.stderr, flush=True)

    def compare(self, name: str, persons: int, size: int, ours: list[Tool], peer: Tool | None) -> None:
        """Run each of ``ours`` and the ``peer`` in turn, ``repeat`` times after one warm-up each
        (page cache, .pyc files); medians; each of ours gets the ratio ours / peer."""
        tools = ours + ([peer] if peer else [])
        results: dict[str, list[dict]] = {tool.label: [] for tool in tools}
        for tool in tools:
            first = self.measure(tool.argv)
            if first["rc"] not in tool.ok_codes:
                raise RuntimeError(f"{tool.label} exited {first['rc']}: {' '.join(tool.argv)}")
        for _ in range(self.repeat):
            for tool in tools:
                results[tool.label].append(self.measure(tool.argv))
        rows = []
        for tool in tools:
            runs = results[tool.label]
            times = [r["inner_seconds"] if tool.inner else r["seconds"] for r in runs]
            rows.append(Row(
                case=name, persons=persons, size_bytes=size, tool=tool.label,
                seconds=statistics.median(times),
                peak_mb=statistics.median(r["peak_kb"] for r in runs) / 1024,
                runs=[round(value, 4) for value in times],
            ))
        if peer:
            for row in rows[:-1]:
                row.ratio = row.seconds / rows[-1].seconds if rows[-1].seconds else None
        self.rows.extend(rows)
        for row in rows:
            print_row(row)


@dataclass
class Tool:
    label: str
    argv: list[str]
    ok_codes: frozenset[int] = frozenset({0})
    inner: bool = False  # time what the run reports as inner_seconds instead of the process


def print_header() -> None:
    print(f"{'case':<10} {'persons':>8} {'size MB':>8}  {'tool':<26} {'median s':>9} {'MB/s':>8} "
          f"{'persons/s':>10} {'peak MB':>8} {'ratio':>6}")


def print_row(row: Row) -> None:
    ratio = f"{row.ratio:5.1f}x" if row.ratio is not None else ""
    print(f"{row.case:<10} {row.persons:>8} {row.size_bytes / 1e6:>8.1f}  {row.tool:<26} {row.seconds:>9.3f} "
          f"{row.mb_per_s:>8.1f} {row.persons_per_s:>10,.0f} {row.peak_mb:>8.1f} {ratio:>6}", flush=True)


# --- cases ---------------------------------------------------------------------------------------

# validate_file alone, timed inside the process (no interpreter start-up or imports).
_VALIDATE_ONLY = r"""
import json, sys, time
from iplos_tui.core.extract.validate import validate_file
start = time.perf_counter()
report = validate_file(sys.argv[1])
print(json.dumps({"inner_seconds": time.perf_counter() - start}))
sys.exit(0 if report.fatal is None else 2)
"""


@case("validate")
def bench_validate(bench: Bench) -> None:
    """`iplos validate` (the CLI, whole process) and validate_file timed in-process, beside
    `xmllint --stream --noout` (parses only, no checks) on the same file."""
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        print("xmllint not found (apt-get install libxml2-utils): running without the peer", file=sys.stderr)
    for persons in bench.persons:
        path = bench.extract(persons)
        ours = [
            Tool("iplos validate --json", [sys.executable, "-m", "iplos_tui", "validate", str(path), "--json"], frozenset({0, 1})),
            Tool("validate_file in-process", [sys.executable, "-c", _VALIDATE_ONLY, str(path)], inner=True),
        ]
        peer = Tool("xmllint --stream --noout", [xmllint, "--stream", "--noout", str(path)]) if xmllint else None
        bench.compare("validate", persons, path.stat().st_size, ours, peer)



# --- submit: the whole run against the sandbox Sendemodul, beside curl -T of the same bytes ---

# One submission end to end in a fresh process: validate -> encrypt -> login -> parts -> commit.
# Prints the upload phase (first part byte to last part answer) as inner_seconds when asked.
_SUBMIT_RUN = r"""
import datetime as dt, json, sys, time
from pathlib import Path
from iplos_tui.core.config import load_profile
from iplos_tui.core.pipeline import Prepared, StepDone, StepProgress, SubmissionPipeline
from iplos_tui.core.secrets import Secret
from iplos_tui.core.submission import delivered_receipt
config, extract, pin_file, what = sys.argv[1:5]
profile = load_profile(Path(config))
marks = {}
def emit(event):
    if isinstance(event, StepProgress) and event.step == "upload" and event.done == 0:
        marks.setdefault("upload_start", time.perf_counter())
    if isinstance(event, StepDone) and event.step == "upload":
        marks["upload_end"] = time.perf_counter()
now = dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))  # the sandbox clock
with SubmissionPipeline(profile, emit=emit, now=lambda: now) as pipeline:
    prepared = pipeline.prepare(extract, again=delivered_receipt(profile))  # each round: the same period again
    result = pipeline.send(prepared, Secret(Path(pin_file).read_text().strip())) if isinstance(prepared, Prepared) else prepared
if not result.ok:
    sys.exit(f"{result.state}: {result.message}")
if what == "upload":
    print(json.dumps({"inner_seconds": marks["upload_end"] - marks["upload_start"]}))
"""

# Our client alone on the same parts as the peer below (login and open untimed): its peak RSS is
# the upload's own memory, which must not grow with the file size.
_CLIENT_RUN = r"""
import json, sys, time, uuid
from pathlib import Path
from iplos_tui.core.config import load_profile
from iplos_tui.core.secrets import Secret
from iplos_tui.core.sendemodul import SendemodulClient
config, envelope, pin_file = sys.argv[1:4]
profile = load_profile(Path(config))
envelope = Path(envelope)
manifest = (envelope / "manifest.json").read_bytes()
parts = json.loads(manifest)["parts"]
key = str(uuid.uuid4())
with SendemodulClient.from_profile(profile) as client:
    client.login(profile.kommunenr, profile.bydel, profile.orgnr, Secret(Path(pin_file).read_text().strip()))
    client.open(key, manifest)
    start = time.perf_counter()
    for part in parts:
        client.upload_part(key, part["file"], envelope / part["file"], part["ciphertext_size"], part["ciphertext_sha256"])
    took = time.perf_counter() - start
print(json.dumps({"inner_seconds": took}))
"""

# The peer: the same envelope files PUT by curl to the same part endpoints of a freshly opened
# submission (login and open done here, untimed); curl's own time is the inner time.
_CURL_RUN = r"""
import hashlib, json, subprocess, sys, time, uuid
from pathlib import Path
from iplos_tui.core.config import load_profile
from iplos_tui.core.secrets import Secret
from iplos_tui.core.sendemodul import SendemodulClient
config, envelope, pin_file, curl = sys.argv[1:5]
profile = load_profile(Path(config))
envelope = Path(envelope)
manifest = (envelope / "manifest.json").read_bytes()
parts = json.loads(manifest)["parts"]
key = str(uuid.uuid4())
with SendemodulClient.from_profile(profile) as client:
    client.login(profile.kommunenr, profile.bydel, profile.orgnr, Secret(Path(pin_file).read_text().strip()))
    client.open(key, manifest)
    token = client._session
# The sandbox profile names the Sendemodul (iplos.sandbox.test) and connects to its address:
# curl must do the same, never ask the machine's resolver for the name.
from urllib.parse import urlsplit
url = urlsplit(profile.sendemodul_url)
pin_address = ["--resolve", f"{url.hostname}:{url.port or 443}:{profile.sendemodul_connect_address}"] if profile.sendemodul_connect_address else []
argv = [curl, "-s", "-f", "-o", "/dev/null", "--cacert", str(profile.sendemodul_ca_bundle)]
for index, part in enumerate(parts):
    if index:
        argv.append("--next")
    argv += ["-s", "-f", "-o", "/dev/null", "--cacert", str(profile.sendemodul_ca_bundle), *pin_address,
             "-H", f"Authorization: Bearer {token}", "-H", f"Content-SHA256: {part['ciphertext_sha256']}",
             "-H", f"Idempotency-Key: {key}", "-H", "Content-Type: application/octet-stream",
             "-T", str(envelope / part["file"]), profile.sendemodul_url + f"api/v1/submissions/{key}/parts/{part['file']}"]
start = time.perf_counter()
subprocess.run(argv, check=True)
print(json.dumps({"inner_seconds": time.perf_counter() - start}))
"""


@case("submit")
def bench_submit(bench: Bench) -> None:
    """A submission against the sandbox Sendemodul on loopback (TLS): the whole run in a fresh
    process (validate, encrypt, upload, receipt; peak RSS is the client's), its upload phase timed
    inside, and `curl -T` of the same ciphertext files to the same part endpoints."""
    from iplos_tui.core.config import save_profile
    from iplos_tui.sandbox.server import SandboxServer

    curl = shutil.which("curl")
    with SandboxServer(bench.workdir / "sandbox", process=False) as sandbox:
        profile = sandbox.profile.replace(secure_dir=bench.workdir / "secure")
        config = bench.workdir / "submit-config" / "config.toml"
        save_profile(profile, config)
        pin_file = sandbox.dir.pin_file
        for persons in bench.persons:
            path = bench.extract(persons)
            ours = [
                Tool("submit end to end", [sys.executable, "-c", _SUBMIT_RUN, str(config), str(path), str(pin_file), "all"]),
                Tool("submit upload phase", [sys.executable, "-c", _SUBMIT_RUN, str(config), str(path), str(pin_file), "upload"], inner=True),
            ]
            # the envelope the peer sends: the one our last run made (same size and part layout)
            peer = None
            if curl:
                from iplos_tui.core.journal import Journal

                subprocess.run([sys.executable, "-c", _SUBMIT_RUN, str(config), str(path), str(pin_file), "all"], check=True, env=bench.env, capture_output=True)
                envelope = Journal(profile.secure_dir).submissions()[-1].envelope_dir
                ours.append(Tool("httpx client, same parts", [sys.executable, "-c", _CLIENT_RUN, str(config), envelope, str(pin_file)], inner=True))
                peer = Tool("curl -T (same parts)", [sys.executable, "-c", _CURL_RUN, str(config), envelope, str(pin_file), curl], inner=True)
            else:
                print("curl not found: running without the peer", file=sys.stderr)
            size = sum(f.stat().st_size for f in Path(Journal(profile.secure_dir).submissions()[-1].envelope_dir).glob("*.p7m")) if curl else path.stat().st_size
            bench.compare("submit", persons, size, ours, peer)



# The console's key latency while a submission streams: a priority key is injected every 50 ms
# through the driver (pilot.press would wait for idle) and timed until its action runs.
_SUBMIT_TUI = r"""
import asyncio, datetime as dt, json, statistics, sys, time
from pathlib import Path
from textual import events
from textual.binding import Binding
from iplos_tui.app import IplosApp
from iplos_tui.core.config import load_profile
from iplos_tui.core.secrets import Secret
config, extract, pin_file = sys.argv[1:4]
profile = load_profile(Path(config))
NOW = dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

class Clock:
    def now(self):
        return NOW

class Sandbox:
    clock = Clock()

class Probe(IplosApp):
    BINDINGS = [*IplosApp.BINDINGS, Binding("f12", "probe", "", show=False, priority=True)]
    sent = 0.0
    latencies = []
    def action_probe(self):
        self.latencies.append(time.perf_counter() - self.sent)

async def main():
    app = Probe(profile, Path(config), initial_mode="submission", sandbox=Sandbox())
    idle = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(20):  # idle baseline
            app.sent = time.perf_counter()
            app._driver.send_message(events.Key("f12", None))
            await asyncio.sleep(0.05)
        idle = list(app.latencies)
        app.latencies.clear()
        app.remember_pin(Secret(Path(pin_file).read_text().strip()))
        pane = app.screen
        pane.query_one("#sub-path").value = extract
        pane.allow_again = True
        await pilot.press("f6")
        while type(app.screen).__name__ != "ConfirmSend":
            await asyncio.sleep(0.05)
            app.sent = time.perf_counter()
            app._driver.send_message(events.Key("f12", None))
        preparing = list(app.latencies)
        app.latencies.clear()
        start = time.perf_counter()
        app._driver.send_message(events.Key("f9", None))  # confirm without waiting for idle
        await asyncio.sleep(0.05)
        while pane.running or pane.last_result is None:
            app.sent = time.perf_counter()
            app._driver.send_message(events.Key("f12", None))
            await asyncio.sleep(0.05)
        took = time.perf_counter() - start
        lines = pane.query_one("#sub-log").line_count
        ok = pane.last_result.ok
    lat = sorted(app.latencies)
    prep = sorted(preparing)
    q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")
    print(json.dumps({"ok": ok, "send_seconds": took, "samples": len(lat), "p50_ms": q(lat, .5), "p95_ms": q(lat, .95),
                      "max_ms": q(lat, 1), "prep_samples": len(prep), "prep_p50_ms": q(prep, .5), "prep_p95_ms": q(prep, .95),
                      "prep_max_ms": q(prep, 1), "idle_p50_ms": q(sorted(idle), .5), "log_lines": lines}))

asyncio.run(main())
"""


@case("submit-tui")
def bench_submit_tui(bench: Bench) -> None:
    """Key press -> action latency in the console while it validates, encrypts and sends."""
    from iplos_tui.core.config import save_profile
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(bench.workdir / "sandbox-tui", process=False) as sandbox:
        profile = sandbox.profile.replace(secure_dir=bench.workdir / "secure-tui")
        config = bench.workdir / "submit-tui-config" / "config.toml"
        save_profile(profile, config)
        for persons in bench.persons:
            path = bench.extract(persons)
            out = subprocess.run([sys.executable, "-c", _SUBMIT_TUI, str(config), str(path), str(sandbox.dir.pin_file)],
                                 capture_output=True, text=True, env=bench.env, timeout=3600)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            data = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"submit-tui {persons:>8}  check+encrypt: key latency p50 {data['prep_p50_ms']:.1f} / p95 {data['prep_p95_ms']:.1f} / "
                  f"max {data['prep_max_ms']:.1f} ms ({data['prep_samples']} presses); send (confirm -> receipt, "
                  f"{data['send_seconds']:.2f} s, ok={data['ok']}): p50 {data['p50_ms']:.1f} / p95 {data['p95_ms']:.1f} / "
                  f"max {data['max_ms']:.1f} ms ({data['samples']} presses); idle p50 {data['idle_p50_ms']:.1f} ms", flush=True)


# --- encrypt: the envelope beside openssl cms -encrypt, sha256sum and xmllint --stream ----------

# encrypt_extract alone, timed inside the process (no interpreter start-up or imports).
_ENCRYPT_ONLY = r"""
import json, shutil, sys, time
from pathlib import Path
from iplos_tui.core.envelope import EnvelopeParams, encrypt_extract
extract, out, ssb, tpf = sys.argv[1:5]
shutil.rmtree(out, ignore_errors=True)
start = time.perf_counter()
encrypt_extract(extract, out, Path(ssb), Path(tpf), EnvelopeParams())
print(json.dumps({"inner_seconds": time.perf_counter() - start}))
"""


def _encrypt_certs(workdir: Path) -> tuple[Path, Path]:
    """SSB and TPF test certificates valid for the generator's year (2017) and for today."""
    import datetime as dt

    from iplos_tui.sandbox import certs

    ssb, tpf = workdir / "bench-ssb.pem", workdir / "bench-tpf.pem"
    if not ssb.exists():
        ca = certs.make_ca()
        since = dt.datetime(2017, 11, 1, tzinfo=dt.timezone.utc)
        certs.issue_recipient(ca, "SSB bench", not_before=since).write(ssb)
        certs.issue_recipient(ca, "TPF bench", not_before=since).write(tpf)
    return ssb, tpf


@case("encrypt")
def bench_encrypt(bench: Bench) -> None:
    """`iplos encrypt` (whole process, default 4 MiB parts) and encrypt_extract timed in-process,
    interleaved with `openssl cms -encrypt -aes256 -binary` of the same file to the same
    certificate, `sha256sum` and `xmllint --stream --noout`. Ratios are ours / peer; the goal
    line is ours / (xmllint + openssl), the issue's aim being <= 3x. Peak RSS is per process."""
    ssb, tpf = _encrypt_certs(bench.workdir)
    openssl, sha256sum, xmllint = shutil.which("openssl"), shutil.which("sha256sum"), shutil.which("xmllint")
    peaks: dict[int, float] = {}
    for persons in bench.persons:
        path = bench.extract(persons)
        out = bench.workdir / f"envelope-{persons}"
        tools = [
            Tool("iplos encrypt", ["sh", "-c", 'rm -rf "$1" && exec "$2" -m iplos_tui encrypt "$3" --out "$1" --ssb-cert "$4" --tpf-cert "$5"',
                                   "sh", str(out), sys.executable, str(path), str(ssb), str(tpf)]),
            Tool("encrypt_extract in-process", [sys.executable, "-c", _ENCRYPT_ONLY, str(path), str(out), str(ssb), str(tpf)], inner=True),
        ]
        peers = []
        if openssl:
            peers.append(Tool("openssl cms -encrypt -aes256", [openssl, "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER",
                                                                "-in", str(path), "-out", str(bench.workdir / "peer.p7m"), str(ssb)]))
        if sha256sum:
            peers.append(Tool("sha256sum", [sha256sum, str(path)]))
        if xmllint:
            peers.append(Tool("xmllint --stream --noout", [xmllint, "--stream", "--noout", str(path)]))
        missing = [name for name, found in (("openssl", openssl), ("sha256sum", sha256sum), ("xmllint", xmllint)) if not found]
        if missing:
            print(f"peer(s) missing: {', '.join(missing)}", file=sys.stderr)
        everything = tools + peers
        for tool in everything:  # warm-up: page cache, .pyc files
            first = bench.measure(tool.argv)
            if first["rc"] != 0:
                raise RuntimeError(f"{tool.label} exited {first['rc']}")
        samples: dict[str, list[dict]] = {tool.label: [] for tool in everything}
        for _ in range(bench.repeat):  # interleaved: A B C D ... A B C D
            for tool in everything:
                samples[tool.label].append(bench.measure(tool.argv))
        size = path.stat().st_size
        rows = {}
        for tool in everything:
            runs = samples[tool.label]
            times = [r["inner_seconds"] if tool.inner else r["seconds"] for r in runs]
            rows[tool.label] = Row("encrypt", persons, size, tool.label, statistics.median(times),
                                   statistics.median(r["peak_kb"] for r in runs) / 1024, [round(v, 4) for v in times])
        peer_row = rows.get("openssl cms -encrypt -aes256")
        for tool in tools:
            if peer_row:
                rows[tool.label].ratio = rows[tool.label].seconds / peer_row.seconds
        for row in rows.values():
            print_row(row)
            bench.rows.append(row)
        ours = rows["iplos encrypt"]
        notes = []
        if "sha256sum" in rows:
            notes.append(f"vs sha256sum {ours.seconds / rows['sha256sum'].seconds:.1f}x")
        if peer_row and "xmllint --stream --noout" in rows:
            goal = ours.seconds / (rows["xmllint --stream --noout"].seconds + peer_row.seconds)
            notes.append(f"vs xmllint+openssl {goal:.1f}x (aim <= 3x)")
        peaks[persons] = ours.peak_mb
        print(f"{'':<10} {persons:>8} {'':>8}  iplos encrypt: {', '.join(notes)}", flush=True)
    if len(peaks) > 1:
        low, high = min(peaks), max(peaks)
        print(f"{'':<10} peak RSS of iplos encrypt: {peaks[low]:.1f} MB at {low} persons, {peaks[high]:.1f} MB at {high} "
              f"(+{peaks[high] - peaks[low]:.1f} MB for {high / low:.0f}x the file)", flush=True)


@case("table")
def bench_table(bench: Bench) -> None:
    """The issue-15 table: today's code (--baseline) and this checkout beside the peers, one run."""
    import bench_table as table

    load_before = os.getloadavg()
    lines = table.run(bench, _encrypt_certs, bench.baseline, {"client": _CLIENT_RUN, "curl": _CURL_RUN})
    table.print_table(lines, (load_before, os.getloadavg()))


@case("paint")
def bench_paint(bench: Bench) -> None:
    """The table's first-paint line alone: today, new and the minimal Textual app in tmux."""
    import bench_table as table

    load_before = os.getloadavg()
    lines = table.first_paint_only(bench, bench.baseline)
    table.print_table(lines, (load_before, os.getloadavg()))


@case("fleet")
def bench_fleet(bench: Bench) -> None:
    """The fleet round (preflight + submit of 30 profiles) beside 30 single-profile runs, one run
    (scripts/bench_fleet.py; the fleet engineer's)."""
    import bench_fleet

    bench_fleet.run(bench, Row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="validate", help=f"comma-separated cases: {', '.join(CASES)} (default validate)")
    parser.add_argument("--persons", default="1000,10000,100000", help="comma-separated extract sizes (default 1000,10000,100000)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per tool and size (default 3)")
    parser.add_argument("--workdir", help="where generated inputs go (default: a temporary directory, removed after)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--baseline", default=None, help="the table's 'today' column: a git revision (default: bench_table.TODAY_REV)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.case.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    persons = [int(value) for value in args.persons.split(",") if value.strip()]

    # Synthetic data only: a temp directory is fine here (no personal data is ever generated).
    temp = None if args.workdir else tempfile.TemporaryDirectory(prefix="iplos-bench-")
    workdir = Path(args.workdir or temp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        bench = Bench(persons, args.repeat, workdir)
        if args.baseline is None:
            from bench_table import TODAY_REV

            args.baseline = TODAY_REV
        bench.baseline = args.baseline
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu, repeat {args.repeat} (medians)", file=sys.stderr)
        print_header()
        for name in names:
            CASES[name](bench)
        if args.json:
            Path(args.json).write_text(json.dumps([{**asdict(r), "mb_per_s": r.mb_per_s, "persons_per_s": r.persons_per_s} for r in bench.rows], indent=2))
    finally:
        if temp is not None:
            temp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
