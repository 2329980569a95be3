"""The gateway row proves the server is a MOVEit Transfer answering its REST API: the public
``GET /api/v1/info`` (PublicOrgModel) instead of a 404 called "OK". The sandbox gateway serves it
field for field as Progress's definition says."""

from __future__ import annotations

import ssl

import httpx
import pytest


# PublicOrgModel in moveit-transfer-openapi.json (Swagger 2.0, release 2025.1): name -> type.
PUBLIC_ORG_MODEL = {
    "id": str, "name": str, "shortName": str, "language": str, "formattingLocale": str,
    "securityBanner": str, "securityNotice": str, "securityNoticeStamp": str, "securityNoticeRequired": str,
    "securityNoticeAcceptance": str, "techInfo": str, "techName": str, "techPhone": str, "techEmail": str,
    "informationLink": str, "informationLinkName": str, "contactLink": str, "contactLinkName": str,
    "allowPassChangeRequests": bool, "baseURL": str, "mfaTrustDeviceEnabled": bool, "ssoAuthMode": str,
    "samlAuthMode": str,
}
ENUMS = {"securityNoticeRequired": {"NotRequired", "WhenNew", "Always"}, "ssoAuthMode": {"Invalid", "Optional", "Required"}}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    pytest.importorskip("uvicorn", reason="the sandbox extra (uvicorn) is not installed")
    from iplos_tui.sandbox.server import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("sandbox")) as server:
        yield server


def test_sandbox_gateway_serves_public_info_as_the_definition_says(sandbox):
    context = ssl.create_default_context(cafile=str(sandbox.ca_bundle))
    with httpx.Client(base_url=sandbox.gateway_url, verify=context, trust_env=False, timeout=10) as client:
        info = client.get("/api/v1/info")  # public: no token
        other = client.get("/api/v1/info", params={"orgId": "77"})
        bad = client.get("/api/v1/info", params={"orgId": "x"})
    assert info.status_code == 200 and info.headers["content-type"].startswith("application/json")
    body = info.json()
    assert set(body) == set(PUBLIC_ORG_MODEL)
    for name, kind in PUBLIC_ORG_MODEL.items():
        assert isinstance(body[name], kind), name
    for name, allowed in ENUMS.items():
        assert body[name] in allowed
    assert body["baseURL"] == sandbox.gateway_url
    assert other.status_code == 404 and set(other.json()) == {"detail", "errorCode", "title"}
    assert bad.status_code == 400 and set(bad.json()) == {"detail", "errorCode", "title"}
