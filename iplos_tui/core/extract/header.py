"""The Header's field checks: the municipality, district and organisation numbers and the
contact, against the profile when one is given (the year is the validator's, which resolves it)."""

from __future__ import annotations

from iplos_tui.core import identifiers
from iplos_tui.core.extract.model import Header
from iplos_tui.core.extract.rules import Finding, finding, parse_datetime_ok, shown


def header_field_findings(h: Header, year: int, profile_kommunenr: str | None, profile_bydel: str | None) -> list[Finding]:
    out: list[Finding] = []
    line = h.line
    # Not the profile's municipality or district: the file is someone else's (fatal), whatever
    # else is wrong with the number; without a profile, an invalid number is an error.
    verdict = identifiers.check_kommunenr(h.kommunenr or "", year)
    if profile_kommunenr and h.kommunenr != profile_kommunenr:
        out.append(finding("header.kommunenr_profile", None, line, "Kommunenr", shown(h.kommunenr), profile=profile_kommunenr))
    elif not verdict.ok:
        out.append(finding("header.kommunenr", None, line, "Kommunenr", shown(h.kommunenr), detail=verdict.message))
    verdict = identifiers.check_bydel(h.bydel or "", h.kommunenr or "")
    if profile_bydel and h.bydel != profile_bydel:
        out.append(finding("header.bydel_profile", None, line, "Bydel", shown(h.bydel), profile=profile_bydel))
    elif not verdict.ok:
        out.append(finding("header.bydel", None, line, "Bydel", shown(h.bydel), detail=verdict.message))
    elif verdict.severity == "warning" and h.bydel != profile_bydel:
        out.append(finding("header.bydel_unusual", None, line, "Bydel", shown(h.bydel), detail=verdict.message))
    verdict = identifiers.check_orgnr(h.orgnr or "")
    if not verdict.ok:
        out.append(finding("header.orgnr", None, line, "Orgnr", shown(h.orgnr), detail=verdict.message))
    verdict = identifiers.check_email(h.contact_email or "")
    if not verdict.ok:
        out.append(finding("header.contact", None, line, "ContactEmail", shown(h.contact_email), detail=verdict.message))
    if h.contact_mobile:
        verdict = identifiers.check_mobile(h.contact_mobile)
        if not verdict.ok:
            out.append(finding("header.contact", None, line, "ContactMobile", shown(h.contact_mobile), detail=verdict.message))
    if h.produced_at and not parse_datetime_ok(h.produced_at):
        out.append(finding("header.produced_at", None, line, "ProducedAt", shown(h.produced_at)))
    return out
