"""The sandbox's feedback gateway: MOVEit Transfer's REST API subset, played on loopback.

Three seams (reference: docs/reference/moveit-transfer-openapi-subset.json):

- ``storage``: users, folders, file metadata and tokens in ``<root>/state.json`` and
  ``<root>/files/`` (delete ``root`` to reset);
- ``emulation``: what MOVEit answers — its models field for field, paging, error bodies, the
  token grants;
- ``routes``: the HTTP endpoints and the Starlette app.

Each user's folder is ``/Home/Ekstern/iplos/<username>/``. The SSB emulation puts files in with
``Gateway.put_file()``; ``serve_in_thread()`` (from ``runner``) runs ``gateway.app`` with
uvicorn over TLS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iplos_tui.sandbox.gateway.emulation import ApiError, MoveitEmulation, password_problems
from iplos_tui.sandbox.gateway.routes import GatewayRoutes
from iplos_tui.sandbox.gateway.storage import FileRecord, FolderRecord, GatewayStorage, UserRecord
from iplos_tui.sandbox.runner import RunningServer, serve_in_thread


class Gateway(GatewayRoutes, MoveitEmulation, GatewayStorage):
    """The gateway's state and its ASGI app (``gateway.app``). Thread-safe for ``put_file``."""

    def __init__(self, root: Path, **options: Any) -> None:
        GatewayStorage.__init__(self, root, **options)
        self.app = self._build_app()


__all__ = [
    "ApiError",
    "FileRecord",
    "FolderRecord",
    "Gateway",
    "RunningServer",
    "UserRecord",
    "password_problems",
    "serve_in_thread",
]
