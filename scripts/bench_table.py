"""The issue-15 table: today's code and the new code beside the peers, in one interleaved run.

    python scripts/bench.py --case table --persons 10000,100000 --repeat 3 [--baseline REV]

"today" is the code of ``--baseline`` (default ``TODAY_REV``, main when the performance work
began), exported with ``git archive`` into the work directory; "new" is this checkout. Both run
from the same virtual environment, each with its own PYTHONPATH, profile and secure directory.
Every figure runs its tools in turn (today, new, peer, ...) ``repeat`` times after one warm-up;
a ratio is the median of the per-round ratios ours / peer, so a drift of the machine's speed
hits both sides of a ratio alike. Peak memory is each process's own (see bench.PROBE).
"""

from __future__ import annotations

import http.server
import os
import random
import re
import shutil
import ssl
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: main when the performance work of issue 15 began: the "today" column.
TODAY_REV = "d06e7a1"
#: A synthetic PIN for the bench's own feedback zip and profiles (never a real one).
BENCH_PIN = "Bench2017pin"
FEEDBACK_MB = 60
FEEDBACK_DAY = "20180109"


@dataclass
class Version:
    label: str  # "today" | "new"
    root: Path
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def python(self, *args: str) -> list[str]:
        return [sys.executable, *args]


@dataclass
class Run:
    label: str
    argv: list[str]
    env: dict[str, str]
    stdin: Path | None = None
    inner: bool = False
    ok_codes: frozenset[int] = frozenset({0})


@dataclass
class Figure:
    """One row of the table: per tool the samples of every round."""

    samples: dict[str, list[dict]]

    def seconds(self, label: str, inner: bool = False) -> list[float]:
        return [s["inner_seconds"] if inner else s["seconds"] for s in self.samples[label]]

    def median(self, label: str, inner: bool = False) -> float:
        return statistics.median(self.seconds(label, inner))

    def peak_mib(self, label: str) -> float:
        return statistics.median(s["peak_kb"] for s in self.samples[label]) / 1024

    def ratio(self, label: str, peers: list[str], inner: bool = False, peer_inner: bool = False) -> float:
        """Median over rounds of ours / (sum of the peers in the same round)."""
        ours = self.seconds(label, inner)
        floor = [sum(values) for values in zip(*(self.seconds(p, peer_inner) for p in peers))]
        return statistics.median(a / b for a, b in zip(ours, floor))

    def floor(self, peers: list[str], inner: bool = False) -> float:
        return statistics.median(sum(values) for values in zip(*(self.seconds(p, inner) for p in peers)))


def export_baseline(root: Path, rev: str, dest: Path) -> Path:
    """The tree of ``rev`` in ``dest`` (made once per work directory)."""
    stamp = dest / ".bench-rev"
    full = subprocess.run(["git", "-C", str(root), "rev-parse", rev], check=True, capture_output=True, text=True).stdout.strip()
    if stamp.exists() and stamp.read_text() == full:
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(root), "archive", "--format=tar", full], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {rev} failed")
    stamp.write_text(full)
    return dest


def interleave(bench: Any, runs: list[Run]) -> Figure:
    """One warm-up of each run, then ``repeat`` rounds of all runs in turn."""
    for run in runs:
        first = bench.measure(run.argv, env=run.env, stdin=run.stdin, capture=run.inner)
        if first["rc"] not in run.ok_codes:
            raise RuntimeError(f"{run.label} exited {first['rc']}: {' '.join(run.argv)}\n{first.get('stderr_tail', '')}")
    samples: dict[str, list[dict]] = {run.label: [] for run in runs}
    for _ in range(bench.repeat):
        for run in runs:
            samples[run.label].append(bench.measure(run.argv, env=run.env, stdin=run.stdin, capture=run.inner))
    return Figure(samples)


# --- peers that need a server or data -----------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Reads a PUT/POST body in 1 MiB pieces and throws it away (the upload floor's far end)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            piece = self.rfile.read(min(length, 1024 * 1024))
            if not piece:
                break
            length -= len(piece)
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT

    def log_message(self, *args: object) -> None:
        pass


def https_receiver(certfile: Path, keyfile: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="bench-receiver").start()
    return server, f"https://127.0.0.1:{server.server_address[1]}/upload"


#: Expat parsing the extract with a Python handler per element start and end that does nothing:
#: the least a reader pays that hands each element to Python (in one process).
PYTHON_READER_FLOOR = r"""
import sys
from xml.parsers import expat
parser = expat.ParserCreate(encoding="UTF-8", namespace_separator=" ")
parser.buffer_text = True
parser.StartElementHandler = lambda name, attrs: None
parser.EndElementHandler = lambda name: None
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(256 * 1024):
        parser.Parse(chunk, False)
parser.Parse(b"", True)
"""


def feedback_zip(workdir: Path, kommunenr: str, bydel: str) -> Path:
    """A 7-Zip-made WinZip AES-256 zip holding a ~60 MB ``feilliste.csv`` like SSB's."""
    path = workdir / "feedback" / f"{kommunenr}{bydel}_iplos_tilbakemelding_{FEEDBACK_DAY}.zip"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    csv_path = workdir / "feedback-src" / "feilliste.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)
    rules = [
        ("service.hours_range", "feil", "hoursPerWeek", "Timer per uke må være over 0 og høyst 168."),
        ("score.date", "feil", "date", "Datoen for funksjonsvurderingen mangler eller er etter rapporteringsåret."),
        ("service.decision_after_start", "advarsel", "decisionDate", "Vedtaksdatoen er etter tjenestens start."),
        ("person.household", "advarsel", "household", "Ukjent husstandskode."),
        ("service.orgnr_missing", "feil", "orgnr", "Tjenesten krever organisasjonsnummeret til utføreren."),
    ]
    target = FEEDBACK_MB * 1_000_000
    with open(csv_path, "w", encoding="utf-8", newline="") as out:
        out.write("\ufefflokal_id;regel;alvorlighet;felt;verdi;melding\r\n")
        written = 0
        while written < target:
            rule, severity, name, message = rules[rng.randrange(len(rules))]
            line = f"P{rng.randrange(10**7):07d};{rule};{severity};{name};{rng.randrange(1000)};{message}\r\n"
            out.write(line)
            written += len(line.encode("utf-8"))
    seven = shutil.which("7z") or shutil.which("7zz")
    if seven is None:
        raise RuntimeError("7z not found (apt-get install p7zip-full)")
    subprocess.run([seven, "a", "-tzip", "-mem=AES256", f"-p{BENCH_PIN}", "-mx=5", str(path), str(csv_path)],
                   check=True, capture_output=True)
    return path


# --- first paint in tmux ------------------------------------------------------------------------

MINIMAL_APP = '''
from textual.app import App
from textual.widgets import Footer, Header, Label


class Minimal(App):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self):
        yield Header()
        yield Label("iplos-bench minimal app")
        yield Footer()


Minimal().run()
'''


class Tmux:
    """A private tmux server (socket ``perf-bench-<pid>``) that times commands to their first frame."""

    def __init__(self, workdir: Path) -> None:
        self.binary = shutil.which("tmux")
        self.workdir = workdir
        self.socket = f"perf-bench-{os.getpid()}"
        self.count = 0
        if self.binary:
            self._tmux("new-session", "-d", "-s", "perf-bench-base", "-x", "80", "-y", "24", "sleep 86400")

    def _tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-L", self.socket, *args], capture_output=True, text=True)  # type: ignore[list-item]

    def first_paint(self, command: str, markers: tuple[str, ...], timeout: float = 60.0) -> tuple[float, float]:
        """Seconds from starting ``command`` in an 80x24 pane until every marker has been drawn,
        and the CPU seconds the command had used by then (less sensitive to a busy machine).
        The pane's output is streamed to a file (``pipe-pane``) and read as it grows, so the
        moment is not blurred by starting a tmux client per look."""
        self.count += 1
        name = f"perf-bench-{self.count}"
        stream = Path(self.workdir) / f"{name}.out"
        stream.write_bytes(b"")
        start = time.perf_counter()
        self._tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "-c", str(self.workdir), command)  # cwd: see Bench.measure
        self._tmux("pipe-pane", "-o", "-t", name, f"cat >> {stream}")
        pid_text = self._tmux("display-message", "-p", "-t", name, "#{pane_pid}").stdout.strip()
        try:
            with open(stream, "rb") as handle:
                raw = b""
                looked = start
                while True:
                    chunk = handle.read()
                    now = time.perf_counter()
                    if not chunk and now - looked > 0.5:  # the stream missed it? ask the screen too
                        looked = now
                        chunk = b"\n" + self._tmux("capture-pane", "-p", "-t", name).stdout.encode()
                    if chunk:
                        raw += chunk  # escapes may be split between reads: strip the whole stream
                        seen = _ANSI.sub("", raw.decode("utf-8", "replace"))
                        if all(marker in seen for marker in markers):
                            took = time.perf_counter() - start
                            cpu = _cpu_seconds(int(pid_text)) if pid_text.isdigit() else 0.0
                            return took, cpu
                    if time.perf_counter() - start > timeout:
                        screen = self._tmux("capture-pane", "-p", "-t", name).stdout
                        raise RuntimeError(f"no first paint within {timeout} s: {command}\n{screen}")
                    time.sleep(0.002)
        finally:
            self._tmux("kill-session", "-t", name)
            if pid_text.isdigit():
                _wait_gone(int(pid_text))
            stream.unlink(missing_ok=True)

    def close(self) -> None:
        if self.binary:
            self._tmux("kill-server")


_ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)


# --- the table ------------------------------------------------------------------------------------


def write_config(path: Path, sandbox: Any, secure_dir: Path) -> Path:
    """A profile for the sandbox in the documented keys (config.example.toml), which both the
    baseline and the new code read."""
    import tomli_w

    account = sandbox.account
    data = {
        "profile": {
            "kommunenr": account.kommunenr, "bydel": account.bydel, "orgnr": account.orgnr, "year": account.year,
            "contact_email": account.contact_email, "contact_mobile": account.contact_mobile, "postmottak": account.postmottak,
        },
        "paths": {"secure_dir": str(secure_dir), "ssb_certificate": str(sandbox.ssb_certificate), "tpf_certificate": str(sandbox.tpf_certificate)},
        "sendemodul": {"url": sandbox.sendemodul_url, "expected_address": "127.0.0.1", "ca_bundle": str(sandbox.ca_bundle)},
        "feedback": {"gateway_url": sandbox.gateway_url, "username": sandbox.gateway_username, "ca_bundle": str(sandbox.ca_bundle)},
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_bytes(tomli_w.dumps(data).encode("utf-8"))
    os.chmod(path, 0o600)
    return path


def _newest_envelope(secure_dir: Path) -> Path:
    manifests = sorted(secure_dir.rglob("manifest.json"), key=lambda p: p.stat().st_mtime)
    if not manifests:
        raise RuntimeError(f"no envelope under {secure_dir}")
    return manifests[-1].parent


@dataclass
class Line:
    figure: str
    today: str
    new: str
    peer: str
    goal: str
    verdict: str


def _k(persons: int) -> str:
    return f"{persons // 1000}k" if persons >= 1000 and persons % 1000 == 0 else f"{persons:,}"


def _x(value: float) -> str:
    return f"{value:.1f}×" if value >= 1.95 else f"{value:.2f}×"


def _s(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _verdict(value: float, limit: float, unit: str = "×") -> str:
    if value <= limit:
        return "met"
    return f"missed: {value:.1f} {unit} (goal ≤ {limit:g} {unit})" if unit != "×" else f"missed: {_x(value)} (goal ≤ {limit:g}×)"


class _Lines(list):
    """The table's lines, each also shown on stderr as soon as it is measured."""

    def append(self, line: Line) -> None:  # type: ignore[override]
        super().append(line)
        print(f"| {line.figure} | {line.today} | {line.new} | {line.peer} | {line.goal} | {line.verdict} |", file=sys.stderr, flush=True)


def _time_line(fig: Figure, versions: list[Version], tool: str, figure: str, peers: list[str], peer_text: str, limit: float) -> Line:
    """A time figure: each version's median and its ratio to the peers' sum, goal ≤ ``limit``×."""
    ratios = {v.label: fig.ratio(f"{tool} {v.label}", peers) for v in versions}
    cells = [f"{_s(fig.median(f'{tool} {v.label}'))} — {_x(ratios[v.label])}" for v in versions]
    return Line(figure, *cells, peer_text, f"≤ {limit:g}×", _verdict(ratios["new"], limit))


def _failed(name: str, exc: Exception) -> Line:
    print(f"  {name} failed: {exc}", file=sys.stderr, flush=True)
    detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
    return Line(name, "n/a", "n/a", f"not measured: {detail}", "", "not measured")


def make_versions(bench: Any, baseline: str) -> list[Version]:
    """today (``baseline`` exported) and new (this checkout), each with its own home."""
    root = Path(__file__).resolve().parent.parent
    workdir: Path = bench.workdir
    today_root = export_baseline(root, baseline, workdir / "today-tree")
    versions = [Version("today", today_root, workdir / "today-home"), Version("new", root, workdir / "new-home")]
    for version in versions:
        version.home.mkdir(parents=True, exist_ok=True)
        version.env = {
            **bench.env, "PYTHONPATH": str(version.root), "HOME": str(version.home),
            "XDG_DATA_HOME": str(version.home / "data"), "XDG_CONFIG_HOME": str(version.home / "config"),
            "XDG_STATE_HOME": str(version.home / "state"), "XDG_CACHE_HOME": str(version.home / "cache"),
        }
        # each column runs its own tree's code (a cwd inside a checkout would shadow PYTHONPATH)
        probe = subprocess.run([sys.executable, "-c", "import iplos_tui; print(iplos_tui.__file__)"],
                               capture_output=True, text=True, env=version.env, cwd=workdir, check=True)
        if not Path(probe.stdout.strip()).resolve().is_relative_to(version.root.resolve()):
            raise RuntimeError(f"{version.label} would run {probe.stdout.strip()}, not the code in {version.root}")
    return versions


def first_paint_only(bench: Any, baseline: str) -> list[Line]:
    """Only the first-paint line of the table (``--case paint``)."""
    lines: list[Line] = _Lines()
    lines.append(_first_paint(bench, make_versions(bench, baseline), bench.workdir))
    return lines


def run(bench: Any, encrypt_certs: Any, baseline: str, scripts: dict[str, str]) -> list[Line]:
    from iplos_tui.sandbox.server import SandboxServer

    root = Path(__file__).resolve().parent.parent
    workdir: Path = bench.workdir
    tools = {name: shutil.which(name) for name in ("xmllint", "openssl", "curl", "7z", "tmux")}
    missing = [name for name, found in tools.items() if not found]
    if missing:
        raise SystemExit(f"the table needs every peer; missing: {', '.join(missing)} (apt-get install libxml2-utils openssl curl p7zip-full tmux)")
    versions = make_versions(bench, baseline)
    today_root = versions[0].root
    small, big = min(bench.persons), max(bench.persons)
    extract = bench.extract(big)
    size_mb = extract.stat().st_size / 1e6
    ssb, tpf = encrypt_certs(workdir)
    lines: list[Line] = _Lines()
    print(f"table: today = {baseline} ({today_root}), new = {root}; {big} persons ({size_mb:.0f} MB); repeat {bench.repeat}", file=sys.stderr)

    with SandboxServer(workdir / "table-sandbox", process=False) as sandbox:
        receiver, receiver_url = https_receiver(sandbox.dir.tls_cert, sandbox.dir.tls_key)
        pin_file = sandbox.dir.pin_file
        for version in versions:
            config = write_config(version.home / "submit" / "config.toml", sandbox, version.home / "secure")
            version.env["IPLOS_CONFIG"] = str(config)
        peer_p7m = workdir / "peer.p7m"
        xmllint = Run("xmllint --stream --noout", [tools["xmllint"], "--stream", "--noout", str(extract)], bench.env)  # type: ignore[list-item]
        openssl = Run("openssl cms -encrypt", [tools["openssl"], "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER",  # type: ignore[list-item]
                                               "-in", str(extract), "-out", str(peer_p7m), str(ssb)], bench.env)
        curl = Run("curl -T", [tools["curl"], "-s", "-f", "-o", "/dev/null", "--cacert", str(sandbox.ca_bundle),  # type: ignore[list-item]
                               "-T", str(peer_p7m), receiver_url], bench.env)

        # 1. submit end to end
        try:
            print("  submit ...", file=sys.stderr, flush=True)
            # Each round sends the same period again: its journal is removed first, so that every
            # run (today's, whose --again was a flag, and the new, where it names the receipt) is a
            # first submission.
            runs = [Run(f"submit {v.label}", ["sh", "-c", 'rm -f "$IPLOS_BENCH_JOURNAL" && exec "$0" "$@"',
                                              *v.python("-m", "iplos_tui", "submit", str(extract), "--yes", "--pin-stdin", "--json")],
                        {**v.env, "IPLOS_BENCH_JOURNAL": str(v.home / "secure" / "journal.jsonl")}, stdin=pin_file) for v in versions]
            fig = interleave(bench, [*runs, xmllint, openssl, curl])
            floor = ["xmllint --stream --noout", "openssl cms -encrypt", "curl -T"]
            lines.append(_time_line(fig, versions, "submit", f"`iplos submit` end to end, {_k(big)} persons ({size_mb:.0f} MB)", floor,
                                    f"xmllint --stream + openssl cms -encrypt + curl -T: {_s(fig.floor(floor))}", 3))
            bench.report_figure("submit", fig)
        except Exception as exc:  # one figure failing leaves the others
            lines.append(_failed('submit end to end', exc))

        # 7. upload phase vs curl -T, the same parts to the same endpoints
        try:
            print("  upload ...", file=sys.stderr, flush=True)
            CLIENT_RUN, CURL_RUN = scripts["client"], scripts["curl"]
            config_new = versions[1].env["IPLOS_CONFIG"]
            envelope = _newest_envelope(versions[1].home / "secure")
            runs = [Run(f"upload {v.label}", v.python("-c", CLIENT_RUN, v.env["IPLOS_CONFIG"], str(envelope), str(pin_file)), v.env, inner=True)
                    for v in versions]
            peer = Run("curl -T (same parts)", versions[1].python("-c", CURL_RUN, config_new, str(envelope), str(pin_file), tools["curl"]),  # type: ignore[arg-type]
                       versions[1].env, inner=True)
            fig = interleave(bench, [*runs, peer])
            ratios = {v.label: fig.ratio(f"upload {v.label}", ["curl -T (same parts)"], inner=True, peer_inner=True) for v in versions}
            lines.append(Line("upload phase vs `curl -T`", *(_x(ratios[v.label]) for v in versions),
                              f"curl -T of the same parts: {_s(fig.median('curl -T (same parts)', inner=True))}", "stays ≤ 1.0×", _verdict(ratios["new"], 1.0)))
            bench.report_figure("upload", fig, inner=True)
        except Exception as exc:  # one figure failing leaves the others
            lines.append(_failed('upload phase vs curl -T', exc))

        receiver.shutdown()

    # 2. validate
    try:
        print("  validate ...", file=sys.stderr, flush=True)
        runs = [Run(f"validate {v.label}", v.python("-m", "iplos_tui", "validate", str(extract), "--json"), v.env, ok_codes=frozenset({0, 1}))
                for v in versions]
        floor = Run("python expat, no-op handlers", [sys.executable, "-c", PYTHON_READER_FLOOR, str(extract)], bench.env)
        fig = interleave(bench, [*runs, xmllint, floor])
        lines.append(_time_line(fig, versions, "validate", f"`iplos validate`, {_k(big)} persons", ["xmllint --stream --noout"],
                                f"`xmllint --stream --noout`: {_s(fig.median('xmllint --stream --noout'))}", 3))
        lines.append(Line("the floor of a reader in Python: one call per element, no work in it", "",
                          f"{_s(fig.median(floor.label))} — {_x(fig.ratio(floor.label, ['xmllint --stream --noout']))}",
                          "`xmllint --stream --noout`", "", "what any reader that calls Python per element pays, on one core"))
        bench.report_figure("validate", fig)
    except Exception as exc:  # one figure failing leaves the others
        lines.append(_failed('validate', exc))

    # 3 and 6. encrypt, and its peak memory at the small and the big size
    try:
        print("  encrypt ...", file=sys.stderr, flush=True)
        peaks: dict[int, Figure] = {}
        for persons in sorted({small, big}):
            path = bench.extract(persons)
            out = workdir / f"table-envelope-{persons}"
            runs = [Run(f"encrypt {v.label}", ["sh", "-c", 'rm -rf "$1" && exec "$2" -m iplos_tui encrypt "$3" --out "$1" --ssb-cert "$4" --tpf-cert "$5"',
                                               "sh", f"{out}-{v.label}", sys.executable, str(path), str(ssb), str(tpf)], v.env) for v in versions]
            peers = [Run("xmllint --stream --noout", [tools["xmllint"], "--stream", "--noout", str(path)], bench.env),  # type: ignore[list-item]
                     Run("openssl cms -encrypt", [tools["openssl"], "cms", "-encrypt", "-aes256", "-binary", "-outform", "DER",  # type: ignore[list-item]
                                                  "-in", str(path), "-out", str(peer_p7m), str(ssb)], bench.env)]
            fig = interleave(bench, [*runs, *peers])
            peaks[persons] = fig
            bench.report_figure(f"encrypt {persons}", fig)
        fig = peaks[big]
        floor = ["xmllint --stream --noout", "openssl cms -encrypt"]
        lines.append(_time_line(fig, versions, "encrypt", f"`iplos encrypt`, {_k(big)} persons", floor,
                                f"xmllint + openssl cms: {_s(fig.floor(floor))}", 2.5))
        if small != big:
            growth = {v.label: peaks[big].peak_mib(f"encrypt {v.label}") - peaks[small].peak_mib(f"encrypt {v.label}") for v in versions}
            openssl_growth = peaks[big].peak_mib("openssl cms -encrypt") / peaks[small].peak_mib("openssl cms -encrypt")
            lines.append(Line(f"`iplos encrypt` peak memory, {_k(small)} → {_k(big)} persons",
                              *(f"{growth[v.label]:+.1f} MiB ({peaks[big].peak_mib(f'encrypt {v.label}'):.0f} MiB)" for v in versions),
                              f"openssl cms ×{openssl_growth:.1f} ({peaks[big].peak_mib('openssl cms -encrypt'):.0f} MiB)",
                              "stays flat (≤ +16 MiB)", "met" if growth["new"] <= 16 else f"missed by {growth['new'] - 16:.1f} MiB"))
    except Exception as exc:  # one figure failing leaves the others
        lines.append(_failed('encrypt', exc))

    # 4. feedback show --json of a 7z-made zip with a 60 MB error list
    try:
        print("  feedback ...", file=sys.stderr, flush=True)
        lines.append(_feedback(bench, versions, tools, workdir))
    except Exception as exc:  # one figure failing leaves the others
        lines.append(_failed('feedback show --json', exc))

    # 5. first paint
    try:
        print("  first paint ...", file=sys.stderr, flush=True)
        lines.append(_first_paint(bench, versions, workdir))
    except Exception as exc:  # one figure failing leaves the others
        lines.append(_failed('first paint', exc))

    return lines


def _feedback(bench: Any, versions: list[Version], tools: dict[str, str | None], workdir: Path) -> Line:
    zip_path = feedback_zip(workdir, "0403", "00")
    entry_mb = FEEDBACK_MB
    pin = workdir / "bench-pin.txt"
    pin.write_text(BENCH_PIN + "\n")
    out = workdir / "feedback-7z-out"
    runs = [Run(f"feedback {v.label}", v.python("-m", "iplos_tui", "feedback", "show", str(zip_path), "--entry", "feilliste.csv", "--json", "--pin-stdin"),
                v.env, stdin=pin) for v in versions]
    seven = tools["7z"]
    peers = [
        Run("7z x", ["sh", "-c", 'rm -rf "$1" && exec "$2" x -y "-p$3" "-o$1" "$4"', "sh", str(out), seven, BENCH_PIN, str(zip_path)], bench.env),  # type: ignore[list-item]
        Run("7z x -so", [seven, "x", "-so", f"-p{BENCH_PIN}", str(zip_path)], bench.env),  # type: ignore[list-item]
    ]
    fig = interleave(bench, [*runs, *peers])
    bench.report_figure("feedback", fig)
    ratios = {v.label: fig.ratio(f"feedback {v.label}", ["7z x"]) for v in versions}
    so = {v.label: fig.ratio(f"feedback {v.label}", ["7z x -so"]) for v in versions}
    peak = {v.label: fig.peak_mib(f"feedback {v.label}") for v in versions}
    cells = [f"{_s(fig.median(f'feedback {v.label}'))}, **{peak[v.label]:.0f} MiB** — {_x(ratios[v.label])} ({_x(so[v.label])} vs `7z x -so`)" for v in versions]
    met = ratios["new"] <= 3 and peak["new"] <= 128
    verdict = "met" if met else "; ".join(
        part for part in (_verdict(ratios["new"], 3) if ratios["new"] > 3 else "", f"peak {peak['new'] - 128:+.0f} MiB over" if peak["new"] > 128 else "") if part)
    return Line(f"`iplos feedback show --json`, {entry_mb} MB error list", *cells,
                f"`7z x`: {_s(fig.median('7z x'))}, {fig.peak_mib('7z x'):.0f} MiB", "≤ 3×, peak ≤ 128 MiB", verdict)


def _first_paint(bench: Any, versions: list[Version], workdir: Path) -> Line:
    """``iplos tui --sandbox`` (what `make run` starts) at 80x24 in tmux, to the first frame that
    shows the profile pane, beside a minimal Textual app (Header, Footer, Label)."""
    import shlex

    minimal = workdir / "minimal_app.py"
    minimal.write_text(MINIMAL_APP)
    tmux = Tmux(workdir)
    commands: dict[str, tuple[str, tuple[str, ...]]] = {}
    for v in versions:
        env = " ".join(f"{k}={shlex.quote(v.env[k])}" for k in ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"))
        # the whole first frame: header (sandbox marker, tabs), the profile pane, the footer
        markers = ("SANDKASSE", "F4", "Organisasjonsnummer", "0403", "palette")  # F10 left the tab row at 80 columns
        commands[f"tui {v.label}"] = (f"exec env -u IPLOS_CONFIG -u PYTHONDONTWRITEBYTECODE {env} {shlex.quote(sys.executable)} -m iplos_tui tui --sandbox", markers)
    cache = shlex.quote(bench.env["PYTHONPYCACHEPREFIX"])
    commands["minimal app"] = (f"exec env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX={cache} {shlex.quote(sys.executable)} {shlex.quote(str(minimal))}", ("iplos-bench minimal app", "palette"))
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
    try:
        for command, markers in commands.values():  # warm-up: .pyc files, the sandbox's first-run setup
            tmux.first_paint(command, markers)
        for _ in range(max(bench.repeat, 5)):
            for label, (command, markers) in commands.items():
                samples[label].append(tmux.first_paint(command, markers))
    finally:
        tmux.close()
    # "inner_seconds" carries the CPU seconds to the first frame
    fig = Figure({label: [{"seconds": wall, "peak_kb": 0, "rc": 0, "inner_seconds": cpu} for wall, cpu in values] for label, values in samples.items()})
    bench.report_figure("first paint", fig)
    bench.report_figure("paint cpu", fig, inner=True)
    ratios = {v.label: fig.ratio(f"tui {v.label}", ["minimal app"]) for v in versions}
    cpu = {v.label: fig.ratio(f"tui {v.label}", ["minimal app"], inner=True, peer_inner=True) for v in versions}
    return Line("TUI first paint, 80×24 in tmux (`iplos tui --sandbox`)",
                *(f"{_s(fig.median(f'tui {v.label}'))} — {_x(ratios[v.label])} (CPU {_x(cpu[v.label])})" for v in versions),
                f"minimal Textual app (Header, Footer, Label): {_s(fig.median('minimal app'))} (CPU {_s(fig.median('minimal app', inner=True))})",
                "≤ 2×", _verdict(ratios["new"], 2))


def print_table(lines: list[Line], load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    print()
    print("| figure | today | new | peer / floor | goal | verdict (new) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for line in lines:
        print(f"| {line.figure} | {line.today} | {line.new} | {line.peer} | {line.goal} | {line.verdict} |")
    before, after = load
    print()
    print(f"Ratios are ours ÷ peer, medians of the per-round ratios; load average before {before[0]:.2f} / after {after[0]:.2f} "
          f"(1 min) on {os.cpu_count()} cpu. Shared machine: trust the ratios, not the absolute times.")
