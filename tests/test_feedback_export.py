"""Exports never overwrite and never leave half a folder (issue 11 items 1 and 12): a hostile
entry name cannot replace the journal, a target must be a new folder of its own, and a SIGKILL in
the middle of writing leaves neither a partial export nor a hidden decrypted temp file."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyzipper
import pytest
from tests.support.cli import child_env, iplos_command, run_iplos
from zipcraft import FEEDBACK_NAME, FEILLISTE, KONTROLL, PIN, aes_zip

from iplos_tui.core.exitcodes import ExitCode
from iplos_tui.core.journal import JOURNAL_FILE


def put_zip(secure: Path, entries, name: str = FEEDBACK_NAME, **kw) -> Path:
    folder = secure / "feedback"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name
    path.write_bytes(aes_zip(entries, **kw))
    return path


def export(config: Path, zip_path: Path, target: Path):
    return run_iplos(config, "feedback", "export", str(zip_path), "--to", str(target), "--pin-stdin", stdin=PIN + "\n")


def test_an_entry_named_like_the_journal_cannot_replace_it(config, valid_profile):
    secure = valid_profile.secure_dir
    journal = secure / JOURNAL_FILE
    journal.write_bytes(b'{"seq": 0, "id": "kept"}\n')
    journal.chmod(0o600)
    before = journal.read_bytes()
    hostile = put_zip(secure, {JOURNAL_FILE: b"lokal_id;regel\r\n", "feilliste.csv": FEILLISTE})
    into_secure = export(config, hostile, secure)
    assert into_secure.returncode == ExitCode.USAGE and "Traceback" not in into_secure.stderr
    assert journal.read_bytes() == before
    elsewhere = export(config, hostile, secure / "feedback" / "ut")
    assert elsewhere.returncode == ExitCode.USAGE
    assert JOURNAL_FILE in elsewhere.stderr  # names the entry that is not of the expected shape
    assert not (secure / "feedback" / "ut").exists()  # all or nothing
    assert journal.read_bytes() == before


@pytest.mark.parametrize("name", ["feilliste.txt", ".skjult.csv", "x" * 200 + ".csv", "feil\u202eliste.csv", "feil liste;.csv"])
def test_only_plain_csv_names_are_exported(config, valid_profile, name):
    secure = valid_profile.secure_dir
    path = put_zip(secure, {name: FEILLISTE})
    result = export(config, path, secure / "feedback" / "ut")
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert not (secure / "feedback" / "ut").exists()


def test_a_target_that_exists_is_never_written_into(config, valid_profile):
    secure = valid_profile.secure_dir
    path = put_zip(secure, {"feilliste.csv": FEILLISTE, "kontrolltabeller.csv": KONTROLL})
    first = export(config, path, secure / "feedback" / "ut")
    assert first.returncode == ExitCode.OK, first.stderr
    (secure / "feedback" / "ut" / "feilliste.csv").write_bytes(b"the operator's own notes")
    second = export(config, path, secure / "feedback" / "ut")
    assert second.returncode == ExitCode.USAGE and "Traceback" not in second.stderr
    assert (secure / "feedback" / "ut" / "feilliste.csv").read_bytes() == b"the operator's own notes"


@pytest.mark.parametrize("own", ["outbox", "envelopes", "feedback", JOURNAL_FILE, "submit.lock"])
def test_the_consoles_own_files_and_folders_are_refused_as_targets(config, valid_profile, own):
    secure = valid_profile.secure_dir
    path = put_zip(secure, {"feilliste.csv": FEILLISTE})
    target = secure / own
    existed = target.exists()
    result = export(config, path, target)
    assert result.returncode == ExitCode.USAGE and "Traceback" not in result.stderr
    assert target.exists() == existed
    if target.is_dir() and own != "feedback":
        assert list(target.iterdir()) == []


def big_zip(secure: Path) -> Path:
    """40 stored entries of 1 MiB each: writing them takes long enough to be caught halfway."""
    entries = {f"tabell{i:02d}.csv": (f"a;b\r\n{i};" + "x" * (1024 * 1024 - 12) + "\r\n").encode() for i in range(40)}
    return put_zip(secure, entries, compression=pyzipper.ZIP_STORED)


def leftovers(root: Path) -> list[Path]:
    return [Path(d) / n for d, dirs, files in os.walk(root) for n in dirs + files if n.startswith(".iplos-tmp")]


def test_sigkill_halfway_through_an_export_leaves_nothing_after_the_next_run(config, valid_profile):
    secure = valid_profile.secure_dir
    path = big_zip(secure)
    target = secure / "feedback" / "ut"
    caught = False
    for _attempt in range(5):  # until the kill lands while files are being written
        child = subprocess.Popen(iplos_command(config, "feedback", "export", str(path), "--to", str(target), "--pin-stdin"),
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
        child.stdin.write(f"{PIN}\n".encode())
        child.stdin.close()
        end = time.monotonic() + 60
        while child.poll() is None and not leftovers(secure) and time.monotonic() < end:
            time.sleep(0.001)
        if child.poll() is None:
            child.send_signal(signal.SIGSTOP)
        caught = child.poll() is None and bool(leftovers(secure))
        child.send_signal(signal.SIGKILL)
        child.wait()
        if caught:
            break
        import shutil

        shutil.rmtree(target, ignore_errors=True)
    assert caught, "the export finished before it could be killed"
    assert run_iplos(config, "feedback", "list").returncode == ExitCode.OK  # the next run
    assert leftovers(secure) == []
    assert not target.exists()  # no partial export
