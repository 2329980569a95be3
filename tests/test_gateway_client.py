"""The gateway client (core/gateway) against the sandbox gateway and a fault-injecting one, over real TLS (I16–I18, I21–I23, F02, F09, F15, F18)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat

import pytest
from fault_gateway import serve_in_thread
from tests.support.gateway import GW_PASSWORD, USER

from iplos_tui.core.gateway import (
    GatewayAuthError,
    GatewayClient,
    GatewayError,
    GatewayIntegrityError,
    GatewayNetworkError,
    GatewayUsageError,
    PasswordChangeRequired,
    PasswordRequirements,
    Timeouts,
    check_new_password,
    resembles_username,
)
from iplos_tui.core.fsutil import TEMP_PREFIX
from iplos_tui.core.secrets import Secret
from iplos_tui.core.text import is_safe
from iplos_tui.sandbox.certs import issue_tls_server, make_ca
from iplos_tui.sandbox.gateway import Gateway

PASSWORD = GW_PASSWORD  # a canary too: must never show up in messages
NAME = "040300_iplos_tilbakemelding_20170207.zip"


def client(url, tls, **kw):
    return GatewayClient(url, ca_bundle=tls.ca, **kw)


def fetch(gw, file_or_id, directory, name=NAME):
    """Download one file under ``name`` (the fetch flow chooses local names; the client never does)."""
    remote = gw.file_details(file_or_id) if isinstance(file_or_id, str) else file_or_id
    return gw.download(remote, directory, name)


def no_leftovers(directory):
    return not directory.exists() or not any(p.name.startswith(TEMP_PREFIX) for p in directory.iterdir())


# ---- against the sandbox gateway ----------------------------------------------------------------

def test_login_list_download_verify_mark_delete(gateway, tls, secure_dir):
    ids = [gateway.put_file(USER, f"040300_iplos_tilbakemelding_2017020{i}.zip", os.urandom(1000 + i)) for i in range(1, 10)]
    target = secure_dir / "feedback"
    with client(gateway.url, tls, per_page=4) as gw:
        user = gw.login(USER, Secret(PASSWORD))
        assert user.username == USER and user.home_folder_id
        listed = gw.list_files().files
        assert sorted(f.id for f in listed) == sorted(ids)
        assert sum(1 for m, p in gateway.requests if p.endswith("/files") and m == "GET") == 3  # 9 files, 4 per page
        first = next(f for f in listed if f.id == ids[0])
        got = fetch(gw, first, target, first.name)
        assert got.path == target / first.name
        assert got.path.read_bytes() == (gateway.files_dir / ids[0]).read_bytes()
        assert got.sha1 == hashlib.sha1(got.path.read_bytes()).hexdigest()
        assert stat.S_IMODE(os.stat(got.path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o700
        again = fetch(gw, first, target, first.name)
        assert again.already_present and again.path == got.path
        gw.mark_not_new(first.id)
        assert first.id not in {f.id for f in gw.list_files(new_only=True).files}
        assert gw.file_details(first.id).is_new is False
        gw.delete(first.id)
        with pytest.raises(GatewayError) as info:
            gw.file_details(first.id)
        assert info.value.key == "not_found"
    assert no_leftovers(target)
    assert gateway._access == {}  # the token was revoked on close


def test_same_name_different_content_gets_a_new_local_name(gateway, tls, secure_dir):
    a = gateway.put_file(USER, NAME, b"first version")
    b = gateway.put_file(USER, NAME, b"second version")
    with client(gateway.url, tls) as gw:
        gw.login(USER, PASSWORD)
        one = fetch(gw, a, secure_dir)
        two = fetch(gw, b, secure_dir)
    assert one.path.name == NAME and two.path.name == NAME.replace(".zip", "-2.zip")
    assert one.path.read_bytes() == b"first version"


def test_hostile_names_are_listed_sanitised_and_never_become_paths(gateway, tls, secure_dir):
    """I21: ../x, /etc/x, a\\b, NUL, 4 KB, RTLO, escapes and markup: shown safely; the local
    name is always the caller's (FeedbackFetch stores strict feedback names only)."""
    names = ["../x.zip", "/etc/x", "a\\b.zip", "a\0b.zip", "n" * 4096, "\u202egpj.zip", "\x1b]0;t\x07[red]x[/].zip"]
    ids = [gateway.put_file(USER, name, name.encode("utf-8", "replace")) for name in names]
    with client(gateway.url, tls) as gw:
        gw.login(USER, PASSWORD)
        listed = {f.id: f for f in gw.list_files().files}
        for file_id in ids:
            entry = listed[file_id]
            assert is_safe(entry.display_name) and len(entry.display_name) <= 200
            got = fetch(gw, entry, secure_dir / "feedback", f"item-{file_id}.zip")
            assert got.path == secure_dir / "feedback" / f"item-{file_id}.zip"
    assert sorted(os.listdir(secure_dir)) == ["feedback"]


def test_wrong_password_then_lockout(gateway, tls):
    with client(gateway.url, tls) as gw:
        for _ in range(5):
            with pytest.raises(GatewayAuthError) as info:
                gw.login(USER, "Wrong-pass-1")
            assert info.value.key == "login_failed"
            assert PASSWORD not in info.value.message()
        with pytest.raises(GatewayAuthError) as info:
            gw.login(USER, PASSWORD)
        assert "locked" in info.value.message()
    assert sum(1 for m, p in gateway.requests if p == "/api/v1/token") == 6  # no hidden retries


def test_password_change_required_and_rules_checked_before_sending(gateway, tls):
    gateway.add_user(USER, PASSWORD, force_change_password=True)
    with client(gateway.url, tls) as gw:
        with pytest.raises(PasswordChangeRequired) as info:
            gw.login(USER, PASSWORD)
        requirements = info.value.requirements
        assert requirements.minimum_length == 6 and requirements.require_letters_numbers
        posts = sum(1 for _, p in gateway.requests if p == "/api/v1/token")
        for bad in ("abc12", "abcdefgh", "12345678", "Postmottak99", "hamar2017", "h4m4r-x9z"):
            with pytest.raises(GatewayUsageError):
                gw.login(USER, PASSWORD, new_password=bad, requirements=requirements)
        assert sum(1 for _, p in gateway.requests if p == "/api/v1/token") == posts  # never sent
        user = gw.login(USER, PASSWORD, new_password=Secret("Tilbake7meld"), requirements=requirements)
        assert user.username == USER
    with client(gateway.url, tls) as gw:
        with pytest.raises(GatewayAuthError):
            gw.login(USER, PASSWORD)
        gw.login(USER, "Tilbake7meld")


def test_expired_access_token_is_refreshed_once(gateway, tls):
    gateway.put_file(USER, NAME, b"x")
    with client(gateway.url, tls) as gw:
        gw.login(USER, PASSWORD)
        gateway._access.clear()  # the server forgot the access token (expired)
        assert len(gw.list_files().files) == 1
    assert sum(1 for _, p in gateway.requests if p == "/api/v1/token") == 2


def test_short_token_lifetime_refreshes_before_calls(gateway, tls):
    gateway.token_lifetime = 5  # below the client's 30 s margin: every call refreshes first
    with client(gateway.url, tls) as gw:
        gw.login(USER, PASSWORD)
        gw.list_files()
    assert sum(1 for _, p in gateway.requests if p == "/api/v1/token") >= 2


def test_unknown_ca_sends_nothing(gateway, tls):
    """F02: an untrusted certificate stops the client before any request reaches the server."""
    with GatewayClient(gateway.url, ca_bundle=tls.other_ca) as gw:
        with pytest.raises(GatewayNetworkError) as info:
            gw.login(USER, PASSWORD)
    assert info.value.key == "tls_verify"
    assert list(gateway.requests) == []


def test_expired_certificate_has_a_clock_hint(tmp_path):
    ca = make_ca("clock CA")
    old = issue_tls_server(ca, ["localhost"], ["127.0.0.1"], not_before=dt.datetime(2015, 1, 1), not_after=dt.datetime(2016, 1, 1))
    ca.write(tmp_path / "ca.pem")
    old.write(tmp_path / "s.pem", tmp_path / "s.key")
    gw_state = Gateway(tmp_path / "gw")
    with serve_in_thread(gw_state.app, certfile=tmp_path / "s.pem", keyfile=tmp_path / "s.key") as running:
        with GatewayClient(running.url, ca_bundle=tmp_path / "ca.pem") as gw:
            with pytest.raises(GatewayNetworkError) as info:
                gw.login(USER, PASSWORD)
    assert info.value.key == "tls_clock"
    assert list(gw_state.requests) == []


def test_environment_proxy_and_cert_file_are_ignored(gateway, tls, monkeypatch, secure_dir):
    """F15: HTTPS_PROXY pointing at a dead port and SSL_CERT_FILE with a foreign CA change nothing."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.other_ca))
    with client(gateway.url, tls) as gw:
        gw.login(USER, PASSWORD)


def test_plain_http_is_refused():
    with pytest.raises(GatewayUsageError):
        GatewayClient("http://127.0.0.1:1")


def test_password_rules():
    assert check_new_password("Tilbake7meld", USER) == []
    assert len(check_new_password("ab1", USER)) == 1
    assert check_new_password("abcdefg", USER) and check_new_password("1234567", USER)
    for bad in ("postmottak1", "P0stm0ttak9", "kattomtsop1", "hamar2024", "HAMAR-kommune1"):
        assert check_new_password(bad, USER), bad
    assert resembles_username("xx-h4m4r-99", USER)
    assert not resembles_username("Tilbake7meld", USER)
    strict = PasswordRequirements(minimum_length=10, require_mixed_case=True, require_non_alphanumeric=True)
    assert len(check_new_password("tilbake7me", USER, strict)) == 2
    assert check_new_password("Tilbake7me!", USER, strict) == []


# ---- against the fault server -------------------------------------------------------------------

def logged_in(faults, tls, **kw):
    gw = client(faults.url, tls, **kw)
    gw.login(USER, PASSWORD)
    return gw


@pytest.mark.parametrize(
    "fault,error,key",
    [
        ("wrong_sha1", GatewayIntegrityError, "sha1_mismatch"),
        ("truncated", GatewayNetworkError, "transport"),
        ("oversize", GatewayIntegrityError, "oversize"),
        ("short_length", GatewayIntegrityError, "size_mismatch"),
        ("gzip", GatewayIntegrityError, "encoded"),
        ("no_hash", GatewayIntegrityError, "no_hash"),
    ],
)
def test_bad_downloads_leave_nothing(faults, tls, secure_dir, fault, error, key):
    """I22/I23: size or SHA-1 differs, the stream is cut or too long: temp deleted, no file."""
    data = os.urandom(200_000)
    faults.add("11", NAME, data, fault=fault, size=len(data) - 10 if fault == "short_length" else None)
    target = secure_dir / "feedback"
    with logged_in(faults, tls) as gw:
        with pytest.raises(error) as info:
            fetch(gw, gw.list_files().files[0], target)
    assert info.value.key == key
    assert not target.exists() or list(target.iterdir()) == []


def test_endless_stream_is_cut_at_the_cap(faults, tls, secure_dir):
    faults.add("12", NAME, b"", fault="endless", size=1_000_000)
    with logged_in(faults, tls, max_download_bytes=2_000_000) as gw:
        with pytest.raises(GatewayIntegrityError) as info:
            fetch(gw, "12", secure_dir)
    assert info.value.key == "oversize"  # the byte cap, not a deadline, ended it
    assert os.listdir(secure_dir) == []


def test_announced_size_over_the_cap_is_not_downloaded(faults, tls, secure_dir):
    faults.add("13", NAME, b"x" * 5000)
    with logged_in(faults, tls, max_download_bytes=4000) as gw:
        with pytest.raises(GatewayIntegrityError) as info:
            fetch(gw, "13", secure_dir)
    assert info.value.key == "oversize" and faults.calls["download"] == 0


def test_slow_drip_hits_the_deadline(faults, tls, secure_dir):
    faults.add("14", NAME, b"0123456789" * 10, fault="slow")
    with logged_in(faults, tls, timeouts=Timeouts(request=0.5)) as gw:
        with pytest.raises(GatewayNetworkError) as info:
            fetch(gw, "14", secure_dir)
    assert info.value.key == "deadline"
    assert os.listdir(secure_dir) == []


def test_interrupted_download_then_retry(faults, tls, secure_dir):
    """F18: no partial file is ever visible; the retry verifies size and SHA-1."""
    data = os.urandom(300_000)
    item = faults.add("15", NAME, data, fault="truncated")
    with logged_in(faults, tls) as gw:
        with pytest.raises(GatewayNetworkError):
            fetch(gw, "15", secure_dir)
        assert os.listdir(secure_dir) == []
        item.fault = None
        got = fetch(gw, "15", secure_dir)
    assert got.path.read_bytes() == data


def test_upper_case_hash_is_accepted(faults, tls, secure_dir):
    faults.add("16", NAME, b"abc", fault="upper_hash")
    with logged_in(faults, tls) as gw:
        assert fetch(gw, "16", secure_dir).path.read_bytes() == b"abc"


def test_listing_drops_unusable_items_and_never_puts_bad_ids_in_urls(faults, tls):
    faults.add("17", NAME, b"abc")
    faults.list_mode = "bad_items"
    with logged_in(faults, tls) as gw:
        listing = gw.list_files()
        assert [f.id for f in listing.files] == ["17"]
        assert sorted(r.reason for r in listing.refused) == ["bad_id", "bad_id", "bad_size", "bad_size", "not_an_object"]
        for bad in ("../../api/v1/token", "1000\n", "17 "):
            with pytest.raises(GatewayError) as info:
                gw.file_details(bad)
            assert info.value.key == "bad_id"
    assert faults.calls["details"] == 0


@pytest.mark.parametrize("mode,key", [("huge", "too_large"), ("html", "not_json"), ("redirect", "redirect")])
def test_broken_listing_answers(faults, tls, mode, key):
    """I16 (HTML, 3 MB JSON) and I18 (redirect to http://): bounded, clear, not followed."""
    faults.list_mode = mode
    with logged_in(faults, tls) as gw:
        with pytest.raises(GatewayError) as info:
            gw.list_files()
    assert info.value.key == key
    assert is_safe(info.value.message())


def test_server_error_text_is_sanitised(faults, tls):
    """I17: markup and escape sequences in the error body stay inert text."""
    faults.list_mode = "error"
    with logged_in(faults, tls) as gw:
        with pytest.raises(GatewayError) as info:
            gw.list_files()
    message = info.value.message()
    assert "\x1b" not in message and "\x9b" not in message and is_safe(message)
    assert "[@click=app.quit]" in message  # literal; the UI renders it as plain text


def test_endless_paging_is_bounded(faults, tls):
    faults.list_mode = "endless_pages"
    with logged_in(faults, tls, per_page=1000) as gw:
        with pytest.raises(GatewayError) as info:
            gw.list_files()
    assert info.value.key == "too_many_items"
    assert faults.calls["list"] <= 11


def test_token_redirect_does_not_resend_the_password(faults, tls):
    faults.token_mode = "redirect"
    with client(faults.url, tls) as gw:
        with pytest.raises(GatewayError) as info:
            gw.login(USER, PASSWORD)
    assert info.value.key == "redirect"
    assert faults.calls["token:password"] == 1


@pytest.mark.parametrize("mode,key", [("mfa", "mfa"), ("notice", "security_notice"), ("html", "not_json"), ("bad_token", "bad_response")])
def test_token_answers_we_cannot_use(faults, tls, mode, key):
    faults.token_mode = mode
    with client(faults.url, tls) as gw:
        with pytest.raises(GatewayError) as info:
            gw.login(USER, PASSWORD)
    assert info.value.key == key
    assert is_safe(info.value.message()) and PASSWORD not in info.value.message() and PASSWORD not in repr(info.value)


def test_one_401_is_answered_by_one_refresh(faults, tls):
    faults.add("18", NAME, b"abc")
    with logged_in(faults, tls) as gw:
        faults.unauthorized_once = True
        assert len(gw.list_files().files) == 1
    assert faults.calls["401"] == 1 and faults.calls["token:refresh_token"] == 1


def test_password_is_not_in_the_client_or_its_repr(faults, tls):
    with logged_in(faults, tls) as gw:
        assert PASSWORD not in repr(gw) and PASSWORD not in repr(vars(gw))
    assert faults.forms[0]["password"] == PASSWORD


def test_home_folder_found_by_path_when_users_self_has_none(faults, tls):
    faults.add("19", NAME, b"abc")
    faults.home_zero = True
    with logged_in(faults, tls) as gw:
        assert [f.id for f in gw.list_files().files] == ["19"]
    assert faults.calls["folders_path:/Home/Ekstern/iplos/postmottak@x.kommune.no"] == 1


def test_environment_cert_file_does_not_add_trust(gateway, tls, monkeypatch):
    """F15: with no CA bundle configured, SSL_CERT_FILE naming the server's own CA must not make
    it trusted (only the system store counts)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca))
    monkeypatch.setenv("SSL_CERT_DIR", str(tls.ca.parent))
    with GatewayClient(gateway.url, ca_bundle=None) as gw:
        with pytest.raises(GatewayNetworkError) as info:
            gw.login(USER, PASSWORD)
    assert info.value.key.startswith("tls")
