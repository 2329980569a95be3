"""One message catalog for the UI and the core's human messages.

Catalog files live in ``iplos_tui/locale/<area>.toml``; each table is one message with an ``nb``
and an ``en`` text, and its key is ``<area>.<table>``::

    [saved]
    nb = "Profilen er lagret i {path}"
    en = "Profile saved to {path}"

Norwegian bokmål is the default; ``set_language("en")`` switches every later lookup.
"""

from __future__ import annotations

import string
import tomllib
from typing import Any
from functools import lru_cache
from importlib import resources

LANGUAGES = ("nb", "en")
_language = "nb"


def set_language(language: str) -> None:
    global _language
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    _language = language


def get_language() -> str:
    return _language


@lru_cache(maxsize=None)
def _area(area: str) -> dict[str, dict[str, str]]:
    """One area's messages, loaded on first use (start-up reads only what it shows)."""
    entry = resources.files("iplos_tui.locale").joinpath(f"{area}.toml")
    messages: dict[str, dict[str, str]] = {}
    if entry.is_file():
        _flatten(area, tomllib.loads(entry.read_text(encoding="utf-8")), messages)
    return messages


def catalog() -> dict[str, dict[str, str]]:
    """Every message of every area: ``{"area.key": {"nb": ..., "en": ...}}``."""
    messages: dict[str, dict[str, str]] = {}
    for entry in sorted(resources.files("iplos_tui.locale").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            messages.update(_area(entry.name.removesuffix(".toml")))
    return messages


def _flatten(prefix: str, table: dict[str, Any], into: dict[str, dict[str, str]]) -> None:
    """Nested tables (``[field.kommunenr]``) become dotted keys (``config.field.kommunenr``)."""
    for key, value in table.items():
        if not isinstance(value, dict):
            continue
        if isinstance(value.get("nb"), str):
            into[f"{prefix}.{key}"] = value
        else:
            _flatten(f"{prefix}.{key}", value, into)


def has(key: str) -> bool:
    return key in _area(key.partition(".")[0])


def t(key: str, /, **values: object) -> str:
    """The message ``key`` in the current language, with ``{placeholders}`` filled in.

    A missing key or language falls back to Norwegian, then to the key itself, so that a
    catalog slip never crashes a screen.
    """
    texts = _area(key.partition(".")[0]).get(key)
    if texts is None:
        return key
    text = texts.get(_language) or texts.get("nb") or key
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return text


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}
