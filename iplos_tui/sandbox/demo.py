"""The demo municipality (Hamar, test numbers only) used by the README's pictures and the tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from iplos_tui.core.config import Profile

DEMO_PROFILE = Profile(
    kommunenr="0403",
    bydel="00",
    orgnr="974550571",  # a correct MOD11 number (test value)
    year=2017,
    contact_email="iplos@hamar.kommune.no",
    contact_mobile="91234567",
    postmottak="postmottak@hamar.kommune.no",
    secure_dir=Path("/srv/iplos/secure"),
    ssb_certificate=Path("/srv/iplos/keys/ssb-2017.pem"),
    tpf_certificate=Path("/srv/iplos/keys/tpf-2017.pem"),
)
# Monday 8 January 2018, in the submission window: stable pictures and snapshots.
DEMO_NOW = dt.datetime(2018, 1, 8, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
