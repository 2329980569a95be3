"""Acting on a sandbox directory from outside its server (``iplos sandbox advance-clock``).

A running ``serve`` owns the gateway's state, so another process only moves the clock file and
waits for the server's ticker to deliver. With no server running, this process delivers itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from typing import Any

from iplos_tui.sandbox.clock import SandboxClock, iso
from iplos_tui.sandbox.layout import SandboxDir

WAIT_FOR_SERVER = 15.0


def open_gateway(sdir: SandboxDir, clock: SandboxClock, book=None):
    """The gateway over ``DIR/gateway``, with the postmottak user of every account (its password
    from DIR) present."""
    from iplos_tui.sandbox.accounts import AccountBook
    from iplos_tui.sandbox.gateway import Gateway

    gateway = Gateway(sdir.gateway_dir, clock=clock.now)
    for member in book if book is not None else AccountBook(sdir):
        account = member.account
        if gateway.users.get(account.postmottak.casefold()) is None:
            gateway.add_user(account.postmottak, member.gateway_password.reveal(), full_name=f"IPLOS-Tilbakemelding {account.name}")
    return gateway


def running_server(sdir: SandboxDir) -> dict[str, Any] | None:
    """The ``server.json`` of a live server process other than this one, else None."""
    try:
        data = json.loads(sdir.server_file.read_text(encoding="utf-8"))
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return data


def _outbox(sdir: SandboxDir) -> dict[str, dict[str, Any]]:
    items = {}
    directory = sdir.ssb_dir / "outbox"
    if directory.is_dir():
        for path in directory.glob("*.json"):
            try:
                items[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
    return items


def _summary(item: dict[str, Any]) -> dict[str, Any]:
    delivered = item.get("delivered") or {}
    return {
        "key": item["key"],
        "receipt_id": item["receipt"]["receipt_id"],
        "deliver_at": item["deliver_at"],
        "feedback_zip": item["zip"],
        "gateway_file_id": delivered.get("gateway_file_id"),
        "receipt_mail": delivered.get("receipt_mail"),
        "new_file_mail": delivered.get("new_file_mail"),
    }


def advance_clock(sdir: SandboxDir, seconds: float | None = None) -> dict[str, Any]:
    """Move the clock (default: just past 08:00 the next working day) and get due items delivered."""
    clock = SandboxClock(sdir.clock_file)
    before = {k for k, v in _outbox(sdir).items() if v.get("delivered")}
    if seconds is None:
        clock.advance_to_next_receipt_time()
    else:
        clock.advance(seconds)
    now = clock.now()
    server = running_server(sdir)
    if server is not None:
        deadline = time.monotonic() + WAIT_FOR_SERVER
        while time.monotonic() < deadline:
            due = [v for v in _outbox(sdir).values()
                   if not v.get("delivered") and dt.datetime.fromisoformat(v["deliver_at"]) <= now]
            if not due:
                break
            time.sleep(0.1)
    else:
        from iplos_tui.sandbox.accounts import AccountBook
        from iplos_tui.sandbox.world import World

        book = AccountBook(sdir)
        world = World(sdir, book.own.account, book.own.pin, clock, open_gateway(sdir, clock, book), book)
        world.start()  # also processes submissions committed while no server ran
        try:
            world.wait_idle()
            world.deliver_due()
        finally:
            world.stop()
    items = _outbox(sdir)
    delivered = [_summary(v) for k, v in sorted(items.items()) if v.get("delivered") and k not in before]
    pending = sum(1 for v in items.values() if not v.get("delivered"))
    return {"clock": iso(clock.now()), "server_running": server is not None, "delivered": delivered, "pending": pending}
