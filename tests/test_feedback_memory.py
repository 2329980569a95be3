"""The feedback reader's memory is bounded by a page, not by the entry (issue 11 item 18, issue
15 item 4): `iplos feedback show --entry X --json` as a child process, its own peak RSS measured
by the kernel, on a long error list and on an entry made of millions of empty cells."""

from __future__ import annotations

import json

import pyzipper
from tests.support.cli import run_measured
from zipcraft import FEEDBACK_NAME, PIN, aes_zip

from iplos_tui.core.exitcodes import ExitCode

MiB = 1024 * 1024
PEAK_LIMIT = 128 * MiB  # the goal of issue 15 for a 60 MB error list; these entries are smaller


def put(valid_profile, entry: bytes):
    folder = valid_profile.secure_dir / "feedback"
    folder.mkdir(mode=0o700)
    path = folder / FEEDBACK_NAME
    path.write_bytes(aes_zip({"feilliste.csv": entry}, compression=pyzipper.ZIP_DEFLATED))
    return path


def show(config, path, *extra):
    return run_measured(config, "feedback", "show", str(path), *extra, "--json", "--pin-stdin", stdin=PIN + "\n",
                        timeout=300, address_space=3 * 1024 * MiB)


def error_list(rows: int) -> bytes:
    lines = ["\ufefflokal_id;regel;alvorlighet;felt;verdi;melding\r\n"]
    lines += [f"P{i:07d};F{i % 40:03d};{'feil' if i % 3 else 'advarsel'};timer;{i % 200};Mer enn 168 timer per uke, rad {i}\r\n" for i in range(rows)]
    return "".join(lines).encode("utf-8")


def test_a_long_error_list_is_counted_and_streamed_within_the_bound(config, valid_profile):
    rows = 250_000  # ~17 MB of CSV
    path = put(valid_profile, error_list(rows))
    result = show(config, path, "--entry", "feilliste.csv")
    assert result.returncode == ExitCode.OK, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert len(out["rows"]) == rows and out["rows"][-1][0] == f"P{rows - 1:07d}"
    assert sum(out["counts"]["severity"].values()) == rows
    assert out["counts"]["rule"]["F000"] == len(range(0, rows, 40))
    assert result.peak_rss < PEAK_LIMIT, f"peak {result.peak_rss // MiB} MiB"


def test_millions_of_empty_cells_are_bounded(config, valid_profile):
    import random

    rng = random.Random(7)
    digits = "".join(rng.choice("0123456789") for _ in range(4000))
    # 4 million one-character cells in 8 MB (random, so the zip's ratio check lets it through)
    entry = b"a;b\r\n" + b"".join((";".join(digits[(i + j) % 4000] for j in range(1000)) + "\r\n").encode() for i in range(4000))
    path = put(valid_profile, entry)
    result = show(config, path)
    assert result.returncode in (ExitCode.OK, ExitCode.FAILED), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.peak_rss < PEAK_LIMIT, f"peak {result.peak_rss // MiB} MiB"
    detailed = show(config, path, "--entry", "feilliste.csv")
    assert "Traceback" not in detailed.stderr
    assert detailed.peak_rss < PEAK_LIMIT, f"peak {detailed.peak_rss // MiB} MiB"
