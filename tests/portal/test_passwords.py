"""Invitations and password resets as a person meets them: the e-mail arrives at a real SMTP
server, its link opens in a real Chromium, and the password set there signs in."""

import re
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.jobs.receivers import Mailbox
from tests.portal.acquirer_support import create_key, key_row, provide, serious_problems, upstream
from tests.portal.conftest import PASSWORD, Site, Visit, sign_in

NEW_PASSWORD = "violet anchor marmalade tunnel"
LINK = re.compile(r"http://\S+/(?:welcome|reset)/pwl_[0-9A-Za-z]+")


@pytest.fixture
def mailing_site(module_mailing_site: Site) -> Site:
    """One server for the module: no two tests name the same person or organization."""
    return module_mailing_site


@pytest.fixture
def mailbox(module_mailbox: Mailbox) -> Mailbox:
    return module_mailbox


def link_mailed(mailbox: Mailbox, to: str, subject: str, seen: int = 0) -> str:
    """The link of the next e-mail to `to` about `subject`, once the worker has sent it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        mails = [m for m in mailbox.mails if to in m.recipients and subject in m.message["Subject"]]
        if len(mails) > seen:
            found = LINK.search(mails[seen].part("plain"))
            assert found is not None, mails[seen].part("plain")
            assert found.group(0) in mails[seen].part("html")
            return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no e-mail about {subject!r} reached {to}")


def invited(site: Site, email: str) -> str:
    with site.api(site.admin_key) as client:
        made = client.post(
            "/v1/members", json={"email": email, "name": "Sam Invitee", "roles": ["acquirer"]}
        )
        assert made.status_code == 201, made.text
        sent = client.post(f"/v1/members/{made.json()['id']}/invitations")
    assert sent.status_code == 202, sent.text
    assert sent.json()["email"] == email
    return str(made.json()["id"])


@pytest.mark.e2e
def test_an_invited_person_sets_a_password_from_the_mailed_link_and_signs_in(
    mailing_site: Site, mailbox: Mailbox, visit: Visit
) -> None:
    invited(mailing_site, "sam@example.com")
    link = link_mailed(mailbox, "sam@example.com", "invited")
    assert link.startswith(mailing_site.url + "/welcome/")
    page = visit.page
    page.goto(link)
    expect(page.get_by_role("heading", name="Welcome to keyward")).to_be_visible()
    expect(page.get_by_text("sam@example.com")).to_be_visible()
    page.fill("#password", "passwordpassword")
    page.fill("#password_again", "passwordpassword")
    page.click("button:has-text('Set password')")
    expect(page.locator("#password-error")).to_contain_text("too easy to guess")
    assert serious_problems(page) == []
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_again", NEW_PASSWORD + " typo")
    page.click("button:has-text('Set password')")
    expect(page.locator("#password-error")).to_contain_text("differ")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_again", NEW_PASSWORD)
    page.click("button:has-text('Set password')")
    expect(page.get_by_role("status")).to_contain_text("Your password is set")
    sign_in(page, mailing_site.url, "sam@example.com", NEW_PASSWORD)
    expect(page.locator(".who")).to_have_text("Sam Invitee")
    page.goto(link)  # used once: it does nothing any more
    expect(page.get_by_role("heading", name="Link not usable")).to_be_visible()


@pytest.mark.e2e
def test_a_forgotten_password_is_reset_by_mail_without_telling_who_is_a_member(
    mailing_site: Site, mailbox: Mailbox, visit: Visit, browser: Browser
) -> None:
    mailing_site.add_member("kim@example.com", "Kim Member")
    elsewhere = browser.new_context()
    try:
        other = elsewhere.new_page()
        sign_in(other, mailing_site.url, "kim@example.com")
        expect(other.locator(".who")).to_have_text("Kim Member")
        page = visit.page
        page.goto(f"{mailing_site.url}/login")
        page.click("text=Forgot your password?")
        assert serious_problems(page) == []
        answers = []
        for email in ("nobody@example.com", "kim@example.com"):
            page.fill("#email", email)
            page.click("button:has-text('Send me a link')")
            answers.append(page.get_by_role("status").inner_text())
        assert answers[0] == answers[1]
        link = link_mailed(mailbox, "kim@example.com", "Reset")
        assert not [m for m in mailbox.mails if "nobody@example.com" in m.recipients]
        page.goto(link)
        page.fill("#password", NEW_PASSWORD)
        page.fill("#password_again", NEW_PASSWORD)
        page.click("button:has-text('Set password')")
        expect(page.get_by_role("status")).to_contain_text("Your password is set")
        other.goto(mailing_site.url + "/")  # the reset signed Kim out everywhere
        expect(other).to_have_url(re.compile(r"/login"))
        sign_in(page, mailing_site.url, "kim@example.com", PASSWORD)
        expect(page.get_by_role("alert")).to_be_visible()  # the old password is gone
        sign_in(page, mailing_site.url, "kim@example.com", NEW_PASSWORD)
        expect(page.locator(".who")).to_have_text("Kim Member")
    finally:
        elsewhere.close()


@pytest.mark.e2e
def test_an_admin_invites_a_person_from_the_portal_and_an_acquirer_cannot(
    mailing_site: Site, mailbox: Mailbox, visit: Visit
) -> None:
    mailing_site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
    mailing_site.add_member("abe@example.com", "Abe Acquirer")
    page = visit.page
    sign_in(page, mailing_site.url, "abe@example.com")
    expect(page.get_by_role("link", name="Invite a person")).to_have_count(0)
    answer = page.goto(f"{mailing_site.url}/invite")
    assert answer is not None
    assert answer.status == 403
    page.goto(f"{mailing_site.url}/logout/everywhere")  # a GET changes nothing: still signed in
    page.goto(f"{mailing_site.url}/")
    expect(page.locator(".who")).to_have_text("Abe Acquirer")
    page.click("button:has-text('Sign out')")

    sign_in(page, mailing_site.url, "ada@example.com")
    page.click("text=Invite a person")
    page.fill("#invite-email", "abe@example.com")
    page.fill("#invite-name", "Abe Again")
    page.click("button:has-text('Send invitation')")
    expect(page.locator("#email-error")).to_be_visible()  # a member has that address already
    assert serious_problems(page) == []
    page.fill("#invite-email", "new@example.com")
    page.fill("#invite-name", '"><img src=x onerror=alert(1)>')
    page.select_option("#invite-role", "acquirer")
    page.click("button:has-text('Send invitation')")
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to new@example.com")
    link = link_mailed(mailbox, "new@example.com", "invited")
    page.goto(link)
    expect(page.get_by_role("heading", name="Welcome to keyward")).to_be_visible()
    assert visit.dialogs == []
    with mailing_site.api(mailing_site.admin_key) as client:
        listed = client.get("/v1/members").json()["data"]
    invited = next(m for m in listed if m["email"] == "new@example.com")
    assert (invited["name"], invited["roles"], invited["has_password"]) == (
        '"><img src=x onerror=alert(1)>',
        ["acquirer"],
        False,
    )


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with upstream() as url:
        yield url


def _gateway_status(gateway_url: str, key: str) -> int:
    return httpx.get(f"{gateway_url}/pets/pets", headers={"X-API-Key": key}, timeout=10).status_code


@pytest.mark.e2e
def test_invited_then_two_named_keys_one_deleted_stops_at_the_gateway(
    mailing_site: Site, mailbox: Mailbox, visit: Visit, upstream_url: str
) -> None:
    """The whole way a person goes: invitation e-mail, password, sign-in, acquisition, two
    named keys, one copied and used at the gateway, deleted, refused there."""
    provided = provide(mailing_site, upstream_url)
    with mailing_site.api(mailing_site.admin_key) as client:
        made = client.post(
            "/v1/members",
            json={
                "email": "dana@example.com",
                "name": "Dana Newcomer",
                "roles": ["acquirer"],
                "organization_ids": [provided.globex],
            },
        ).json()
        assert client.post(f"/v1/members/{made['id']}/invitations").status_code == 202
    page = visit.page
    page.goto(link_mailed(mailbox, "dana@example.com", "invited"))
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_again", NEW_PASSWORD)
    page.click("button:has-text('Set password')")
    sign_in(page, mailing_site.url, "dana@example.com", NEW_PASSWORD)
    page.click("nav.sections a:has-text('Catalogue')")
    page.locator("li.offering button:has-text('Acquire')").click()
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    first = create_key(page, "Mulder")
    page.click("button[data-copy]")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == first
    second = create_key(page, "Partner Co")
    gateway = mailing_site.server.gateway_url
    deadline = time.monotonic() + 10
    while _gateway_status(gateway, copied) != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gateway_status(gateway, copied) == 200
    key_row(page, "Mulder").locator("a:has-text('Delete')").click()
    page.locator("dialog[open] button:has-text('Delete key')").click()
    page.wait_for_url(re.compile(r"\?done=deleted$"))
    deadline = time.monotonic() + 2
    while _gateway_status(gateway, copied) != 401 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gateway_status(gateway, copied) == 401
    assert _gateway_status(gateway, second) == 200
