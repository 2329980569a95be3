"""What the gateway answers (the MOVEit definition's models), parsed and checked as untrusted.

Ids must be plain tokens (``fullmatch``: a trailing newline is not a token) before they go into a
URL; sizes non-negative integers; ``hash`` 40 hex digits; every string capped and shown only
through ``safe_text``. An item that fails becomes a ``RefusedItem`` the fetch reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.text import safe_text

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_SHA1 = re.compile(r"[0-9a-fA-F]{40}", re.ASCII)


def as_int(value: object, *, minimum: int = 0) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        return None
    return value


def as_str(value: object, limit: int = 4096) -> str:
    return value[:limit] if isinstance(value, str) else ""


def file_id(value: object) -> str | None:
    """A file id as a URL-safe token, or None (ints are MOVEit's spelling of the same ids)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def shown(value: object, limit: int = 300) -> str:
    return safe_text(str(value), one_line=True, limit=limit)


@dataclass(frozen=True)
class GatewayUser:
    id: str
    username: str
    full_name: str
    email: str
    home_folder_id: int
    default_folder_id: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GatewayUser:
        return cls(
            id=as_str(data.get("id"), 128),
            username=as_str(data.get("username"), 256),
            full_name=as_str(data.get("fullName"), 256),
            email=as_str(data.get("email"), 256),
            home_folder_id=as_int(data.get("homeFolderID")) or 0,
            default_folder_id=as_int(data.get("defaultFolderID")) or 0,
        )


@dataclass(frozen=True)
class GatewayFolder:
    id: int
    name: str
    path: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GatewayFolder | None:
        folder_id = as_int(data.get("id"), minimum=1)
        if folder_id is None:
            return None
        return cls(id=folder_id, name=as_str(data.get("name"), 1024), path=as_str(data.get("path"), 4096))


class UnusableItem(ValueError):
    """A listing item the client cannot use; ``reason`` is a catalog key (``gateway.item_<reason>``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GatewayFile:
    """A file on the gateway. ``name`` and the other strings are untrusted: show ``display_*``."""

    id: str
    name: str
    size: int
    upload_stamp: str
    path: str
    folder_id: int
    upload_username: str
    is_new: bool
    sha1: str | None = None  # only in file details (FileDetailsModel.hash), lower-case hex
    original_filename: str = ""
    upload_comment: str = ""

    @property
    def display_name(self) -> str:
        return safe_text(self.name, one_line=True, limit=200)

    @classmethod
    def from_json(cls, data: object) -> GatewayFile:
        """Parse one item; raise ``UnusableItem`` when its id or size cannot be used."""
        if not isinstance(data, dict):
            raise UnusableItem("not_an_object")
        checked_id = file_id(data.get("id"))
        if checked_id is None:
            raise UnusableItem("bad_id")
        size = as_int(data.get("size"))
        if size is None:
            raise UnusableItem("bad_size")
        digest = data.get("hash")
        return cls(
            id=checked_id,
            name=as_str(data.get("name"), 4096),
            size=size,
            upload_stamp=as_str(data.get("uploadStamp"), 64),
            path=as_str(data.get("path"), 4096),
            folder_id=as_int(data.get("folderID")) or 0,
            upload_username=as_str(data.get("uploadUsername"), 256),
            is_new=data.get("isNew") is True,
            sha1=digest.lower() if isinstance(digest, str) and _SHA1.fullmatch(digest) else None,
            original_filename=as_str(data.get("originalFilename"), 4096),
            upload_comment=as_str(data.get("uploadComment"), 4096),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.display_name,
            "size": self.size,
            "uploadStamp": shown(self.upload_stamp, 64),
            "isNew": self.is_new,
            "uploadUsername": shown(self.upload_username, 256),
        }


@dataclass(frozen=True)
class RefusedItem:
    """A listing item that was not used: what it claimed to be (sanitised) and why not."""

    reason: str
    id: str
    name: str

    @classmethod
    def of(cls, data: object, reason: str) -> RefusedItem:
        item = data if isinstance(data, dict) else {}
        return cls(reason, shown(item.get("id", ""), 80), shown(item.get("name", ""), 200))


@dataclass(frozen=True)
class Listing:
    files: list[GatewayFile]
    refused: list[RefusedItem] = field(default_factory=list)


@dataclass(frozen=True)
class Downloaded:
    file: GatewayFile
    path: Path
    size: int
    sha1: str
    already_present: bool = False
