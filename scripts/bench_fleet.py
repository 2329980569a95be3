"""The fleet round beside today's one-profile-at-a-time console (scripts/bench.py --case fleet).

    python scripts/bench.py --case fleet --persons 5000

Two sandboxes with the same N accounts (``IPLOS_BENCH_FLEET_PROFILES``, default 30) and the same
N extracts of ``--persons`` persons, each hard-linked into its profile's secure directory:

- fleet: ``iplos fleet preflight`` then ``iplos fleet submit --extract ID=PATH ... --pins-stdin
  --yes`` (two processes for all N);
- single: for each profile ``iplos --profile ID preflight`` then ``iplos --profile ID submit PATH
  --yes --pin-stdin`` (2 N processes, one after another: what an operator does today).

One run of each (the round sends every period once; a second would be a re-send). The sandbox's
SSB processing is off, so only the console's work is timed. Prints both wall times and the ratio.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

FLEET_PROFILES = int(os.environ.get("IPLOS_BENCH_FLEET_PROFILES", "30"))


def _iplos(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "iplos_tui", "--config", str(config), *args]


def _prepare(bench: Any, name: str, count: int, persons: int, sources: dict[str, Path]) -> tuple[Any, list[Any]]:
    from iplos_tui.core.extract.generator import generate_file
    from iplos_tui.core.profiles import load_fleet
    from iplos_tui.sandbox.server import SandboxServer

    server = SandboxServer(bench.workdir / name, accounts=count, process=False).start()
    entries = load_fleet(server.config_path).usable()
    for number, entry in enumerate(entries):
        source = sources.get(entry.id)
        if source is None:
            source = sources[entry.id] = bench.workdir / f"fleet-extract-{entry.id}-{persons}.xml"
            if not source.exists():
                generate_file(source, persons=persons, kommunenr=entry.profile.kommunenr, orgnr=entry.profile.orgnr, seed=number)
        target = Path(entry.profile.secure_dir) / source.name
        target.unlink(missing_ok=True)
        os.link(source, target)
    return server, entries


def _pin_file(server: Any, entry: Any) -> Path:
    account = server.accounts.get(entry.profile.kommunenr, entry.profile.bydel).account
    if account == server.account:
        return server.dir.pin_file
    return server.dir.root / "accounts" / account.code / "pin"


def _check(label: str, result: dict, ok: set[int]) -> None:
    if result["rc"] not in ok:
        raise RuntimeError(f"{label} exited {result['rc']}: {result['stderr_tail'][-1500:]}")


def run(bench: Any, row_type: Any) -> None:
    from iplos_tui.core.fsutil import atomic_write_bytes

    persons = bench.persons[0]
    count = FLEET_PROFILES
    sources: dict[str, Path] = {}
    start = time.perf_counter()
    fleet_server, fleet_entries = _prepare(bench, "fleet-round", count, persons, sources)
    single_server, single_entries = _prepare(bench, "fleet-single", count, persons, sources)
    size = sum(path.stat().st_size for path in sources.values())
    print(f"  fleet: {count} profiles x {persons} persons ({size / 1e6:.1f} MB) ready in {time.perf_counter() - start:.1f} s",
          file=sys.stderr, flush=True)
    try:
        pins = fleet_server.dir.root / "fleet-pins"
        lines = "".join(f"{e.id} {_pin_file(fleet_server, e).read_text().strip()}\n" for e in fleet_entries)
        atomic_write_bytes(pins, lines.encode("ascii"), mode=0o600)
        conf = fleet_server.config_path
        extracts = [arg for e in fleet_entries for arg in ("--extract", f"{e.id}={Path(e.profile.secure_dir) / sources[e.id].name}")]
        preflight = bench.measure(_iplos(conf, "fleet", "preflight"), capture=False)
        _check("fleet preflight", preflight, {0, 1})
        submit = bench.measure(_iplos(conf, "fleet", "submit", *extracts, "--pins-stdin", "--yes"), stdin=pins, capture=False)
        _check("fleet submit", submit, {0})
        fleet_seconds = preflight["seconds"] + submit["seconds"]
        fleet_peak = max(preflight["peak_kb"], submit["peak_kb"]) / 1024

        single_seconds, single_peak = 0.0, 0.0
        conf = single_server.config_path
        for entry in single_entries:
            one = bench.measure(_iplos(conf, "--profile", entry.id, "preflight"), capture=False)
            _check(f"{entry.id} preflight", one, {0, 1})
            two = bench.measure(_iplos(conf, "--profile", entry.id, "submit", str(Path(entry.profile.secure_dir) / sources[entry.id].name),
                                       "--yes", "--pin-stdin"), stdin=_pin_file(single_server, entry), capture=False)
            _check(f"{entry.id} submit", two, {0})
            single_seconds += one["seconds"] + two["seconds"]
            single_peak = max(single_peak, one["peak_kb"] / 1024, two["peak_kb"] / 1024)
    finally:
        fleet_server.stop()
        single_server.stop()
    ratio = fleet_seconds / single_seconds if single_seconds else None
    bench.rows.append(row_type(case="fleet", persons=persons, size_bytes=size, tool=f"fleet round, {count} profiles",
                               seconds=fleet_seconds, peak_mb=fleet_peak, runs=[round(fleet_seconds, 3)], ratio=ratio))
    bench.rows.append(row_type(case="fleet", persons=persons, size_bytes=size, tool=f"{count} single-profile runs",
                               seconds=single_seconds, peak_mb=single_peak, runs=[round(single_seconds, 3)]))
    print(f"fleet      {count} x {persons} persons ({size / 1e6:.1f} MB): fleet round (preflight {preflight['seconds']:.1f} s + "
          f"submit {submit['seconds']:.1f} s) {fleet_seconds:.1f} s, peak {fleet_peak:.0f} MiB; {count} single-profile runs "
          f"(preflight + submit each) {single_seconds:.1f} s, peak {single_peak:.0f} MiB; ratio fleet / single "
          f"{ratio:.2f} (one run, load {os.getloadavg()[0]:.1f})", flush=True)
