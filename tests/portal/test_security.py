"""The portal's safety rules without a browser: where a sign-in may return to, which forms are
taken as this site's own, which headers every page carries."""

import pytest
from starlette.requests import Request
from starlette.responses import Response

from keyward.portal.security import (
    CONTENT_SECURITY_POLICY,
    CsrfRefused,
    check_csrf,
    check_form_origin,
    cookie_name,
    local_path,
    protect,
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/account/keys", "/account/keys"),
        ("/account/keys?unused_days=30&cursor=abc", "/account/keys?unused_days=30&cursor=abc"),
        (None, "/"),
        ("", "/"),
        ("account/keys", "/"),
        ("//evil.example/steal", "/"),
        ("/\\evil.example", "/"),
        ("/ok\\..\\x", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\x00", "/"),
        ("/line\nbreak", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_a_sign_in_returns_only_to_a_path_of_this_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def _request(**headers: str) -> Request:
    raw = [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "headers": [(b"host", b"portal.test"), *raw]})


def test_a_form_another_site_sent_is_refused() -> None:
    check_form_origin(_request())
    check_form_origin(_request(origin="http://portal.test"))
    check_form_origin(_request(sec_fetch_site="same-origin"))
    for refused in (
        _request(origin="https://evil.example"),
        _request(origin="null"),
        _request(sec_fetch_site="cross-site"),
        _request(origin="http://portal.test.evil.example"),
    ):
        with pytest.raises(CsrfRefused):
            check_form_origin(refused)


def test_a_csrf_token_must_be_the_sessions_own() -> None:
    check_csrf("the token", "the token")
    for wrong in (None, "", "the token ", "another"):
        with pytest.raises(CsrfRefused):
            check_csrf("the token", wrong)


def test_secure_cookies_are_host_only_by_name() -> None:
    assert cookie_name("keyward_session", secure=True) == "__Host-keyward_session"
    assert cookie_name("keyward_session", secure=False) == "keyward_session"


def test_every_page_is_protected_the_same_way() -> None:
    headers = protect(Response("page")).headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
