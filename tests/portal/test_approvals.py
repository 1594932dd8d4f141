"""Approvals as the two people meet them, in two browsers against a real `keyward serve` with
its worker, gateway and a real SMTP server: the requester files a renewal and a revocation on
"API keys", the approver follows the e-mailed link to "Approvals", rejects one and approves the
other with a comment, and the requester sees both outcomes; the revoked key stops at the
gateway. An approver of another API sees none of it and can decide none of it."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.jobs.receivers import Mailbox
from tests.portal.acquirer_support import (
    create_key,
    provide,
    serious_problems,
    upstream,
)
from tests.portal.conftest import PASSWORD, Site, Visit, readme_screenshot, sign_in

POLICY = {
    "key_lifetime": "P30D",
    "renewal_requires_approval": True,
    "revocation_requires_approval": True,
    "issuance_requires_approval": False,
}


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with upstream() as url:
        yield url


def mailed(mailbox: Mailbox, to: str, subject: str) -> str:
    """The text of the e-mail to `to` about `subject`, once the worker has sent it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for mail in mailbox.mails:
            if to in mail.recipients and subject in mail.message["Subject"]:
                return str(mail.part("plain")) + str(mail.part("html"))
        time.sleep(0.1)
    raise AssertionError(f"no e-mail about {subject!r} reached {to}")


def name_approvers(site: Site, api_id: str, *member_ids: str) -> None:
    """Make the members the approvers the API's key policy names."""
    with site.api(site.admin_key) as client:
        policy = client.get(f"/v1/apis/{api_id}/policy").json()
        for location in policy["key_locations"]:
            location.pop("synthetic", None)
        answer = client.put(
            f"/v1/apis/{api_id}/policy", json={**policy, "approvers": list(member_ids)}
        )
    assert answer.status_code == 200, answer.text


def _row(page: Page, name: str) -> Locator:
    return page.locator("table.all-keys tbody tr").filter(
        has=page.locator("th .key-name", has_text=re.compile(rf"^{re.escape(name)}$"))
    )


def _request(page: Page, key_name: str) -> Locator:
    return page.locator("#pending li.request").filter(
        has=page.locator("h3", has_text=f"“{key_name}”")
    )


def _acquire_with_keys(page: Page, site: Site, *names: str) -> dict[str, str]:
    page.goto(f"{site.url}/catalogue")
    page.locator("li.offering button:has-text('Acquire')").click()
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    return {name: create_key(page, name) for name in names}


def _gateway_status(url: str, key: str) -> int:
    return httpx.get(f"{url}/pets/pets", headers={"X-API-Key": key}, timeout=10).status_code


def _eventually_status(url: str, key: str, status: int, within: float = 10) -> int:
    deadline = time.monotonic() + within
    seen = _gateway_status(url, key)
    while seen != status and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = _gateway_status(url, key)
    return seen


@pytest.mark.e2e
def test_a_request_filed_on_api_keys_is_decided_from_the_mailed_link_and_its_outcome_shown(
    mailing_site: Site, mailbox: Mailbox, visit: Visit, browser: Browser, upstream_url: str
) -> None:
    site = mailing_site
    ada = site.add_member("ada@example.com", "Ada Approver", roles=("approver",))
    provide(site, upstream_url, policy={**POLICY, "approvers": [ada]})
    requester = visit.page
    sign_in(requester, site.url, "alex@example.com")
    secrets = _acquire_with_keys(requester, site, "ci pipeline", "old laptop")
    gateway = site.server.gateway_url
    assert _eventually_status(gateway, secrets["old laptop"], 200) == 200

    requester.goto(f"{site.url}/keys")
    _row(requester, "ci pipeline").locator("button:has-text('Request renewal')").click()
    requester.wait_for_url(re.compile(r"/keys\?done=renewal-requested&key=key_\w+#keys$"))
    expect(requester.locator(".notice")).to_contain_text("Renewal requested")
    _row(requester, "old laptop").locator("a:has-text('Request revocation')").click()
    requester.fill("dialog[open] input[name=reason]", "Laptop <b>lost</b> on a train")
    requester.locator("dialog[open] button:has-text('Request revocation')").click()
    requester.wait_for_url(re.compile(r"done=revocation-requested"))
    ci, laptop = _row(requester, "ci pipeline"), _row(requester, "old laptop")
    expect(ci).to_contain_text("A renewal request is pending")
    expect(laptop).to_contain_text("A revocation request is pending")
    expect(laptop).to_contain_text("Delete: revoke it first.")
    expect(laptop.locator("button:has-text('Cancel request')")).to_be_visible()
    expect(ci.locator("button:has-text('Request renewal')")).to_have_count(0)

    # The approver's e-mails link to the approval inbox; following one asks to sign in first.
    about_renewal = mailed(mailbox, "ada@example.com", "Renewal requested")
    mailed(mailbox, "ada@example.com", "Revocation requested")
    link = re.search(r"http://\S+/approvals", about_renewal)
    assert link is not None, about_renewal
    assert link.group(0) == f"{site.url}/approvals"
    elsewhere = browser.new_context()
    try:
        approver = elsewhere.new_page()
        approver.goto(link.group(0))
        approver.fill("#email", "ada@example.com")
        approver.fill("#password", PASSWORD)
        approver.click("button:has-text('Sign in')")
        approver.wait_for_url(f"{site.url}/approvals")
        renewal, revocation = _request(approver, "ci pipeline"), _request(approver, "old laptop")
        expect(renewal.locator("h3")).to_have_text("Renewal of “ci pipeline”")
        expect(revocation.locator("h3")).to_have_text("Revocation of “old laptop”")
        expect(revocation).to_contain_text("Globex")
        expect(revocation).to_contain_text("Pets for partners acq_")
        expect(revocation).to_contain_text("Alex Acquirer")
        expect(revocation.locator(".reason")).to_have_text("Laptop <b>lost</b> on a train")
        expect(renewal).to_contain_text("30 days from approval")
        expect(revocation).to_contain_text("Stops working when approved")
        expect(revocation).to_contain_text("less than a minute")
        assert serious_problems(approver) == []
        readme_screenshot(approver, "approvals")

        renewal.locator("textarea").fill("Renew it next month, with the new contract.")
        renewal.locator("button:has-text('Reject')").click()
        approver.wait_for_url(re.compile(r"/approvals\?done=rejected$"))
        _request(approver, "old laptop").locator("textarea").fill("Approved: revoke it.")
        _request(approver, "old laptop").locator("button:has-text('Approve')").click()
        approver.wait_for_url(re.compile(r"/approvals\?done=approved$"))
        expect(approver.locator("#nothing-pending")).to_be_visible()
        decided = approver.locator("#decided tbody tr")
        expect(decided).to_have_count(2)
        expect(decided.filter(has_text="old laptop")).to_contain_text("approved")
        expect(decided.filter(has_text="old laptop")).to_contain_text("Ada Approver")
        expect(decided.filter(has_text="ci pipeline")).to_contain_text("rejected")
        expect(decided.filter(has_text="ci pipeline")).to_contain_text("new contract")
        assert serious_problems(approver) == []
        approver.screenshot(
            path=str(Path(__file__).parent / "screenshots" / "approvals_decided.png"),
            full_page=True,
        )
    finally:
        elsewhere.close()

    # The requester's e-mails link to their keys, and the page shows what was decided.
    told = mailed(mailbox, "alex@example.com", "Renewal of key “ci pipeline” rejected")
    assert f"{site.url}/keys" in told
    assert "new contract" in told
    assert f"{site.url}/keys" in mailed(mailbox, "alex@example.com", "Key “old laptop” revoked")
    requester.goto(f"{site.url}/keys")
    ci, laptop = _row(requester, "ci pipeline"), _row(requester, "old laptop")
    expect(laptop.locator(".state")).to_have_text("revoked")
    expect(laptop.locator("a:has-text('Delete')")).to_be_visible()
    expect(laptop).to_contain_text("Rotate: the key is revoked.")
    expect(ci.locator(".state")).to_have_text("active")
    expect(ci.locator(".pending")).to_have_count(0)
    expect(ci.locator("button:has-text('Request renewal')")).to_be_visible()
    assert _eventually_status(gateway, secrets["old laptop"], 401) == 401
    assert _gateway_status(gateway, secrets["ci pipeline"]) == 200
    assert serious_problems(requester) == []


@pytest.mark.e2e
def test_a_key_issued_under_approval_works_once_its_approver_approves_it(
    mailing_site: Site, mailbox: Mailbox, visit: Visit, browser: Browser, upstream_url: str
) -> None:
    site = mailing_site
    ada = site.add_member("ada@example.com", "Ada Approver", roles=("approver",))
    policy = {**POLICY, "issuance_requires_approval": True, "approvers": [ada]}
    provide(site, upstream_url, policy=policy)
    requester = visit.page
    sign_in(requester, site.url, "alex@example.com")
    secret = _acquire_with_keys(requester, site, "partner feed")["partner feed"]
    expect(requester.locator(".notice")).to_contain_text(
        "This key works once an approver of the API approves its issuance"
    )
    gateway = site.server.gateway_url
    refused = httpx.get(f"{gateway}/pets/pets", headers={"X-API-Key": secret}, timeout=10)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "key_not_approved")
    requester.goto(f"{site.url}/keys")
    pending = _row(requester, "partner feed")
    expect(pending).to_contain_text("Its issuance awaits an approver")
    expect(pending).to_contain_text("Rotate: not before its issuance is approved.")
    expect(pending.locator(".pending")).to_have_count(1)

    link = re.search(r"http://\S+/approvals", mailed(mailbox, "ada@example.com", "requested"))
    assert link is not None
    elsewhere = browser.new_context()
    try:
        approver = elsewhere.new_page()
        sign_in(approver, site.url, "ada@example.com")
        approver.goto(link.group(0))
        issuance = _request(approver, "partner feed")
        expect(issuance.locator("h3")).to_have_text("Issuance of “partner feed”")
        expect(issuance).to_contain_text("Not in use until approved")
        expect(issuance).to_contain_text("30 days from approval")
        expect(issuance).to_contain_text("Pets for partners acq_")
        assert serious_problems(approver) == []
        issuance.locator("button:has-text('Approve')").click()
        approver.wait_for_url(re.compile(r"/approvals\?done=approved$"))
        expect(approver.locator("#decided tbody tr")).to_contain_text("Issuance of “partner feed”")
    finally:
        elsewhere.close()
    assert _eventually_status(gateway, secret, 200) == 200
    requester.goto(f"{site.url}/keys")
    expect(_row(requester, "partner feed").locator(".pending")).to_have_count(0)
    expect(_row(requester, "partner feed").locator(".state")).to_have_text("active")


@pytest.mark.e2e
def test_the_requester_cancels_a_pending_request_and_the_key_stays(
    mailing_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = mailing_site
    provide(site, upstream_url, policy=POLICY)
    page = visit.page
    sign_in(page, site.url, "alex@example.com")
    _acquire_with_keys(page, site, "tablet")
    page.goto(f"{site.url}/keys")
    _row(page, "tablet").locator("a:has-text('Request revocation')").click()
    page.locator("dialog[open] button:has-text('Request revocation')").click()
    page.wait_for_url(re.compile(r"done=revocation-requested"))
    _row(page, "tablet").locator("button:has-text('Cancel request')").click()
    page.wait_for_url(re.compile(r"done=request-cancelled"))
    expect(page.locator(".notice")).to_contain_text("“tablet”: The request is cancelled")
    expect(_row(page, "tablet").locator(".pending")).to_have_count(0)
    expect(_row(page, "tablet").locator("a:has-text('Request revocation')")).to_be_visible()


@pytest.mark.e2e
def test_an_approver_of_another_api_sees_and_decides_none_of_its_requests(
    mailing_site: Site, visit: Visit, browser: Browser, upstream_url: str
) -> None:
    site = mailing_site
    provided = provide(site, upstream_url, policy=POLICY)
    with site.api(site.admin_key) as client:
        other = client.post(
            "/v1/apis",
            json={
                "name": "Stores",
                "upstream_url": upstream_url,
                "mount_path": "stores",
                "spec": '{"openapi": "3.0.3", "info": {"title": "S", "version": "1"}, "paths": {}}',
            },
        )
    assert other.status_code == 201, other.text
    sid = site.add_member("sid@example.com", "Sid Elsewhere", roles=("approver",))
    name_approvers(site, other.json()["id"], sid)
    page = visit.page
    sign_in(page, site.url, "alex@example.com")
    _acquire_with_keys(page, site, "shared")
    page.goto(f"{site.url}/keys")
    _row(page, "shared").locator("a:has-text('Request revocation')").click()
    page.locator("dialog[open] button:has-text('Request revocation')").click()
    page.wait_for_url(re.compile(r"done=revocation-requested"))
    with site.api(site.admin_key) as client:
        listed = client.get("/v1/key-requests", params={"status": "pending"}).json()["data"]
    [filed] = [r for r in listed if r["api_id"] == provided.api_id]

    elsewhere = browser.new_context()
    try:
        stranger = elsewhere.new_page()
        sign_in(stranger, site.url, "sid@example.com")
        stranger.goto(f"{site.url}/approvals")
        expect(stranger.locator("#nothing-pending")).to_be_visible()
        assert filed["id"] not in stranger.content()
        csrf = stranger.locator("input[name=csrf_token]").first.get_attribute("value")
        # Deciding it anyway answers exactly like a request that does not exist.
        answers = []
        for request_id in (filed["id"], "kreq_" + "0" * 26):
            answer = stranger.request.post(
                f"{site.url}/approvals/{request_id}/approve",
                form={"csrf_token": csrf or "", "comment": "mine now"},
                headers={"Origin": site.url},
            )
            answers.append((answer.status, answer.text().replace(request_id, "?")))
        assert answers[0][0] == 404, answers[0][1][-1500:]
        assert answers[0] == answers[1]
        assert answers[0][0] == 404
    finally:
        elsewhere.close()
    with site.api(site.admin_key) as client:
        still = client.get(f"/v1/key-requests/{filed['id']}").json()
    assert still["status"] == "pending"
