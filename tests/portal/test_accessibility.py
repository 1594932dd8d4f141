"""Every portal page, in each state a person meets it, has no serious or critical accessibility
problem that axe-core finds."""

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.portal.conftest import Site, Visit, sign_in

pytestmark = pytest.mark.e2e

AXE = Axe()


def _problems(page: Page) -> list[str]:
    results: dict[str, Any] = AXE.run(page).response
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_no_page_has_a_serious_accessibility_problem(site: Site, visit: Visit) -> None:
    site.add_member("alex@example.com", "Alex Acquirer")
    page = visit.page
    found: list[str] = []
    page.goto(f"{site.url}/login")
    found += _problems(page)
    sign_in(page, site.url, "alex@example.com", "not the password")
    found += _problems(page)
    sign_in(page, site.url, "alex@example.com")
    found += _problems(page)
    page.goto(f"{site.url}/account/keys")
    found += _problems(page)
    page.click("button:has-text('Generate key')")
    found += _problems(page)
    page.fill("#key-name", "ci pipeline")
    page.check("input[name=permission][value='keys:read']")
    page.click("button:has-text('Generate key')")
    found += _problems(page)
    page.locator("a:has-text('Revoke')").click()
    found += _problems(page)
    page.keyboard.press("Escape")
    page.goto(
        f"{site.url}/account/keys/{page.locator('tbody tr').get_attribute('data-key-id')}/revoke"
    )
    found += _problems(page)
    page.goto(f"{site.url}/account/keys/key_{'0' * 26}/revoke")
    found += _problems(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/account/keys?unused_days=0")
    found += _problems(page)
    assert found == []


def test_the_check_sees_a_serious_problem(visit: Visit) -> None:
    visit.page.set_content(
        "<html lang='en'><title>t</title><main><input type='text'><button></button></main></html>"
    )
    assert len(_problems(visit.page)) == 2
