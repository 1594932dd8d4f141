"""Every portal page, in each state a person meets it, has no serious or critical accessibility
problem that axe-core finds."""

import pytest

from tests.portal.acquirer_support import serious_problems
from tests.portal.conftest import Site, Visit, sign_in

pytestmark = pytest.mark.e2e


def test_no_page_has_a_serious_accessibility_problem(site: Site, visit: Visit) -> None:
    site.add_member("alex@example.com", "Alex Acquirer")
    page = visit.page
    found: list[str] = []
    page.goto(f"{site.url}/login")
    found += serious_problems(page)
    sign_in(page, site.url, "alex@example.com", "not the password")
    found += serious_problems(page)
    sign_in(page, site.url, "alex@example.com")
    found += serious_problems(page)
    page.goto(f"{site.url}/account/keys")
    found += serious_problems(page)
    page.click("button:has-text('Generate key')")
    found += serious_problems(page)
    page.fill("#key-name", "ci pipeline")
    page.check("input[name=permission][value='keys:read']")
    page.click("button:has-text('Generate key')")
    found += serious_problems(page)
    page.locator("a:has-text('Revoke')").click()
    found += serious_problems(page)
    page.keyboard.press("Escape")
    page.goto(
        f"{site.url}/account/keys/{page.locator('tbody tr').get_attribute('data-key-id')}/revoke"
    )
    found += serious_problems(page)
    page.goto(f"{site.url}/account/keys/key_{'0' * 26}/revoke")
    found += serious_problems(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/account/keys?unused_days=0")
    found += serious_problems(page)
    assert found == []


def test_the_check_sees_a_serious_problem(visit: Visit) -> None:
    visit.page.set_content(
        "<html lang='en'><title>t</title><main><input type='text'><button></button></main></html>"
    )
    assert len(serious_problems(visit.page)) == 2
