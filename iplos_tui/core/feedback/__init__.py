"""Safe reading of SSB's feedback zips and their tables (no pyzipper import until a zip is opened).

- ``zipcheck``: our own structure checks before anything is decrypted;
- ``reader``: ``open_feedback(path_or_bytes, pin, ...)`` -> ``FeedbackArchive`` (all in memory);
- ``tables``: one streaming pass per entry -> ``Table`` (compressed blocks, counts, pages on
  demand, person ids masked, reveal hooks);
- ``naming``: ``KKKKBB_iplos_tilbakemelding_YYYYMMDD.zip``;
- ``store``: the feedback folder, exports (a new folder of their own), the console's leftovers;
- ``fetch``: ``FeedbackFetch``, the gateway fetch both front ends call;
- ``audit``: the journal hook every reveal passes.
"""

from iplos_tui.core.feedback.errors import (
    FeedbackError,
    FeedbackFileError,
    NameRefusal,
    WrongPinOrDamaged,
    ZipRefusal,
)
from iplos_tui.core.feedback.naming import FeedbackName, check_feedback_name, parse_feedback_name
from iplos_tui.core.feedback.reader import (
    FeedbackArchive,
    FeedbackEntry,
    inspect_feedback,
    open_feedback,
    read_zip_file,
)
from iplos_tui.core.feedback.tables import RevealEvent, RevealRefused, Table, TableLimits, TableRefusal, add_reveal_hook, parse_table, remove_reveal_hook
from iplos_tui.core.feedback.zipcheck import DEFAULT_LIMITS, ZipEntry, ZipLayout, ZipLimits, inspect_zip

__all__ = [
    "DEFAULT_LIMITS",
    "FeedbackArchive",
    "FeedbackEntry",
    "FeedbackError",
    "FeedbackFileError",
    "FeedbackName",
    "NameRefusal",
    "RevealEvent",
    "RevealRefused",
    "Table",
    "TableLimits",
    "TableRefusal",
    "WrongPinOrDamaged",
    "ZipEntry",
    "ZipLayout",
    "ZipLimits",
    "ZipRefusal",
    "add_reveal_hook",
    "check_feedback_name",
    "inspect_feedback",
    "inspect_zip",
    "open_feedback",
    "parse_feedback_name",
    "parse_table",
    "read_zip_file",
    "remove_reveal_hook",
]
