"""The sandbox gateway as a server: field names, paging envelope and error bodies as in the MOVEit definition."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.support.gateway import USER

from iplos_tui.sandbox.gateway import Gateway

OTHER = "postmottak@stange.kommune.no"
PASSWORD = "Hemmelig42"
# Progress's published definition, the operations we use (kept in the project: no skip)
SPEC = json.loads((Path(__file__).parent.parent / "docs" / "reference" / "moveit-transfer-openapi-subset.json").read_text())


@pytest.fixture
def gw(gateway_server, tmp_path):
    holder, running = gateway_server
    gateway = Gateway(tmp_path / "state")
    gateway.add_user(USER, PASSWORD)
    gateway.add_user(OTHER, "Annet99pass")
    holder.target = gateway.app
    gateway.url = running.url
    return gateway


@pytest.fixture
def http(gw, tls):
    with httpx.Client(base_url=gw.url, verify=ssl.create_default_context(cafile=str(tls.ca)), trust_env=False) as client:
        yield client


def token(http, username=USER, password=PASSWORD) -> dict:
    response = http.post("/api/v1/token", data={"grant_type": "password", "username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def auth(http, **kw) -> dict:
    return {"Authorization": f"Bearer {token(http, **kw)['access_token']}"}


def definition_fields(name: str) -> set[str]:
    return set(SPEC["definitions"][name]["properties"])


def test_token_models(http):
    body = token(http)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert set(body) <= definition_fields("TokenAcquiredModel")
    refreshed = http.post("/api/v1/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200
    reused = http.post("/api/v1/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert reused.status_code == 400 and set(reused.json()) == definition_fields("RequestTokenError")
    wrong = http.post("/api/v1/token", data={"grant_type": "password", "username": USER, "password": "nope"})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    revoked = http.post("/api/v1/token/revoke", data={"token": refreshed.json()["access_token"]})
    assert revoked.status_code == 200 and set(revoked.json()) == definition_fields("RevokeTokenResponse")
    assert http.get("/api/v1/users/self", headers={"Authorization": "Bearer " + refreshed.json()["access_token"]}).status_code == 401


def test_password_change_required_body(gw, http):
    gw.add_user(USER, PASSWORD, force_change_password=True)
    response = http.post("/api/v1/token", data={"grant_type": "password", "username": USER, "password": PASSWORD})
    body = response.json()
    assert response.status_code == 400 and body["error"] == "password_change_required" and body["error_code"] == 3988
    assert set(body) <= definition_fields("RequestTokenPasswordChangeRequiredError")
    assert set(body["password_requirements"]) == definition_fields("PasswordRequirementsHeaderDto")
    weak = http.post("/api/v1/token", data={"grant_type": "password", "username": USER, "password": PASSWORD, "new_password": "hamar123"})
    assert weak.status_code == 400 and weak.json()["error_code"] == 3988
    ok = http.post("/api/v1/token", data={"grant_type": "password", "username": USER, "password": PASSWORD, "new_password": "Nytt7pass"})
    assert ok.status_code == 200


def test_user_folder_and_file_models(gw, http):
    for i in range(1, 31):
        gw.put_file(USER, f"040300_iplos_tilbakemelding_201702{i % 28 + 1:02d}-{i:02d}.zip", b"x" * i)
    headers = auth(http)
    me = http.get("/api/v1/users/self", headers=headers).json()
    assert set(me) == definition_fields("UserDetailsModel")
    folders = http.get("/api/v1/folders", headers=headers).json()
    assert set(folders) == definition_fields("PagedModelOfSimpleFolderModel")
    assert [f["path"] for f in folders["items"]] == [f"/Home/Ekstern/iplos/{USER}"]
    assert set(folders["items"][0]) == definition_fields("SimpleFolderModel")
    assert set(folders["items"][0]["permission"]) == definition_fields("IFolderPermission")
    folder_id = me["homeFolderID"]
    details = http.get(f"/api/v1/folders/{folder_id}", headers=headers).json()
    assert set(details) == definition_fields("FolderDetailsModel")
    page = http.get(f"/api/v1/folders/{folder_id}/files", headers=headers).json()
    assert set(page) == {"items", "paging", "sorting"}
    assert page["paging"] == {"page": 1, "perPage": 25, "totalItems": 30, "totalPages": 2}
    assert set(page["paging"]) == definition_fields("PagingInfoModel")
    assert set(page["sorting"][0]) == definition_fields("SortFieldDto")
    assert set(page["items"][0]) == definition_fields("SimpleFileResourceModel")
    second = http.get(f"/api/v1/folders/{folder_id}/files", params={"page": 2, "sortField": "size", "sortDirection": "desc"}, headers=headers).json()
    assert [i["size"] for i in second["items"]] == [5, 4, 3, 2, 1]
    file_id = page["items"][0]["id"]
    assert isinstance(file_id, str)
    full = http.get(f"/api/v1/files/{file_id}", headers=headers).json()
    assert set(full) == definition_fields("FileDetailsModel")
    assert len(full["hash"]) == 40
    everything = http.get("/api/v1/files", params={"newOnly": "true", "perPage": 100}, headers=headers).json()
    assert set(everything) == definition_fields("SimpleFileResourcePagedModel")
    assert everything["paging"]["totalItems"] == 30


def test_download_patch_delete(gw, http):
    file_id = gw.put_file(USER, "a.zip", b"content")
    headers = auth(http)
    download = http.get(f"/api/v1/files/{file_id}/download", headers=headers)
    assert download.status_code == 200 and download.content == b"content"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-length"] == "7"
    patched = http.patch(f"/api/v1/files/{file_id}", json={"isNew": False}, headers=headers)
    assert patched.status_code == 200 and patched.json()["isNew"] is False and patched.json()["downloadCount"] == 1
    assert http.delete(f"/api/v1/files/{file_id}", headers=headers).status_code == 204
    gone = http.get(f"/api/v1/files/{file_id}", headers=headers)
    assert gone.status_code == 404 and set(gone.json()) == definition_fields("ErrorModel")


@pytest.mark.parametrize(
    "method,path,kwargs,status",
    [
        ("GET", "/api/v1/users/self", {"headers": {}}, 401),
        ("GET", "/api/v1/users/self", {"headers": {"Authorization": "Bearer nonsense"}}, 401),
        ("GET", "/api/v1/folders/abc/files", {}, 404),
        ("GET", "/api/v1/folders/1001/files", {}, 403),
        ("GET", "/api/v1/files", {"params": {"page": "x"}}, 400),
        ("GET", "/api/v1/files", {"params": {"perPage": "-1"}}, 400),
        ("GET", "/api/v1/files", {"params": {"sortField": "evil"}}, 400),
        ("GET", "/api/v1/files", {"params": {"newOnly": "maybe"}}, 400),
        ("GET", "/api/v1/files", {"params": {"sinceDate": "2001-01-01"}}, 400),
        ("GET", "/api/v1/nope", {}, 404),
        ("PUT", "/api/v1/files", {}, 405),
        ("PATCH", "/api/v1/files/FILE", {"content": b"{not json", "headers_ct": "application/json"}, 400),
        ("PATCH", "/api/v1/files/FILE", {"json": {"isNew": "no"}}, 400),
        ("PATCH", "/api/v1/files/FILE", {"json": {"name": "../x"}}, 400),
        ("PATCH", "/api/v1/files/FILE", {"json": {"owner": "me"}}, 400),
        ("PATCH", "/api/v1/files/FILE", {"content": b"x" * 200_000, "headers_ct": "application/json"}, 413),
        ("GET", "/api/v1/files/OTHER", {}, 403),
    ],
)
def test_malformed_requests_get_an_error_model_and_the_server_stays_up(gw, http, method, path, kwargs, status):
    mine = gw.put_file(USER, "mine.zip", b"1")
    other = gw.put_file(OTHER, "theirs.zip", b"2")
    path = path.replace("FILE", mine).replace("OTHER", other)
    headers = auth(http)
    kwargs = dict(kwargs)
    headers = kwargs.pop("headers", headers)
    if "headers_ct" in kwargs:
        headers = {**headers, "Content-Type": kwargs.pop("headers_ct")}
    response = http.request(method, path, headers=headers, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == definition_fields("ErrorModel")
    assert http.get("/api/v1/users/self", headers=auth(http)).status_code == 200


def test_token_endpoint_refuses_other_encodings(http):
    response = http.post("/api/v1/token", json={"grant_type": "password"})
    assert response.status_code == 400 and "title" in response.json()
    response = http.post("/api/v1/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_state_survives_a_restart_and_resets_by_deleting(gw, tmp_path):
    file_id = gw.put_file(USER, "keep.zip", b"kept")
    again = Gateway(gw.root)
    assert [f.id for f in again.list_user_files(USER)] == [file_id]
    assert again.put_file(USER, "next.zip", b"n") != file_id
    shutil.rmtree(gw.root)
    fresh = Gateway(gw.root)
    assert fresh.users == {}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_speaks_to_it(gw, tls):
    """A real peer: curl gets a token and lists the folder with the same CA."""
    gw.put_file(USER, "040300_iplos_tilbakemelding_20170207.zip", b"zip")
    base = ["curl", "-sS", "--cacert", str(tls.ca), "--noproxy", "*"]
    out = subprocess.run(
        [*base, "-d", "grant_type=password", "--data-urlencode", f"username={USER}", "--data-urlencode", f"password={PASSWORD}", f"{gw.url}/api/v1/token"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    access = json.loads(out.stdout)["access_token"]
    out = subprocess.run([*base, "-H", f"Authorization: Bearer {access}", f"{gw.url}/api/v1/files"], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout)["items"][0]["name"] == "040300_iplos_tilbakemelding_20170207.zip"


def test_two_instances_on_one_directory_see_each_other(gw, http):
    """`iplos sandbox` commands in another process put files while the server runs."""
    other_process_view = Gateway(gw.root)
    file_id = other_process_view.put_file(USER, "later.zip", b"late")
    headers = auth(http)
    listed = http.get("/api/v1/files", headers=headers).json()["items"]
    assert [item["id"] for item in listed] == [file_id]
    http.patch(f"/api/v1/files/{file_id}", json={"isNew": False}, headers=headers)
    assert other_process_view.list_user_files(USER)[0].is_new is False
