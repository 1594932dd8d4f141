"""Admin → Webhook endpoints as an admin clicks through them, against a real `keyward serve`
whose worker POSTs to a real receiver on 127.0.0.1: the secret shown once, a signed test
event in the delivery log, a failing receiver's attempts and error, Redeliver, Rotate secret."""

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from keyward.jobs.transports import DELIVERY_HEADER, SIGNATURE_HEADER, verify_signature
from tests.jobs.receivers import Hook, HookReceiver, hook_receiver
from tests.portal.acquirer_support import serious_problems
from tests.portal.conftest import Site, Visit, running_site, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    with hook_receiver() as running:
        yield running


@pytest.fixture
def working_site(tmp_path: Path) -> Iterator[Site]:
    """A site with its worker delivering every 0.2 s."""
    with running_site(tmp_path / "site", part="all", KEYWARD_WORKER_INTERVAL="0.2") as site:
        site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
        yield site


def hooks_received(receiver: HookReceiver, count: int) -> list[Hook]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if len(receiver.received) >= count:
            return receiver.received
        time.sleep(0.1)
    raise AssertionError(f"the receiver got {len(receiver.received)} deliveries, not {count}")


def signed_by(hook: Hook, secret: str) -> bool:
    return verify_signature(
        secret,
        hook.headers[DELIVERY_HEADER],
        hook.headers[SIGNATURE_HEADER],
        hook.body,
        time.time(),
    )


def create_endpoint(page: Page, site: Site, url: str) -> tuple[str, str]:
    """Create an endpoint in the portal; its id and the secret its show-once card shows."""
    page.goto(f"{site.url}/admin/webhooks")
    page.fill("#hook-url", url)
    page.fill("#hook-description", "ops <alerts>")
    page.click("button:has-text('Create endpoint')")
    expect(page.get_by_role("heading", name=re.compile("New endpoint http"))).to_be_visible()
    secret = page.locator("#new-signing-secret").inner_text()
    assert secret.startswith("whsec_")
    page.click("text=Open its delivery log")
    endpoint_id = page.url.rsplit("/", 1)[-1]
    assert endpoint_id.startswith("whk_")
    return endpoint_id, secret


def delivery_row(page: Page, status: str, timeout: float = 20) -> None:
    """Reload the delivery log until its newest delivery shows `status`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.reload()
        if page.locator("table.deliveries tbody tr").first.locator(".state").inner_text() == status:
            return
        time.sleep(0.3)
    raise AssertionError(f"the newest delivery did not become {status}")


def test_a_test_event_reaches_the_receiver_signed_and_the_log_shows_it_delivered(
    working_site: Site, receiver: HookReceiver, visit: Visit
) -> None:
    page = visit.page
    sign_in(page, working_site.url, "ada@example.com")
    page.click("nav.sections >> text=Admin")
    page.click("text=Webhook endpoints")
    assert serious_problems(page) == []
    endpoint_id, secret = create_endpoint(page, working_site, receiver.url)
    page.goto(f"{working_site.url}/admin/webhooks")
    assert secret not in page.content(), "the secret is shown once"
    expect(page.locator(f"tr[data-endpoint-id='{endpoint_id}'] td").first).to_have_text(
        "ops <alerts>"
    )
    page.goto(f"{working_site.url}/admin/webhooks/{endpoint_id}")
    assert secret not in page.content()
    page.click("button:has-text('Send test event')")
    expect(page.get_by_role("status")).to_contain_text("Test event queued")
    (hook,) = hooks_received(receiver, 1)
    assert signed_by(hook, secret)
    body = json.loads(hook.body)
    assert body["type"] == "webhook.test"
    assert body["data"]["endpoint_id"] == endpoint_id
    delivery_row(page, "delivered")
    row = page.locator("table.deliveries tbody tr").first
    assert row.get_attribute("data-delivery-id") == hook.headers[DELIVERY_HEADER]
    expect(row.locator("td").nth(1)).to_have_text("1")
    assert serious_problems(page) == []

    page.click("text=Rotate secret")
    expect(
        page.get_by_role("heading", name="Give this endpoint a new signing secret?")
    ).to_be_visible()
    assert serious_problems(page) == []
    expect(page.get_by_label("The old secret keeps signing for")).to_have_value("PT24H")
    page.click("button:has-text('Rotate secret')")
    rotated = page.locator("#new-signing-secret").inner_text()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    expect(page.locator("section.secret")).to_contain_text(
        "The old secret also signs deliveries until"
    )
    assert serious_problems(page) == []
    page.click("button:has-text('Send test event')")
    second = hooks_received(receiver, 2)[1]
    assert signed_by(second, rotated)
    assert signed_by(second, secret), "the old secret signs too for 24 hours"
    assert rotated not in page.content()

    page.click("text=Rotate secret")
    page.get_by_label("The old secret keeps signing for").select_option("PT0S")
    page.click("button:has-text('Rotate secret')")
    again = page.locator("#new-signing-secret").inner_text()
    expect(page.locator("section.secret")).to_contain_text(
        "The old secret no longer signs anything."
    )
    page.click("button:has-text('Send test event')")
    third = hooks_received(receiver, 3)[2]
    assert signed_by(third, again)
    assert not signed_by(third, rotated), "with no grace the old secret stops at once"
    assert not signed_by(third, secret)


def test_a_failing_receiver_shows_attempts_and_last_error_then_redeliver_delivers(
    working_site: Site, receiver: HookReceiver, visit: Visit
) -> None:
    receiver.statuses = [503, 410]  # a retry, then a refusal that gives the delivery up
    page = visit.page
    sign_in(page, working_site.url, "ada@example.com")
    _, secret = create_endpoint(page, working_site, receiver.url)
    page.click("button:has-text('Send test event')")
    delivery_row(page, "retrying")
    row = page.locator("table.deliveries tbody tr").first
    expect(row.locator("td").nth(1)).to_have_text("1")
    expect(row.locator("td").nth(2)).to_have_text("the webhook answered HTTP 503")
    expect(row.locator("td").nth(4)).to_contain_text("next try")
    expect(row.locator("button:has-text('Redeliver')")).to_have_count(0)
    delivery_row(page, "failed")
    row = page.locator("table.deliveries tbody tr").first
    failed_id = row.get_attribute("data-delivery-id")
    expect(row.locator("td").nth(1)).to_have_text("2")
    expect(row.locator("td").nth(2)).to_have_text("the webhook refused the delivery: HTTP 410")
    assert receiver.received == []
    # The receiver is fixed (it answers 204 from now on): send the failed delivery again.
    row.locator("button:has-text('Redeliver')").click()
    expect(page.get_by_role("status")).to_contain_text("Sent again")
    (hook,) = hooks_received(receiver, 1)
    assert signed_by(hook, secret)
    assert hook.headers[DELIVERY_HEADER] != failed_id
    delivery_row(page, "delivered")
    newest = page.locator("table.deliveries tbody tr").first
    expect(newest.locator("th")).to_contain_text(f"again: {failed_id}")
    assert json.loads(hook.body)["type"] == "webhook.test"
    assert serious_problems(page) == []
    endpoint_url = page.url.split("?")[0]
    page.click("text=Delete endpoint")
    expect(page.get_by_role("heading", name="Delete this webhook endpoint?")).to_be_visible()
    assert serious_problems(page) == []
    page.click("button:has-text('Delete endpoint')")
    expect(page.get_by_role("status")).to_contain_text("Webhook endpoint deleted")
    expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
    gone = page.goto(endpoint_url)
    assert gone is not None
    assert gone.status == 404


def test_a_hostile_webhook_url_is_refused_on_the_form(tmp_path: Path, visit: Visit) -> None:
    # Without the tests' loopback allowance: the operator's default policy.
    with running_site(
        tmp_path / "site", KEYWARD_EGRESS_ALLOW="", KEYWARD_EGRESS_ALLOW_HTTP="false"
    ) as site:
        site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
        page = visit.page
        sign_in(page, site.url, "ada@example.com")
        for url in (
            "https://127.0.0.1:9/hook",
            "https://169.254.169.254/latest",
            "https://10.0.0.7/x",
        ):
            page.goto(f"{site.url}/admin/webhooks")
            page.fill("#hook-url", url)
            page.click("button:has-text('Create endpoint')")
            expect(page.locator("#url-error")).to_be_visible()
            expect(page.locator("#new-signing-secret")).to_have_count(0)
        expect(page.locator("#hook-url")).to_have_attribute("aria-invalid", "true")
        assert serious_problems(page) == []
        page.goto(f"{site.url}/admin/webhooks")
        expect(page.get_by_text("No webhook endpoints yet.")).to_be_visible()
