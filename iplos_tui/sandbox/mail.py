"""The mails the sandbox "sends": ``.eml`` files (RFC 5322, UTF-8) in the sandbox's mail folder.

Nothing is ever sent; each file is written atomically and named ``<when>-<kind>-<id>.eml`` so a
directory listing is in time order. Every message carries ``X-IPLOS-Sandbox: yes``.
"""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from iplos_tui.core.fsutil import atomic_write_bytes

SSB_SENDER = "Statistisk sentralbyrå <iplos@ssb.no>"
GATEWAY_SENDER = "Statistisk sentralbyrå <MoveitFilsluse@ssb.no>"
NEW_FILE_SUBJECT = "IPLOS-tilbakemelding: Ny fil for nedlasting"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:60]


def write_mail(mail_dir: Path, kind: str, ident: str, *, sender: str, to: str, subject: str, body: str, when: dt.datetime) -> Path:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="sandbox.iplos.invalid")
    message["X-IPLOS-Sandbox"] = "yes"
    message.set_content(body, charset="utf-8")
    name = f"{when.strftime('%Y%m%dT%H%M%S')}-{_slug(kind)}-{_slug(ident)}.eml"
    path = Path(mail_dir) / name
    atomic_write_bytes(path, bytes(message), mode=0o600)
    return path


def receipt_mail(mail_dir: Path, *, to: str, receipt: dict, account_name: str, persons: int, when: dt.datetime) -> Path:
    received = dt.datetime.fromisoformat(receipt["received_at"])
    body = (
        f"Statistisk sentralbyrå har mottatt og lest inn IPLOS-data for {receipt['year']}.\n\n"
        f"Kommune: {receipt['kommunenr']} {account_name}\n"
        f"Bydel: {receipt['bydel']}\n"
        f"Mottatt: {received.strftime('%d.%m.%Y kl. %H:%M')}\n"
        f"Kvitteringsnummer: {receipt['receipt_id']}\n"
        f"Antall personer: {persons}\n"
        f"Antall filer: {len(receipt['parts'])}\n\n"
        "Feillister og kontrolltabeller legges i filslusen. Passordet til zip-filen er den samme\n"
        "PIN-koden som ble brukt ved innsending.\n\n"
        "Dette er en e-post fra sandkassen i iplos-tui; ingenting er sendt.\n"
    )
    subject = f"Kvittering for mottatte IPLOS-data {receipt['kommunenr']}{receipt['bydel']} ({receipt['receipt_id']})"
    return write_mail(mail_dir, "kvittering", receipt["receipt_id"], sender=SSB_SENDER, to=to, subject=subject, body=body, when=when)


def new_file_mail(mail_dir: Path, *, to: str, file_name: str, size: int, uploaded_by: str, tracking_id: str, when: dt.datetime) -> Path:
    body = (
        "En ny fil er lagt i mappen din i SSBs filsluse.\n\n"
        f"File Name: {file_name}\n"
        f"Date and Time: {when.strftime('%d.%m.%Y %H:%M:%S')}\n"
        f"Size: {size} bytes\n"
        f"Uploaded By: {uploaded_by}\n"
        f"Tracking ID: {tracking_id}\n\n"
        "Flytt filen til sikker sone før den pakkes ut, og slett den fra filslusen etter nedlasting.\n"
        "Dette er en e-post fra sandkassen i iplos-tui; ingenting er sendt.\n"
    )
    return write_mail(mail_dir, "ny-fil", tracking_id, sender=GATEWAY_SENDER, to=to, subject=NEW_FILE_SUBJECT, body=body, when=when)
