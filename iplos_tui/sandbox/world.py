"""What happens after a commit: TPF, then SSB, then — at 08:00 the next working day — the mails
and the feedback file in the gateway.

Processing runs at once, in one worker thread, and leaves ``DIR/ssb/<key>/`` (result.json and
the feedback zip). Deliveries wait for the sandbox clock: ``DIR/ssb/outbox/<key>.json`` says when;
``deliver_due()`` (called by the server's ticker and by ``advance_clock``) writes the receipt mail,
puts the zip into the postmottak user's gateway folder and writes the gateway's "new file" mail.
A submission committed but never processed (the server was stopped) is processed on start.

The real SSB published feedback weeks later; the sandbox publishes it with the receipt so the whole
round takes minutes.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from iplos_tui.core.fsutil import atomic_write_bytes, ensure_private_dir
from iplos_tui.core.secrets import Secret
from iplos_tui.sandbox.clock import SandboxClock, iso, next_working_day_at
from iplos_tui.sandbox.layout import Account, SandboxDir

UPLOADED_BY = "frassb"


class World:
    def __init__(self, sdir: SandboxDir, account: Account, pin: Secret, clock: SandboxClock, gateway: Any, accounts: Any = None) -> None:
        self.dir = sdir
        self.account = account
        self._pin = pin
        self._accounts = accounts  # more municipalities (sandbox/accounts.AccountBook), else only ``account``
        self.clock = clock
        self.gateway = gateway
        self.outbox = ensure_private_dir(sdir.ssb_dir / "outbox")
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: dict[str, concurrent.futures.Future] = {}
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-ssb")
        store = self.dir.sendemodul_dir / "submissions"
        if store.is_dir():
            for entry in sorted(store.iterdir()):
                state = entry / "state.json"
                if entry.name.startswith(".") or not state.exists():
                    continue
                try:
                    committed = json.loads(state.read_text(encoding="utf-8")).get("receipt") is not None
                except ValueError:
                    continue
                if committed and not (self.result_dir(entry.name) / "result.json").exists():
                    self.submit(entry.name, entry)

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)
            self._executor = None

    def _account_of(self, kommunenr: str, bydel: str) -> tuple[Account, Secret]:
        member = self._accounts.get(kommunenr, bydel) if self._accounts is not None else None
        return (member.account, member.pin) if member is not None else (self.account, self._pin)

    def result_dir(self, key: str) -> Path:
        return self.dir.ssb_dir / key

    # -- processing -------------------------------------------------------------------------
    def submit(self, key: str, submission_dir: Path) -> None:
        with self._lock:
            if self._executor is None:
                self.start()
            assert self._executor is not None
            if key in self._pending and not self._pending[key].done():
                return
            self._pending[key] = self._executor.submit(self._process, key, Path(submission_dir))

    def wait_idle(self, timeout: float = 60.0) -> None:
        with self._lock:
            futures = list(self._pending.values())
        concurrent.futures.wait(futures, timeout=timeout)

    def wait_processed(self, key: str, timeout: float = 30.0) -> dict[str, Any]:
        with self._lock:
            future = self._pending.get(key)
        if future is not None:
            future.result(timeout=timeout)
        path = self.result_dir(key) / "result.json"
        return json.loads(path.read_text(encoding="utf-8"))

    def _process(self, key: str, submission_dir: Path) -> dict[str, Any]:
        from iplos_tui.core.envelope import load_manifest
        from iplos_tui.sandbox.ssb import (
            FEILLISTE,
            KONTROLLTABELLER,
            SsbResult,
            check_content,
            feedback_name,
            feilliste_csv,
            kontrolltabeller_csv,
            make_feedback_zip,
            unusable_finding,
        )
        from iplos_tui.sandbox.tpf import TpfError, TpfResult, decrypt_part, process_identity

        state = json.loads((submission_dir / "state.json").read_text(encoding="utf-8"))
        receipt = state["receipt"]
        manifest = load_manifest(submission_dir)
        parts = submission_dir / "parts"
        sdir = self.dir
        tpf = TpfResult()
        fatal = None
        try:
            identity = decrypt_part(parts / manifest.identity_part.file, sdir.tpf_cert, sdir.tpf_key)
            tpf = process_identity(identity, manifest.year, sdir.tpf_secret_bytes())
        except TpfError as exc:
            fatal = f"TPF: {exc}"
        if fatal is None:
            result = check_content(
                [parts / p.file for p in manifest.content_parts],
                sdir.ssb_cert,
                sdir.ssb_key,
                year=manifest.year,
                kommunenr=manifest.kommunenr,
                bydel=manifest.bydel,
                persons=tpf.persons,
                tpf_findings=tpf.findings,
            )
        else:
            result = SsbResult(fatal=fatal, findings=[unusable_finding("identity", fatal)])
        received = dt.datetime.fromisoformat(receipt["received_at"])
        deliver_at = next_working_day_at(received)
        name = feedback_name(manifest.kommunenr, manifest.bydel, deliver_at.strftime("%Y%m%d"))
        account, pin = self._account_of(manifest.kommunenr, manifest.bydel)
        zip_bytes = make_feedback_zip(
            {FEILLISTE: feilliste_csv(result), KONTROLLTABELLER: kontrolltabeller_csv(result, manifest.year)},
            pin.reveal(),
        )
        out = ensure_private_dir(self.result_dir(key))
        atomic_write_bytes(out / name, zip_bytes)
        summary = {
            "key": key,
            "receipt_id": receipt["receipt_id"],
            "persons": result.persons,
            "findings": len(result.findings),
            "errors": result.errors,
            "fatal": result.fatal,
            "pseudonymised": sum(1 for p in tpf.persons.values() if p.pseudonym),
            "feedback_zip": name,
            "deliver_at": iso(deliver_at),
        }
        atomic_write_bytes(out / "result.json", (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        outbox = {
            "key": key,
            "deliver_at": iso(deliver_at),
            "receipt": receipt,
            "contact_email": manifest.contact_email or account.contact_email,
            "account": [account.kommunenr, account.bydel],
            "persons": result.persons,
            "zip": name,
            "delivered": None,
        }
        atomic_write_bytes(self.outbox / f"{key}.json", json.dumps(outbox, indent=2, ensure_ascii=False).encode("utf-8"))
        return summary

    # -- delivery ---------------------------------------------------------------------------
    def pending_deliveries(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.outbox.glob("*.json")):
            try:
                item = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            if not item.get("delivered"):
                out.append(item)
        return out

    def deliver_due(self) -> list[dict[str, Any]]:
        """Deliver everything whose time has come on the sandbox clock; returns what was delivered."""
        from iplos_tui.sandbox.mail import new_file_mail, receipt_mail

        delivered = []
        with self._deliver_lock:
            now = self.clock.now()
            for item in self.pending_deliveries():
                due = dt.datetime.fromisoformat(item["deliver_at"])
                if due > now:
                    continue
                key = item["key"]
                account, _ = self._account_of(*item.get("account", (self.account.kommunenr, self.account.bydel)))
                receipt_path = receipt_mail(
                    self.dir.mail_dir, to=item["contact_email"], receipt=item["receipt"],
                    account_name=account.name, persons=item["persons"], when=due,
                )
                data = (self.result_dir(key) / item["zip"]).read_bytes()
                username = account.postmottak
                file_id = self.gateway.put_file(
                    username, item["zip"], data, uploaded_by=UPLOADED_BY, upload_stamp=due,
                    comment=f"IPLOS {item['receipt']['year']} {item['receipt']['receipt_id']}",
                )
                notice_path = new_file_mail(
                    self.dir.mail_dir, to=username, file_name=item["zip"], size=len(data),
                    uploaded_by=UPLOADED_BY, tracking_id=file_id, when=due,
                )
                item["delivered"] = {
                    "at": iso(now),
                    "gateway_file_id": file_id,
                    "receipt_mail": str(receipt_path),
                    "new_file_mail": str(notice_path),
                }
                atomic_write_bytes(self.outbox / f"{key}.json", json.dumps(item, indent=2, ensure_ascii=False).encode("utf-8"))
                delivered.append(item)
        return delivered
