"""Signing in and out of the portal in a real browser, and what every portal answer carries."""

import re
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, expect

from keyward.portal.security import CONTENT_SECURITY_POLICY
from tests.portal.conftest import PASSWORD, Site, Visit, running_site, sign_in

pytestmark = pytest.mark.e2e

REFUSED = "The e-mail address or password is not right."


@pytest.fixture
def site(shared_site: Site) -> Site:
    """One server for the module; every test signs in as people of its own. Their failed
    sign-ins stay below the server's limit per client address."""
    return shared_site


def _session_cookie(visit: Visit) -> dict[str, object]:
    [cookie] = [c for c in visit.page.context.cookies() if c["name"] == "keyward_session"]
    return dict(cookie)


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    site: Site, visit: Visit
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    answers = []
    for email, password in (
        (site.email("alex"), "not the right password"),
        (site.email("nobody"), PASSWORD),
    ):
        page.goto(f"{site.url}/login")
        page.fill("#email", email)
        page.fill("#password", password)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.click("button:has-text('Sign in')")
        answers.append((posted.value.status, page.locator("#sign-in-error").inner_text()))
        assert page.url == f"{site.url}/login"
        expect(page.locator("#email")).to_have_value(email)
    assert answers == [(422, REFUSED), (422, REFUSED)]
    assert not [c for c in page.context.cookies() if c["name"] == "keyward_session"]


def test_sign_in_is_refused_for_a_while_after_repeated_failures(site: Site, visit: Visit) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    for _ in range(5):
        sign_in(page, site.url, site.email("alex"), "a wrong password")
        expect(page.locator("#sign-in-error")).to_have_text(REFUSED)
    page.goto(f"{site.url}/login")
    page.fill("#email", site.email("alex"))
    page.fill("#password", PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button:has-text('Sign in')")
    assert posted.value.status == 429
    assert int(posted.value.headers["retry-after"]) > 800
    expect(page.locator("#sign-in-error")).to_have_text(
        "Too many attempts; try again in 15 minutes."
    )
    page.goto(f"{site.url}/")
    assert page.url.startswith(f"{site.url}/login")


def test_a_session_cookie_set_before_sign_in_is_not_accepted_after_it(
    site: Site, visit: Visit, browser: Browser
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    planted = "a-session-id-an-attacker-chose-for-the-victim"
    page.context.add_cookies([{"name": "keyward_session", "value": planted, "url": site.url}])
    sign_in(page, site.url, site.email("alex"))
    assert page.url == f"{site.url}/"
    issued = _session_cookie(visit)
    assert issued["value"] != planted
    assert (issued["httpOnly"], issued["sameSite"], issued["path"]) == (True, "Lax", "/")
    assert issued["secure"] is False  # plain http here; see the TLS test below

    attacker = browser.new_context()
    attacker.add_cookies([{"name": "keyward_session", "value": planted, "url": site.url}])
    stolen_tab = attacker.new_page()
    stolen_tab.goto(f"{site.url}/account/keys")
    assert stolen_tab.url == f"{site.url}/login?next=%2Faccount%2Fkeys"
    attacker.close()

    # A sign-in form left open in another tab signs in anew: the session before is ended.
    page.click("button:has-text('Sign out')")
    tab = page.context.new_page()
    tab.goto(f"{site.url}/login")
    sign_in(page, site.url, site.email("alex"))
    before = _session_cookie(visit)
    tab.fill("#email", site.email("alex"))
    tab.fill("#password", PASSWORD)
    tab.click("button:has-text('Sign in')")
    assert tab.url == f"{site.url}/"
    after = _session_cookie(visit)
    assert after["value"] != before["value"]
    earlier = browser.new_context()
    earlier.add_cookies(
        [{"name": "keyward_session", "value": str(before["value"]), "url": site.url}]
    )
    old_tab = earlier.new_page()
    old_tab.goto(f"{site.url}/")
    assert old_tab.url.startswith(f"{site.url}/login")
    earlier.close()
    tab.close()


def test_signing_out_ends_the_session_and_pages_then_ask_to_sign_in(
    site: Site, visit: Visit, browser: Browser
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    expect(page.locator("h1")).to_have_text("Welcome, Alex Acquirer")
    token = _session_cookie(visit)["value"]
    page.click("button:has-text('Sign out')")
    assert page.url == f"{site.url}/login?done=signed-out"
    expect(page.locator(".notice")).to_have_text("You have signed out.")
    page.goto(f"{site.url}/account/keys")
    assert page.url == f"{site.url}/login?next=%2Faccount%2Fkeys"
    replay = browser.new_context()
    replay.add_cookies([{"name": "keyward_session", "value": str(token), "url": site.url}])
    tab = replay.new_page()
    tab.goto(f"{site.url}/")
    assert tab.url.startswith(f"{site.url}/login")
    replay.close()
    # Signing in from there goes back where the browser was going, and only within the site.
    page.fill("#email", site.email("alex"))
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    assert page.url == f"{site.url}/account/keys"
    page.click("button:has-text('Sign out')")
    page.goto(f"{site.url}/login?next=//evil.example/steal")
    page.fill("#email", site.email("alex"))
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    assert page.url == f"{site.url}/"


def test_signing_out_everywhere_ends_every_session_of_the_member(
    site: Site, visit: Visit, browser: Browser
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    other = browser.new_context()
    laptop = other.new_page()
    sign_in(laptop, site.url, site.email("alex"))
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.click("button:has-text('Sign out everywhere')")
    expect(page.locator(".notice")).to_have_text("You have signed out on every device.")
    laptop.goto(f"{site.url}/account/keys")
    assert laptop.url.startswith(f"{site.url}/login")
    other.close()


def test_an_expired_session_sends_the_browser_to_sign_in(tmp_path: Path, visit: Visit) -> None:
    with running_site(tmp_path / "short", KEYWARD_SESSION_LIFETIME="3") as site:
        site.add_member(site.email("alex"), "Alex Acquirer")
        page = visit.page
        sign_in(page, site.url, site.email("alex"))
        signed_at = time.monotonic()
        page.goto(f"{site.url}/account/keys")
        assert page.url == f"{site.url}/account/keys"
        time.sleep(max(0.0, 3.5 - (time.monotonic() - signed_at)))
        page.goto(f"{site.url}/account/keys")
        assert page.url == f"{site.url}/login?next=%2Faccount%2Fkeys"
        assert not [c for c in page.context.cookies() if c["name"] == "keyward_session"]


def test_a_deactivated_member_is_signed_out_and_cannot_sign_in(site: Site, visit: Visit) -> None:
    member_id = site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    with site.api(site.admin_key) as client:
        done = client.patch(f"/v1/members/{member_id}", json={"active": False})
    assert done.status_code == 200
    page.goto(f"{site.url}/account/keys")
    assert page.url.startswith(f"{site.url}/login")
    page.fill("#email", site.email("alex"))
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("#sign-in-error")).to_have_text(REFUSED)


def test_every_portal_answer_carries_the_security_headers(site: Site, visit: Visit) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    answers = []
    page.on("response", lambda response: answers.append(response))
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    page.goto(f"{site.url}/account/keys/key_{'0' * 26}/revoke")
    pages = [r for r in answers if "/static/" not in r.url]
    assets = [r for r in answers if "/static/" in r.url]
    assert {r.status for r in pages} >= {200, 303, 404}
    assert len(assets) >= 2
    for response in pages:
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, response.url
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    for response in assets:
        assert response.headers["x-content-type-options"] == "nosniff"
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    html = page.content()
    assert "<style" not in html
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None
    assert "http://" not in re.sub(r"http://127\.0\.0\.1:\d+", "", html)


def test_cookies_are_secure_when_the_portal_is_reached_over_tls(tmp_path: Path) -> None:
    with running_site(tmp_path / "proxied", KEYWARD_BEHIND_TLS_PROXY="true") as site:
        answer = httpx.get(f"{site.url}/login")
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-keyward_sign_in=")
        assert all(part in cookie for part in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"))
    with running_site(tmp_path / "direct") as site:
        # A proxy on this host says the browser came over https.
        answer = httpx.get(f"{site.url}/login", headers={"X-Forwarded-Proto": "https"})
        assert answer.headers["set-cookie"].startswith("__Host-keyward_sign_in=")
        assert "Secure" in answer.headers["set-cookie"]
        plain = httpx.get(f"{site.url}/login")
        assert plain.headers["set-cookie"].startswith("keyward_sign_in=")
        assert "Secure" not in plain.headers["set-cookie"]


def test_a_sign_in_form_from_another_site_or_without_its_token_is_refused(site: Site) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    with httpx.Client(base_url=site.url) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        fields = {"email": site.email("alex"), "password": PASSWORD, "next": "/"}
        missing = client.post("/login", data=fields)
        assert missing.status_code == 403
        assert missing.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        cross = client.post(
            "/login",
            data={**fields, "csrf_token": token.group(1)},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        assert "keyward_session" not in cross.headers.get("set-cookie", "")
        done = client.post("/login", data={**fields, "csrf_token": token.group(1)})
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        assert done.headers["set-cookie"].startswith("keyward_session=")
