"""A minimal Sendemodul client for the sandbox's own tests (httpx, straight from the protocol doc).

The product's client is ``iplos_tui/core/sendemodul.py``; this one exists so the server's tests
do not depend on it and say exactly which bytes go over the wire.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import httpx


def client_for(server) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(server.ca_bundle))
    return httpx.Client(base_url=server.sendemodul_url + "api/v1/", verify=context, trust_env=False, timeout=30.0)


def login(client: httpx.Client, server, pin: str | None = None, **changes: str) -> httpx.Response:
    account = server.account
    body = {"kommunenr": account.kommunenr, "bydel": account.bydel, "orgnr": account.orgnr,
            "pin": server.pin.reveal() if pin is None else pin}
    body.update(changes)
    return client.post("login", json=body)


def session(client: httpx.Client, server) -> dict[str, str]:
    answer = login(client, server)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['session']}"}


def headers(auth: dict[str, str], key: str, body: bytes | None = None) -> dict[str, str]:
    out = dict(auth, **{"Idempotency-Key": key})
    if body is not None:
        out["Content-SHA256"] = hashlib.sha256(body).hexdigest()
    return out


def open_submission(client: httpx.Client, auth: dict[str, str], key: str, manifest: bytes) -> httpx.Response:
    return client.put(f"submissions/{key}", content=manifest, headers=headers(auth, key, manifest))


def put_part(client: httpx.Client, auth: dict[str, str], key: str, name: str, data: bytes, sha256: str | None = None) -> httpx.Response:
    h = headers(auth, key, data)
    if sha256 is not None:
        h["Content-SHA256"] = sha256
    return client.put(f"submissions/{key}/parts/{name}", content=data, headers=h)


def commit(client: httpx.Client, auth: dict[str, str], key: str) -> httpx.Response:
    return client.post(f"submissions/{key}/commit", headers=headers(auth, key))


def lookup(client: httpx.Client, auth: dict[str, str], key: str) -> httpx.Response:
    return client.get(f"submissions/{key}", headers=headers(auth, key))


def send_envelope(client: httpx.Client, auth: dict[str, str], key: str, envelope: Path) -> dict:
    import json

    manifest = (envelope / "manifest.json").read_bytes()
    answer = open_submission(client, auth, key, manifest)
    assert answer.status_code in (200, 201), answer.text
    for part in json.loads(manifest)["parts"]:
        answer = put_part(client, auth, key, part["file"], (envelope / part["file"]).read_bytes())
        assert answer.status_code in (200, 201), answer.text
    answer = commit(client, auth, key)
    assert answer.status_code == 200, answer.text
    return answer.json()
