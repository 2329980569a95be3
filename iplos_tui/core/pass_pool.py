"""The one read of the extract on every core (issue 15 item 2).

``read_extract_parallel`` is ``extract_pass.read_extract`` with the per-person work in a process
pool: this process reads the file once through the one descriptor (hashing every byte and
checking the file's identity as ``read_extract`` does), checks the Header itself, and cuts the rest
after a ``</Person>`` into chunks of about ``chunk_size`` bytes. A worker parses, validates and
pseudonymises one chunk (``run_chunk``); the chunks are merged in file order (``on_chunk``:
``Validator.merge``, ``EnvelopeWriter.add_persons``), so the findings, their order, the duplicate
check and the content parts are those of one read in one process. The parts are cut here and
sealed in the pool (``PassPool.seal``).

The cut is a byte search, so it can fall where XML would not (a ``</Person>`` inside a comment):
then a worker cannot read its chunk, and so for anything a worker refuses or fails at, the whole
pass raises ``Fallback`` and the caller reads the file again the ordinary way, which says exactly
what is wrong and where. A worker is hardened as this process is (``core.hardening``); the
plaintext it gets and gives back goes through pipes between our processes, never a file.
Memory: about ``2 × workers`` chunks in flight plus ``envelope.MAX_SEALING`` parts being sealed.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import threading
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.errors import Cancelled
from iplos_tui.core.extract_pass import FileIdentity, PassResult, _Tap

if TYPE_CHECKING:
    from iplos_tui.core.envelope import Rewritten
    from iplos_tui.core.extract.model import Header
    from iplos_tui.core.extract.validate import ChunkState

READ_SIZE = 256 * 1024
HEAD_LIMIT = 1024 * 1024  # a Header further in than this: the ordinary read
_HEADER_END = b"</Header>"
_PERSON_END = b"</Person>"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_count(configured: int) -> int:
    """The workers to use: ``configured``, or with 0 (the default) one per CPU this process may
    run on. 1 is the ordinary read in this process."""
    return configured if configured > 0 else cpu_count()


class Fallback(Exception):
    """The parallel pass cannot decide about this file: read it the ordinary way."""


@dataclass(frozen=True)
class ChunkJob:
    index: int
    data: bytes
    first_line: int
    last: bool  # the rest of the file, with the document's end
    rewrite: bool  # pseudonymise too (False: validate only)
    year: int | None
    validate: bool = True  # False: pseudonymise only (``iplos encrypt``)
    validator: dict[str, Any] = field(default_factory=dict)  # Validator's other arguments


@dataclass
class ChunkDone:
    index: int
    size: int  # bytes of the extract
    state: ChunkState | None  # None: not validated, or the worker refused or failed
    rewritten: Rewritten | None = None
    persons: int = 0
    failed: bool = False  # the worker refused or failed (Fallback)


def run_chunk(job: ChunkJob) -> ChunkDone:
    """In a worker: parse, validate and pseudonymise one chunk."""
    from iplos_tui.core.envelope import EnvelopeError, Rewritten, pseudonymise
    from iplos_tui.core.extract.uttrekk_v1 import read_person_chunk
    from iplos_tui.core.extract.validate import Validator

    rewrite = job.rewrite
    plaintext = bytearray()
    sizes, lines = array("I"), array("I")
    local_ids: list[str] = []
    identity = bytearray()
    refusal: tuple[str, dict[str, str]] | None = None
    persons = 0
    try:
        validator = Validator(job.year, **job.validator).for_chunk() if job.validate else None
        feed = validator.feed if validator is not None else None
        for person in read_person_chunk(job.data, job.first_line, last=job.last):
            persons += 1
            if feed is not None:
                feed(person)
            if rewrite:
                try:
                    data, row = pseudonymise(person)
                except EnvelopeError as exc:  # the writer stops here; validating goes on
                    refusal, rewrite = (exc.key, dict(exc.values)), False
                    continue
                plaintext += data
                sizes.append(len(data))
                lines.append(person.line)
                local_ids.append(person.local_id or "")
                identity += row
        state = validator.chunk_state() if validator is not None else None
    except Exception:  # noqa: BLE001 - an ExtractError or anything else: the ordinary read says what
        return ChunkDone(job.index, len(job.data), None, failed=True)
    rewritten = Rewritten(bytes(plaintext), sizes, lines, local_ids, bytes(identity), refusal) if job.rewrite else None
    return ChunkDone(job.index, len(job.data), state, rewritten, persons)


def _init_worker(language: str) -> None:
    import signal

    from iplos_tui.core.hardening import harden
    from iplos_tui.core.i18n import set_language

    harden()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (cancel)
    set_language(language)
    parent = multiprocessing.parent_process()
    if parent is not None:  # a console killed with SIGKILL leaves no worker waiting for work forever
        threading.Thread(target=_exit_with, args=(parent,), daemon=True, name="pass-pool-parent").start()


def _exit_with(parent: Any) -> None:
    parent.join()  # returns when the parent's end of our pipe closes: it ended
    os._exit(1)


def _worker_facts() -> tuple[int | None, int | None, int]:
    from iplos_tui.core.hardening import hardening_state

    return (*hardening_state(), os.getpid())


def _start_helpers(forkserver: bool) -> None:
    """multiprocessing's resource tracker (and forkserver) get this process's stderr by its file
    descriptor; inside the console (Textual holds sys.stderr) there is none: they get /dev/null."""
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    held = sys.stderr
    with open(os.devnull, "w", encoding="utf-8") as quiet:
        if not usable:
            sys.stderr = quiet
        try:
            resource_tracker.ensure_running()
            if forkserver:
                from multiprocessing import forkserver as server

                server.ensure_running()
        finally:
            sys.stderr = held


class PassPool:
    """The worker processes of one pass (``forkserver`` where there is one, else ``spawn``)."""

    def __init__(self, workers: int) -> None:
        from iplos_tui.core.i18n import get_language

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload([__name__])
        _start_helpers("forkserver" in methods)
        self.workers = workers
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(get_language(),))

    def seal(self, directory: str, name: str, plaintext: bytes, cert_der: bytes) -> Future[tuple[int, str]]:
        from iplos_tui.core.envelope import seal_part

        return self.executor.submit(seal_part, directory, name, plaintext, cert_der)

    def facts(self) -> list[tuple[int | None, int | None, int]]:
        """(core limit, dumpable, pid) of the workers (the hardening test)."""
        return [future.result() for future in [self.executor.submit(_worker_facts) for _ in range(self.workers * 2)]]

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PassPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _head(data: bytes) -> Header:
    """The Header of the bytes up to its end, read the ordinary way (else ``Fallback``)."""
    from iplos_tui.core.extract.base import ExtractError
    from iplos_tui.core.extract.model import Header
    from iplos_tui.core.extract.uttrekk_v1 import ROOT, UttrekkV1Importer

    try:
        records = list(UttrekkV1Importer().iter_records(io.BytesIO(data + f"</{ROOT}>".encode("ascii"))))
    except ExtractError:
        raise Fallback() from None
    if len(records) != 1 or not isinstance(records[0], Header):
        raise Fallback()
    return records[0]


# Over 80 lines on purpose: one loop holds the read, the cut at a person's end and the back-pressure
# on the pool, and one ``finally`` cancels what is in flight; split, their shared state would be
# passed between pieces that only make sense together.
def read_extract_parallel(
    path: Path | str,
    pool: PassPool,
    on_header: Callable[[Header], dict[str, Any]],
    on_chunk: Callable[[ChunkDone], None],
    *,
    chunk_size: int,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    max_bytes: int | None = None,
    allowed_dir: Path | str | None = None,
) -> PassResult:
    """Read ``path`` once: ``on_header(header)`` returns the chunks' ``ChunkJob`` fields (year,
    rewrite, validate, validator); ``on_chunk`` gets every chunk's result in file order. Raises
    ``Fallback``, ``ExtractError`` (the path), ``Cancelled`` and ``EnvelopeError("extract_changed")``
    as ``read_extract`` does; anything the callbacks raise ends the pass. ``max_bytes`` and
    ``allowed_dir`` are ``open_extract``'s."""
    from iplos_tui.core.envelope_format import EnvelopeError
    from iplos_tui.core.extract import importer
    from iplos_tui.core.extract.uttrekk_v1 import UttrekkV1Importer

    in_flight: deque[Future[ChunkDone]] = deque()
    limits: dict[str, Any] = {"max_bytes": max_bytes} if max_bytes is not None else {}
    if allowed_dir is not None:
        limits["allowed_dir"] = allowed_dir
    with importer.open_extract(path, **limits) as opened:
        if not isinstance(opened.importer, UttrekkV1Importer):
            raise Fallback()
        fd = opened.fileno()
        before = FileIdentity.of(os.fstat(fd))
        tap = _Tap(fd, before, path)
        buffer = bytearray()
        job: dict[str, Any] | None = None
        lines_before = index = persons_done = done_bytes = 0
        sent_last = False

        def merge_oldest() -> None:
            nonlocal done_bytes, persons_done
            done = in_flight.popleft().result()
            if done.failed:
                raise Fallback()
            on_chunk(done)
            persons_done += done.persons
            done_bytes += done.size
            if progress is not None:
                progress(done_bytes, before.size)

        try:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                data = os.read(fd, READ_SIZE)
                tap(data)
                eof = not data
                buffer += data
                if job is None:
                    end = buffer.find(_HEADER_END)
                    if end < 0:
                        if eof or len(buffer) > HEAD_LIMIT:
                            raise Fallback()
                        continue
                    end += len(_HEADER_END)
                    head = bytes(buffer[:end])
                    job = on_header(_head(head))
                    lines_before = head.count(b"\n")
                    done_bytes = end
                    del buffer[:end]
                while buffer and (eof or len(buffer) >= chunk_size):
                    cut = buffer.rfind(_PERSON_END) if len(buffer) >= chunk_size else -1
                    last = cut < 0 and eof
                    if cut < 0 and not eof:
                        if len(buffer) > 4 * chunk_size + HEAD_LIMIT:  # no person ends here: not ours to cut
                            raise Fallback()
                        break
                    cut = len(buffer) if last else cut + len(_PERSON_END)
                    chunk = bytes(buffer[:cut])
                    del buffer[:cut]
                    while len(in_flight) >= 2 * pool.workers:
                        merge_oldest()
                    in_flight.append(pool.executor.submit(run_chunk, ChunkJob(index, chunk, lines_before + 1, last, **job)))
                    lines_before += chunk.count(b"\n")
                    index += 1
                    if last:
                        sent_last = True
                        break
                if eof:
                    if not sent_last:  # the file ends right after a person: its reader says so
                        in_flight.append(pool.executor.submit(run_chunk, ChunkJob(index, b"", lines_before + 1, True, **job)))
                    break
            while in_flight:
                merge_oldest()
        finally:
            for future in in_flight:
                future.cancel()
        if tap.bytes_read != before.size or FileIdentity.of(os.fstat(fd)) != before or not tap.names_it_still():
            raise EnvelopeError("extract_changed", path=str(path))
        return PassResult(opened.path, before, tap.sha256.hexdigest(), 1 + persons_done)
