"""The sandbox world in one object: Sendemodul + TPF + SSB + feedback gateway on 127.0.0.1 over TLS.

::

    with SandboxServer(tmp_path / "sandbox") as sandbox:
        sandbox.sendemodul_url      # https://127.0.0.1:PORT/Sendemodul/ (where it listens)
        sandbox.profile             # ... names it https://iplos.sandbox.test:PORT/Sendemodul/, connect
                                    # address 127.0.0.1, resolver sandbox.dns (preflight's DNS row)
        sandbox.gateway_url         # https://127.0.0.1:PORT (MOVEit REST under /api/v1/)
        sandbox.ca_bundle           # the sandbox CA (PEM) that signed the TLS certificate
        sandbox.account             # Account(kommunenr, bydel, orgnr, ...)
        sandbox.pin                 # Secret: the account's PIN (tests; never printed)
        sandbox.profile             # a Profile pointing at this server (also written to config_path)
        sandbox.faults.inject("commit", "after", "drop")
        sandbox.stored_count(key)   # commits that stored ``key`` (never above 1)
        sandbox.wait_processed(key) # TPF and SSB have handled the submission
        sandbox.advance_clock()     # "08:00 the next working day": receipt mail + feedback delivered

One uvicorn (h11, TLS) in a daemon thread (``runner.serve_in_thread``) serves both the
Sendemodul (mounted at ``/Sendemodul``) and the gateway (at ``/``); a small DNS server
(``dns_server.DnsServer``, UDP and TCP on 127.0.0.1) answers the Sendemodul's name.

``start()`` is ``bind()`` then ``serve()``. ``bind()`` is cheap: it binds the HTTPS port and
starts the DNS server, so the profile (which names both ports) and the URLs are known; a request
that comes before ``serve()`` waits in the port's queue. ``serve()`` builds the Sendemodul, the
gateway and the world and starts uvicorn (the console runs it after its first frame).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iplos_tui.core.fsutil import atomic_write_bytes
from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.clock import SandboxClock
from iplos_tui.sandbox.dns_server import DnsServer
from iplos_tui.sandbox.layout import SENDEMODUL_NAME, Account, SandboxDir
from iplos_tui.sandbox.runner import bind_listener, serve_in_thread

if TYPE_CHECKING:
    from iplos_tui.sandbox.gateway import Gateway
    from iplos_tui.sandbox.sendemodul import Faults, Sendemodul, Stats, Submission
    from iplos_tui.sandbox.world import World

DEFAULT_PART_CAP = 256 * 1024 * 1024  # sendemodul.DEFAULT_PART_CAP (not imported: bind() stays cheap)


class SandboxServer:
    """Start with ``start()`` or ``with``; ``stop()`` ends it. State stays in ``directory``."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        part_cap: int = DEFAULT_PART_CAP,
        process: bool = True,
        deliver_interval: float = 0.5,
        accounts: int | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("the sandbox listens on loopback only")
        self.dir = SandboxDir(directory).ensure()
        from iplos_tui.sandbox.accounts import AccountBook, ensure_accounts

        if accounts is not None:
            ensure_accounts(self.dir, accounts)
        self.accounts = AccountBook(self.dir)  # every municipality this sandbox knows, its own first
        self.host = host
        self.port = port
        self.part_cap = part_cap
        self.process_submissions = process
        self.deliver_interval = deliver_interval
        self.clock = SandboxClock(self.dir.clock_file)
        self.account: Account = self.dir.account()
        self.pin: Secret = self.dir.pin()
        self.gateway_username = self.account.postmottak
        self.gateway_password: Secret = self.dir.gateway_password()
        self._running: Any = None
        self._listener: socket.socket | None = None
        self._url: str | None = None
        self._life = threading.RLock()  # bind / serve / stop, from the console's worker and its main thread
        self._parts_lock = threading.Lock()
        self._parts: tuple[Sendemodul, Gateway, World] | None = None
        self.address = "::1" if host == "::1" else "127.0.0.1"
        self.dns = DnsServer({SENDEMODUL_NAME: [self.address]}, host=self.address)
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the parts behind the port (built on first use: importing them is most of a start) ----
    def _built(self) -> tuple[Sendemodul, Gateway, World]:
        with self._parts_lock:
            if self._parts is None:
                from iplos_tui.sandbox.control import open_gateway
                from iplos_tui.sandbox.sendemodul import Sendemodul
                from iplos_tui.sandbox.world import World

                sendemodul = Sendemodul(
                    self.dir.sendemodul_dir, self.account, self.pin, self.clock, part_cap=self.part_cap, on_commit=self._committed,
                    accounts=self.accounts.login_account,
                )
                gateway = open_gateway(self.dir, self.clock, self.accounts)
                self._parts = (sendemodul, gateway, World(self.dir, self.account, self.pin, self.clock, gateway, self.accounts))
            return self._parts

    @property
    def sendemodul(self) -> Sendemodul:
        return self._built()[0]

    @property
    def gateway(self) -> Gateway:
        return self._built()[1]

    @property
    def world(self) -> World:
        return self._built()[2]

    # -- facts ------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self.sendemodul.faults

    @property
    def stats(self) -> Stats:
        return self.sendemodul.stats

    @property
    def base_url(self) -> str:
        if self._url is None:
            raise RuntimeError("the sandbox server is not running")
        return self._url

    @property
    def serving(self) -> bool:
        """The servers answer (before that, after ``bind()``, requests wait in the port's queue)."""
        return self._running is not None

    @property
    def sendemodul_url(self) -> str:
        return f"{self.base_url}/Sendemodul/"

    @property
    def gateway_url(self) -> str:
        return self.base_url

    @property
    def ca_bundle(self) -> Path:
        return self.dir.ca_bundle

    @property
    def ssb_certificate(self) -> Path:
        return self.dir.ssb_cert

    @property
    def tpf_certificate(self) -> Path:
        return self.dir.tpf_cert

    @property
    def mail_dir(self) -> Path:
        return self.dir.mail_dir

    @property
    def config_path(self) -> Path:
        return self.dir.config_path

    @property
    def profile(self):
        from iplos_tui.core.config import Profile

        account = self.account
        return Profile(
            kommunenr=account.kommunenr,
            bydel=account.bydel,
            orgnr=account.orgnr,
            year=account.year,
            contact_email=account.contact_email,
            contact_mobile=account.contact_mobile,
            postmottak=account.postmottak,
            secure_dir=self.dir.secure_dir,
            ssb_certificate=self.dir.ssb_cert,
            tpf_certificate=self.dir.tpf_cert,
            sendemodul_url=f"https://{SENDEMODUL_NAME}:{self.port}/Sendemodul/",
            sendemodul_address=self.address,
            sendemodul_connect_address=self.address,
            sendemodul_ca_bundle=self.dir.ca_bundle,
            gateway_url=self.gateway_url,
            gateway_user=self.gateway_username,
            gateway_ca_bundle=self.dir.ca_bundle,
            preflight_nameservers=[self.dns.spec],
            preflight_system_resolver=False,
        )

    def stored_count(self, key: str) -> int:
        """How many commits stored the submission ``key`` (read from the commit log)."""
        return self.sendemodul.store.commits_of(key.lower())

    def submission(self, key: str) -> Submission | None:
        return self.sendemodul.store.get(key.lower())

    def info(self) -> dict[str, Any]:
        """What ``iplos sandbox serve`` prints: everything a client needs except the PIN."""
        return {
            "sendemodul_url": self.sendemodul_url,
            "sendemodul_name": SENDEMODUL_NAME,
            "dns_server": self.dns.spec,
            "gateway_url": self.gateway_url,
            "ca_bundle": str(self.ca_bundle),
            "certificates": {
                "ssb": str(self.dir.ssb_cert),
                "tpf": str(self.dir.tpf_cert),
                "tls_server": str(self.dir.tls_cert),
            },
            "account": self.account.public(),
            "accounts": len(self.accounts),
            "gateway_username": self.gateway_username,
            "pin_file": str(self.dir.pin_file),
            "gateway_password_file": str(self.dir.gateway_password_file),
            "profile": str(self.config_path),
            "mail_dir": str(self.mail_dir),
            "dir": str(self.dir.root),
            "clock": self.clock.now().isoformat(timespec="seconds"),
        }

    # -- life -------------------------------------------------------------------------------
    def app(self):
        from starlette.applications import Starlette
        from starlette.routing import Mount

        return Starlette(routes=[Mount("/Sendemodul", app=self.sendemodul.app()), Mount("/", app=self.gateway.app)])

    def start(self) -> SandboxServer:
        return self.bind().serve()

    def bind(self) -> SandboxServer:
        """Bind the HTTPS port, start the DNS server and write the profile: from here on the
        profile and the URLs are known, and a request waits in the port's queue until ``serve()``."""
        with self._life:
            if self._url is not None:
                return self
            self._listener = bind_listener(self.host, self.port)
            self.port = self._listener.getsockname()[1]
            shown = f"[{self.host}]" if ":" in self.host else self.host
            self._url = f"https://{shown}:{self.port}"
            try:
                self.dns.start()
                from iplos_tui.core.config import save_profile

                save_profile(self.profile, self.config_path)
                from iplos_tui.sandbox.accounts import write_profiles

                write_profiles(self.dir, self.accounts, self.profile)
            except BaseException:
                self._unbind()
                raise
            return self

    def serve(self, *, rebind: bool = True) -> SandboxServer:
        """Answer on the bound port: uvicorn, the world, the clock's ticker. Not bound (never, or
        stopped since): binds first, or with ``rebind=False`` does nothing (a deferred start that
        comes after the console closed)."""
        with self._life:
            if self._running is not None or (self._url is None and not rebind):
                return self
            self.bind()
            self._running = serve_in_thread(
                self.app(), certfile=self.dir.tls_cert, keyfile=self.dir.tls_key, host=self.host, sock=self._listener
            )
            self._listener = None  # uvicorn's now
            atomic_write_bytes(
                self.dir.server_file,
                (json.dumps({"pid": os.getpid(), **self.info()}, indent=2) + "\n").encode("utf-8"),
            )
            self.clock.resume()
            self.world.start()
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True, name="sandbox-clock")
            self._ticker.start()
            return self

    def _unbind(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.dns.stop()
        self._url = None

    def stop(self) -> None:
        with self._life:  # a serve() under way (the console's worker) ends first
            self._stop.set()
            if self._ticker is not None:
                self._ticker.join(5)
                self._ticker = None
            if self._parts is not None:
                self.world.stop()
            if self._running is not None:
                self._running.stop()
                self._running = None
                self.clock.pause()
            self._unbind()
        try:
            data = json.loads(self.dir.server_file.read_text(encoding="utf-8"))
            if data.get("pid") == os.getpid():
                self.dir.server_file.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the world behind the Sendemodul ------------------------------------------------------
    def _committed(self, submission: Submission) -> None:
        if self.process_submissions:
            self.world.submit(submission.key, self.sendemodul.store.directory(submission.key))

    def _tick(self) -> None:
        while not self._stop.wait(self.deliver_interval):
            try:
                self.world.deliver_due()
            except Exception:  # a delivery problem must not stop the clock
                pass

    def wait_processed(self, key: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until TPF and SSB have handled ``key``; returns SSB's result summary."""
        return self.world.wait_processed(key.lower(), timeout)

    def advance_clock(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Move the sandbox clock (default: to just past 08:00 the next working day) and deliver
        everything due by then. Returns what was delivered."""
        self.world.wait_idle()
        if seconds is None:
            self.clock.advance_to_next_receipt_time()
        else:
            self.clock.advance(seconds)
        self.sendemodul.unlock()
        return self.world.deliver_due()
