"""A feedback archive built in memory for the README picture of the Feedback pane
(scripts/make_screens.py); synthetic numbers only (month + 80)."""

from __future__ import annotations

import hashlib

from iplos_tui.core.feedback.naming import parse_feedback_name
from iplos_tui.core.feedback.reader import FeedbackArchive, FeedbackEntry
from iplos_tui.core.feedback.tables import read_entry

ROWS = [
    ("P0007", "F001", "feil", "fnr", "01918099960", "Ugyldig fødselsnummer"),
    ("P0019", "F014", "advarsel", "timer", "170", "Mer enn 168 timer per uke"),
    ("P0023", "F014", "advarsel", "timer", "212", "Mer enn 168 timer per uke"),
    ("P0031", "F022", "advarsel", "orgnr", "", "Mangler orgnr for tjenesten"),
    ("P0044", "F030", "feil", "vedtaksdato", "2018-13-01", "Ugyldig dato"),
    ("P0052", "F014", "advarsel", "timer", "190", "Mer enn 168 timer per uke"),
    ("P0068", "F041", "merknad", "skår", "7", "Skår utenfor 1–5 og 9"),
    ("P0071", "F001", "feil", "fnr", "17927200000", "Ugyldig fødselsnummer"),
]
NAME = "040300_iplos_tilbakemelding_20180109.zip"


def demo_archive() -> FeedbackArchive:
    feil = ("\ufefflokal_id;regel;alvorlighet;felt;verdi;melding\r\n" + "".join(";".join(r) + "\r\n" for r in ROWS)).encode("utf-8")
    kontroll = ("\ufefftjeneste;aldersgruppe;brukere;timer\r\n" + "".join(f"{c};{a};{(c * 7 + a) % 97};{c * 3.5}\r\n" for c in range(1, 12) for a in (0, 18, 67, 80))).encode("utf-8")
    entries = []
    for entry_name, data in (("feilliste.csv", feil), ("kontrolltabeller.csv", kontroll)):
        stored, refusal = read_entry([data], name=entry_name, source=NAME)
        entries.append(FeedbackEntry(entry_name, len(data), hashlib.sha256(data).hexdigest(), stored, refusal))
    return FeedbackArchive(source=NAME, info=parse_feedback_name(NAME), entries=tuple(entries))
