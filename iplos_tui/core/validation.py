"""Validating an extract on every core (issue 15 item 2): ``iplos validate``, the Submission
pane's validate, report and compare keys.

``validate_file`` is ``core.extract.validate.validate_file`` with ``workers`` (the rule of
``core.pass_pool.worker_count``: 0 = one per CPU, 1 = the ordinary read in this process) and
``chunk_size`` (the profile's part size, as for a submission). With more than one worker and a
file of at least ``MIN_CHUNKS`` chunks, worker processes validate the persons chunk by chunk
(``pass_pool.read_extract_parallel``) and the chunks are merged in file order, so the report is
the one of one read in one process: the same findings in the same order, the same counts and
caps. Anything the pool cannot decide about (a chunk a worker cannot read, a header that is not
right, a file that changed while it was read) is read again the ordinary way, which says exactly
what is wrong and where. These flows live here, above ``core.extract`` and ``core.pass_pool``,
because the pool imports the extract package.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core import pass_pool
from iplos_tui.core.config import DEFAULT_PART_SIZE
from iplos_tui.core.extract.importer import DEFAULT_MAX_BYTES, ExtractError, Progress, open_extract
from iplos_tui.core.extract.validate import Report, Validator, fill_duplicate_ids
from iplos_tui.core.extract.validate import validate_file as validate_in_process

if TYPE_CHECKING:
    from iplos_tui.core.config import Profile
    from iplos_tui.core.extract.compare import Comparison
    from iplos_tui.core.extract.report import WrittenReport

#: Smaller files are read in this process: below this many chunks the workers' start costs more
#: than they save (measured: see docs/extract-format.md).
MIN_CHUNKS = 2
MIN_CHUNK_SIZE = 64 * 1024  # a part size below this would make the chunks too small to be worth a worker


def pooled(workers: int, size: int, chunk_size: int) -> int:
    """The workers for a file of ``size`` bytes: 1 (the ordinary read) or more."""
    count = pass_pool.worker_count(workers)
    return count if count > 1 and size >= MIN_CHUNKS * max(chunk_size, MIN_CHUNK_SIZE) else 1


def validate_file(
    path: str | os.PathLike[str],
    *,
    workers: int = 1,
    chunk_size: int = DEFAULT_PART_SIZE,
    birth_years: Mapping[str, int] | None = None,
    **options: Any,
) -> Report:
    """``core.extract.validate.validate_file(path, **options)``, on ``workers`` processes when the
    file is large enough (``Report.workers`` says how many read it)."""
    try:
        size = os.stat(path).st_size
    except (OSError, ValueError):
        size = 0  # the ordinary read names the fault
    count = pooled(workers, size, chunk_size) if birth_years is None else 1
    if count > 1:
        try:
            return _validate_pooled(path, count, max(chunk_size, MIN_CHUNK_SIZE), **options)
        except pass_pool.Fallback:
            pass
    return validate_in_process(path, birth_years=birth_years, **options)


def _validate_pooled(
    path: str | os.PathLike[str],
    workers: int,
    chunk_size: int,
    *,
    year: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    sha256: bool = False,
    **checks: Any,
) -> Report:
    """``checks`` are the ``Validator``'s own options (profile, synthetic numbers, caps); every
    worker's validator gets the same."""
    from iplos_tui.core.envelope_format import EnvelopeError

    validator = Validator(year, **checks)

    def on_header(header: Any) -> dict[str, Any]:
        try:
            validator.feed(header)
        except ExtractError:  # a year it cannot take: the ordinary read reports it as fatal
            raise pass_pool.Fallback() from None
        return {"year": validator.year, "rewrite": False, "validator": checks}

    def on_chunk(done: pass_pool.ChunkDone) -> None:
        assert done.state is not None
        validator.merge(done.state)

    with pass_pool.PassPool(workers) as pool:
        try:
            passed = pass_pool.read_extract_parallel(
                os.fspath(path), pool, on_header, on_chunk, chunk_size=chunk_size, progress=progress,
                cancel=cancel, max_bytes=max_bytes, allowed_dir=os.fspath(allowed_dir) if allowed_dir is not None else None,
            )  # fmt: skip
        except (ExtractError, EnvelopeError):  # the path refused, or the file changed while read
            raise pass_pool.Fallback() from None
    report = validator.finish()
    report.size = passed.identity.size
    report.workers = workers
    if sha256:
        report.sha256 = passed.sha256
    if any(f.rule == "person.duplicate" for f in report.findings):
        with open_extract(passed.path, max_bytes=max_bytes) as opened:
            fill_duplicate_ids(report, opened.records(cancel=cancel))
    return report


def profile_validate(profile: Profile, workers: int | None = None) -> Any:
    """``validate_file`` with the profile's workers (or ``workers``) and part size."""
    return partial(validate_file, workers=profile.workers if workers is None else workers, chunk_size=profile.part_size)


def compare_files(new: str | os.PathLike[str], old: str | os.PathLike[str], *, workers: int = 1, chunk_size: int = DEFAULT_PART_SIZE, **options: Any) -> Comparison:
    """``core.extract.compare.compare_files`` with each file validated on ``workers`` processes."""
    from iplos_tui.core.extract import compare

    return compare.compare_files(new, old, validate=partial(validate_file, workers=workers, chunk_size=chunk_size), **options)


def compare_with_previous(path: str | os.PathLike[str], profile: Profile) -> tuple[Path, Comparison] | None:
    """``path`` against the extract last sent for the profile's year (the Submission pane's key)."""
    from iplos_tui.core.extract import compare

    return compare.compare_with_previous(path, profile, validate=profile_validate(profile))


def report_for_profile(path: str | os.PathLike[str], profile: Profile, **options: Any) -> tuple[Report, WrittenReport]:
    """Validate ``path`` as the profile's extract and write its report (the Submission pane's key)."""
    from iplos_tui.core.extract import report

    return report.report_for_profile(path, profile, validate=profile_validate(profile), **options)
