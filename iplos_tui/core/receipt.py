"""The Sendemodul's receipt as the console keeps it, and the check that it matches what was sent."""

from __future__ import annotations

from typing import Any

from iplos_tui.core.text import safe_text


def clean_receipt(data: dict[str, Any]) -> dict[str, Any]:
    """The receipt as we keep it: known fields only, every text sanitised and bounded."""

    def text(value: Any, limit: int = 120) -> str:
        return safe_text(str(value) if value is not None else "", one_line=True, limit=limit)

    parts = []
    for part in data.get("parts") or []:
        if isinstance(part, dict):
            size = part.get("size")
            parts.append({
                "file": text(part.get("file"), 40),
                "size": size if isinstance(size, int) and not isinstance(size, bool) else -1,
                "sha256": text(part.get("sha256"), 64),
            })
    year = data.get("year")
    return {
        "receipt_id": text(data.get("receipt_id"), 80),
        "key": text(data.get("key"), 40),
        "received_at": text(data.get("received_at"), 40),
        "kommunenr": text(data.get("kommunenr"), 8),
        "bydel": text(data.get("bydel"), 4),
        "year": year if isinstance(year, int) and not isinstance(year, bool) else None,
        "manifest_sha256": text(data.get("manifest_sha256"), 64),
        "parts": parts[:10000],
        "receipt_mail_expected_at": text(data.get("receipt_mail_expected_at"), 40),
        "duplicate": data.get("duplicate") is True,
    }


def receipt_problem(receipt: dict[str, Any], key: str, manifest_sha256: str, parts: dict[str, tuple[int, str]]) -> str:
    """'' when the receipt matches what was sent, else what differs (I19)."""
    if not isinstance(receipt, dict) or not receipt.get("receipt_id"):
        return "receipt_id"
    if receipt.get("key") != key:
        return "key"
    if receipt.get("manifest_sha256") != manifest_sha256:
        return "manifest_sha256"
    got = {p.get("file"): (p.get("size"), p.get("sha256")) for p in receipt.get("parts") or [] if isinstance(p, dict)}
    if got != parts:
        return "parts"
    return ""
