"""Usage charts in a real Chromium: requests sent through a real gateway with a key show, by
status class, on the charts of the key, its acquisition, the offering and the API, for whoever
may see each; another organization's acquirer gets pages that say nothing."""

import re
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.processes import serve_gateway
from tests.portal.acquirer_support import (
    create_key,
    key_row,
    member,
    provide,
    serious_problems,
    upstream,
)
from tests.portal.conftest import Site, Visit, readme_screenshot, sign_in

pytestmark = pytest.mark.e2e

CLASSES = ("2xx", "3xx", "4xx", "5xx")
# What the test sends through the gateway with the key, by the status the upstream answers.
SENT = {200: 3, 201: 1, 404: 2, 503: 1}
EXPECTED = {"2xx": 4, "3xx": 0, "4xx": 2, "5xx": 1}


def chart_data(page: Page) -> dict[str, int]:
    """The chart's counts by status class, summed over its buckets' data attributes."""
    buckets: list[dict[str, str]] = page.eval_on_selector_all(
        "svg rect.bucket", "columns => columns.map(c => Object.assign({}, c.dataset))"
    )
    return {c: sum(int(b[c]) for b in buckets) for c in CLASSES}


def table_data(page: Page) -> dict[str, int]:
    """The same counts read from the table of numbers (inside its closed details element)."""
    # A row: its bucket, then a cell per status class, then the total.
    cells = {
        c: page.locator(f".usage-table tbody td:nth-child({i + 2})") for i, c in enumerate(CLASSES)
    }
    return {c: sum(int(text) for text in cells[c].all_text_contents()) for c in CLASSES}


def assert_shows(page: Page, expected: dict[str, int]) -> None:
    chart = page.locator("svg.usage-svg")
    for status, count in expected.items():
        expect(chart).to_have_attribute(f"data-{status}", str(count))
    assert chart_data(page) == expected
    assert table_data(page) == expected
    expect(page.locator(".usage-totals li[data-status='2xx'] .usage-count")).to_have_text(
        str(expected["2xx"])
    )


def stored_totals(site: Site, acquisition_id: str) -> dict[str, int]:
    with site.api(site.admin_key) as client:
        answer = client.get(f"/v1/acquisitions/{acquisition_id}/usage")
    assert answer.status_code == 200, answer.text
    totals: dict[str, int] = answer.json()["totals"]
    return totals


def test_requests_through_the_gateway_show_on_every_chart_to_whoever_may_see_it(
    site: Site, visit: Visit, browser: Browser, tmp_path: Path
) -> None:
    with upstream() as upstream_url:
        provided = provide(site, upstream_url)
        with site.api(site.admin_key) as client:
            provider_org = client.get(f"/v1/apis/{provided.api_id}").json()[
                "provider_organization_id"
            ]
        member(site, "pat@example.com", "Pat Provider", provider_org, role="provider")
        page = visit.page
        sign_in(page, site.url, "alex@example.com")
        page.goto(f"{site.url}/catalogue")
        page.locator("li.offering button:has-text('Acquire')").click()
        page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
        acquisition_id = page.url.rsplit("/", 1)[1].split("?")[0]
        secret = create_key(page, "Dana <Scully>")
        key_id = key_row(page, "Dana <Scully>").get_attribute("data-key-id")

        with serve_gateway(
            site.database_url, tmp_path, KEYWARD_USAGE_FLUSH_INTERVAL="0.2"
        ) as gateway:
            with httpx.Client(base_url=gateway.url, timeout=10) as client:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # until the gateway knows the new API
                    if client.get("/pets/pets", headers={"X-API-Key": "x"}).status_code == 401:
                        break
                    time.sleep(0.1)
                for status, times in SENT.items():
                    for _ in range(times):
                        answer = client.get(
                            "/pets/pets", params={"status": status}, headers={"X-API-Key": secret}
                        )
                        assert answer.status_code == status
                # A request without a key is no key's: it counts nowhere.
                assert client.get("/pets/pets").status_code == 401
            deadline = time.monotonic() + 10
            while stored_totals(site, acquisition_id) != EXPECTED and time.monotonic() < deadline:
                time.sleep(0.2)
        assert stored_totals(site, acquisition_id) == EXPECTED

        # The acquirer: the key's chart from its row, the acquisition's from its page.
        page.goto(f"{site.url}/acquisitions/{acquisition_id}")
        key_row(page, "Dana <Scully>").locator("a:has-text('Usage')").click()
        page.wait_for_url(f"**/usage/keys/{key_id}")
        expect(page.locator("h1")).to_have_text("Usage of key “Dana <Scully>”")
        assert_shows(page, EXPECTED)
        expect(page.locator(".lead time")).to_have_count(1)  # last used
        assert secret not in page.content()
        assert serious_problems(page) == []
        page.click("nav.usage-spans a:has-text('30 days, by day')")
        page.wait_for_url(re.compile(r"span=30d$"))
        expect(page.locator("svg.usage-svg")).to_have_attribute("data-granularity", "day")
        expect(page.locator("svg rect.bucket")).to_have_count(31)
        assert_shows(page, EXPECTED)

        page.goto(f"{site.url}/acquisitions/{acquisition_id}")
        page.click("#acquisition-usage")
        page.wait_for_url(f"**/usage/acquisitions/{acquisition_id}")
        assert_shows(page, EXPECTED)
        page.click("nav.usage-spans a:has-text('7 days, by hour')")
        page.wait_for_url(re.compile(r"span=7d-hourly$"))
        expect(page.locator("svg rect.bucket")).to_have_count(169)
        assert_shows(page, EXPECTED)
        assert serious_problems(page) == []
        # An acquirer sees the offering and API in the catalogue, not everyone's traffic.
        for path in (f"/usage/offerings/{provided.offering_id}", f"/usage/apis/{provided.api_id}"):
            refused = page.goto(f"{site.url}{path}")
            assert refused is not None
            assert refused.status == 403, path

        # The provider: the API's, the offering's and the acquisition's charts.
        provider = browser.new_context().new_page()
        try:
            sign_in(provider, site.url, "pat@example.com")
            for path in (
                f"/usage/apis/{provided.api_id}",
                f"/usage/offerings/{provided.offering_id}",
                f"/usage/acquisitions/{acquisition_id}",
            ):
                shown = provider.goto(f"{site.url}{path}")
                assert shown is not None
                assert shown.status == 200, path
                assert_shows(provider, EXPECTED)
                assert serious_problems(provider) == []
            provider.goto(f"{site.url}/usage/apis/{provided.api_id}")
            expect(provider.locator("h1")).to_have_text("Usage of API Pets")
            readme_screenshot(provider, "usage")
        finally:
            provider.context.close()

        # Another organization's acquirer: the key and acquisition are not found, exactly as
        # missing ones; the offering and API are in its catalogue, their traffic is not.
        other = browser.new_context().new_page()
        try:
            sign_in(other, site.url, "bo@example.com")
            for path, missing_path in (
                (f"/usage/keys/{key_id}", "/usage/keys/key_" + "0" * 26),
                (f"/usage/acquisitions/{acquisition_id}", "/usage/acquisitions/acq_" + "0" * 26),
            ):
                missing = other.goto(f"{site.url}{missing_path}")
                assert missing is not None
                missing_text = other.locator("main").inner_text()
                hidden = other.goto(f"{site.url}{path}")
                assert hidden is not None
                assert (hidden.status, missing.status) == (404, 404)
                ident = path.rsplit("/", 1)[1]
                expect(other.locator("main")).to_have_text(
                    missing_text.replace(missing_path.rsplit("/", 1)[1], ident)
                )
            for path in (
                f"/usage/offerings/{provided.offering_id}",
                f"/usage/apis/{provided.api_id}",
            ):
                refused = other.goto(f"{site.url}{path}")
                assert refused is not None
                assert refused.status == 403
                assert "Dana" not in other.content()
        finally:
            other.context.close()
        # Every refusal is in the audit log, as the API's are.
        with site.api(site.admin_key) as client:
            refused = client.get(
                "/v1/audit-events", params={"outcome": "refused", "target": acquisition_id}
            ).json()["data"]
            refused_api = client.get(
                "/v1/audit-events", params={"outcome": "refused", "target": provided.api_id}
            ).json()["data"]
        assert [e["action"] for e in refused] == ["portal.usage_acquisition"]
        assert {e["action"] for e in refused_api} == {"portal.usage_api"}
        assert len(refused_api) == 2  # Alex's and Bo's
        page.goto(f"{site.url}/usage/keys/{key_id}")


def test_a_range_the_portal_does_not_offer_is_refused_and_an_empty_chart_says_so(
    site: Site, visit: Visit
) -> None:
    site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
    page = visit.page
    sign_in(page, site.url, "ada@example.com")
    key = site.key_of("ada@example.com", "quiet", "keys:read")
    page.goto(f"{site.url}/account/keys")
    page.locator("tr", has_text="quiet").locator("a:has-text('Usage')").click()
    page.wait_for_url(f"**/usage/keys/{key['id']}")
    expect(page.locator("h1")).to_have_text("Usage of account key “quiet”")
    assert chart_data(page) == dict.fromkeys(CLASSES, 0)
    page.click("details.usage-numbers summary")
    expect(page.locator("details.usage-numbers")).to_contain_text("No responses in this range.")
    expect(page.locator(".lead")).to_contain_text("Last used: never")
    bad = page.request.get(f"{site.url}/usage/keys/{key['id']}?span=1y")
    assert bad.status == 400
    assert serious_problems(page) == []
