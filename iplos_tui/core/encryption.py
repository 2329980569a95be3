"""``iplos encrypt`` on every core (issue 15 item 2).

``encrypt_extract`` is ``core.envelope.encrypt_extract`` with ``workers`` (the rule of
``core.pass_pool.worker_count``: 0 = one per CPU, 1 = the ordinary read in this process). With
more than one worker and a file of at least ``validation.MIN_CHUNKS`` parts, worker processes
pseudonymise the persons chunk by chunk and seal the content parts, which this process cuts and
numbers in file order: the same parts, plaintext hashes and identity table as one read in one
process. A file the pool cannot decide about is encrypted again the ordinary way from an empty
output directory (the first try's staging directory is gone), which says exactly what is wrong.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core import pass_pool
from iplos_tui.core.envelope import DEFAULT_PART_SIZE, EncryptResult
from iplos_tui.core.envelope import encrypt_extract as encrypt_in_process
from iplos_tui.core.validation import MIN_CHUNK_SIZE, pooled

if TYPE_CHECKING:
    from iplos_tui.core.envelope import EnvelopeWriter
    from iplos_tui.core.extract_pass import PassResult


def encrypt_extract(extract_path: Path | str, out_dir: Path | str, *args: Any, workers: int = 1, **options: Any) -> EncryptResult:
    """``core.envelope.encrypt_extract(extract_path, out_dir, ssb_cert, tpf_cert, params,
    part_size, **options)`` on ``workers`` processes when the file is large enough;
    ``EncryptResult.workers`` says how many read it. ``on_record`` (which sees every record in this
    process) keeps the ordinary read."""
    part_size = args[3] if len(args) > 3 else options.get("part_size", DEFAULT_PART_SIZE)
    try:
        size = os.stat(extract_path).st_size
    except (OSError, ValueError):
        size = 0
    count = pooled(workers, size, part_size) if options.get("on_record") is None else 1
    if count > 1:
        try:
            with pass_pool.PassPool(count) as pool:
                result = encrypt_in_process(extract_path, out_dir, *args, reader=_reader(pool, max(part_size, MIN_CHUNK_SIZE)), **options)
            return dataclasses.replace(result, workers=count)
        except pass_pool.Fallback:
            pass  # the staging directory is gone: the ordinary read starts from nothing
    return encrypt_in_process(extract_path, out_dir, *args, **options)


def _reader(pool: pass_pool.PassPool, part_size: int) -> Callable[..., PassResult]:
    def read(
        path: Path | str,
        writer: EnvelopeWriter,
        *,
        progress: Callable[[int, int], None],
        cancel: threading.Event | None,
        max_bytes: int | None,
        allowed_dir: Path | str | None,
        on_persons: Callable[[], None],
    ) -> PassResult:
        def on_header(header: Any) -> dict[str, Any]:
            writer.record(header)  # an EnvelopeError (the header disagrees) ends the run, as in one read
            writer.seal_with(pool.seal)
            return {"year": writer.year, "rewrite": True, "validate": False}

        def on_chunk(done: pass_pool.ChunkDone) -> None:
            assert done.rewritten is not None
            writer.add_persons(done.rewritten)  # a person it refuses raises here, in file order
            on_persons()

        try:
            return pass_pool.read_extract_parallel(
                path, pool, on_header, on_chunk, chunk_size=part_size,
                progress=progress, cancel=cancel, max_bytes=max_bytes, allowed_dir=allowed_dir,
            )  # fmt: skip
        finally:
            writer.seal_with(None)  # the pool closes: the last part is sealed here

    return read
