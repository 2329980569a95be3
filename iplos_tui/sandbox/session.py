"""The sandbox inside the console's own process: what ``iplos tui --sandbox`` (``make run``) starts.

``start_session()`` makes (or reuses) the sandbox directory, starts the loopback servers, writes
a sandbox profile (``config_path``) and makes two synthetic extracts in the profile's secure
directory: ``extract_path`` (clean, ready to send) and ``extract_with_errors_path`` (planted
errors, to see validation and feedback at work). The PIN is on the session as a ``Secret``
(the TUI may prefill it); nothing here prints anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.layout import SandboxDir
from iplos_tui.sandbox.server import SandboxServer

EXTRACT_PERSONS = 1000
EXTRACT_SEED = 2017
ERROR_RATE = 0.05


def extract_paths(sdir: SandboxDir, year: int) -> tuple[Path, Path]:
    return sdir.secure_dir / f"uttrekk-{year}.xml", sdir.secure_dir / f"uttrekk-{year}-med-feil.xml"


def _extract_options(sdir: SandboxDir) -> dict[str, Any]:
    account = sdir.account()
    return {
        "persons": EXTRACT_PERSONS,
        "seed": EXTRACT_SEED,
        "kommunenr": account.kommunenr,
        "bydel": account.bydel,
        "year": account.year,
        "orgnr": account.orgnr,
        "contact_email": account.contact_email,
        "contact_mobile": account.contact_mobile,
    }


def planted_errors(sdir: SandboxDir) -> list[Any]:
    """What the extract with errors has planted (``Planted(local_id, rule)``): the generator is
    deterministic, so making it again in memory gives the same list."""
    import io

    from iplos_tui.core.extract.generator import generate

    return generate(io.BytesIO(), error_rate=ERROR_RATE, **_extract_options(sdir))


def ensure_extracts(sdir: SandboxDir) -> tuple[Path, Path]:
    """The sandbox's two synthetic extracts, made once (deterministic, so the same every time)."""
    from iplos_tui.core.extract.generator import generate_file

    clean, with_errors = extract_paths(sdir, sdir.account().year)
    common = _extract_options(sdir)
    if not clean.exists():
        generate_file(clean, **common)
    if not with_errors.exists():
        generate_file(with_errors, error_rate=ERROR_RATE, **common)
    return clean, with_errors


@dataclass
class SandboxSession:
    server: SandboxServer
    extract_path: Path
    extract_with_errors_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def dir(self) -> Path:
        return self.server.dir.root

    @property
    def profile(self):
        return self.server.profile

    @property
    def config_path(self) -> Path:
        return self.server.config_path

    @property
    def pin(self) -> Secret:
        return self.server.pin

    @property
    def gateway_password(self) -> Secret:
        return self.server.gateway_password

    @property
    def mail_dir(self) -> Path:
        return self.server.mail_dir

    @property
    def clock(self):
        """The sandbox clock (``clock.now()``: Oslo time, January 2018 at the start)."""
        return self.server.clock

    def now(self):
        """The sandbox clock's time (Oslo time)."""
        return self.server.clock.now()

    def advance_clock(self, seconds: float | None = None) -> list[dict[str, Any]]:
        """Let "08:00 the next working day" arrive (or move ``seconds``); returns what was delivered:
        receipt mails, the feedback zip in the gateway, the gateway's "new file" mail."""
        self.serve()  # F9 before the deferred start: the world must be running to deliver
        return self.server.advance_clock(seconds)

    def pending_deliveries(self) -> list[dict[str, Any]]:
        return self.server.world.pending_deliveries()

    def info(self) -> dict[str, Any]:
        return dict(self.server.info(), extract=str(self.extract_path), extract_with_errors=str(self.extract_with_errors_path))

    @property
    def serving(self) -> bool:
        return self.server.serving

    def serve(self) -> None:
        """Start the servers on the bound port (after ``start_session(serve=False)``); after
        ``stop()`` it does nothing."""
        self.server.serve(rebind=False)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.server.stop()

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_session(directory: Path | str | None = None, *, port: int = 0, serve: bool = True) -> SandboxSession:
    """Start the sandbox in this process. ``directory`` None: ``<user data>/iplos-tui/sandbox``;
    deleting that directory resets the sandbox. ``serve`` False: only the cheap part (the ports
    bound, the profile written); ``session.serve()`` starts the servers (the console calls it after
    its first frame; a request made before waits in the port's queue)."""
    sdir = SandboxDir(directory).ensure()
    clean, with_errors = extract_paths(sdir, sdir.account().year)
    if not (clean.exists() and with_errors.exists()):  # making them loads the generator
        clean, with_errors = ensure_extracts(sdir)
    server = SandboxServer(sdir.root, port=port)
    server.start() if serve else server.bind()
    return SandboxSession(server, clean, with_errors)
