"""Fleet test helpers: extracts whose persons belong to one municipality only (fnr canaries per
municipality)."""

from __future__ import annotations

import re
from pathlib import Path


def own_person_ids(extract: Path, offset: int) -> list[str]:
    """Give this extract's persons ids no other municipality's has (from ``offset`` on); returns the
    first ten, the canaries to look for."""
    from iplos_tui.core.extract.generator import synthetic_person_id

    text = extract.read_text("utf-8")
    counter = iter(range(offset, offset + 10**6))
    text = re.sub(r'personId="\d{11}"', lambda _: f'personId="{synthetic_person_id(next(counter))}"', text)
    extract.write_text(text, "utf-8")
    return re.findall(r'personId="(\d{11})"', text)[:10]
