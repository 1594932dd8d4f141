"""The acquirer's pages, in each state a person meets them, have no serious or critical
accessibility problem that axe-core finds."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.portal.acquirer_support import (
    create_key,
    key_row,
    provide,
    serious_problems,
    upstream,
)
from tests.portal.conftest import running_site, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with upstream() as url:
        yield url


def test_no_acquirer_page_has_a_serious_accessibility_problem(
    browser: Browser, upstream_url: str, tmp_path: Path
) -> None:
    with running_site(tmp_path / "site", KEYWARD_CONNECTOR_FILE_ROOT=str(tmp_path)) as site:
        provide(site, upstream_url, policy={"key_lifetime": "P30D"})
        context = browser.new_context()
        page = context.new_page()
        found: list[str] = []
        try:
            sign_in(page, site.url, "alex@example.com")
            page.goto(f"{site.url}/catalogue")
            found += serious_problems(page)
            page.click("li.offering button:has-text('Acquire')")
            page.wait_for_url("**/acquisitions/acq_*")
            acquisition = page.url.rsplit("/", 1)[1].split("?")[0]
            found += serious_problems(page)
            page.click("button:has-text('Create key')")  # no name: the error by its field
            found += serious_problems(page)
            create_key(page, "Dana Scully")
            found += serious_problems(page)
            key_id = key_row(page, "Dana Scully").get_attribute("data-key-id")
            key_row(page, "Dana Scully").locator("a:has-text('Rotate')").click()
            found += serious_problems(page)
            page.keyboard.press("Escape")
            key_row(page, "Dana Scully").locator("a:has-text('Delete')").click()
            found += serious_problems(page)
            page.keyboard.press("Escape")
            page.click("button:has-text('Create connector')")  # no path: the error by its field
            found += serious_problems(page)
            page.fill("#connector-path", "globex/pets.json")
            page.click("button:has-text('Create connector')")
            found += serious_problems(page)
            page.click("#connectors tbody th a")
            found += serious_problems(page)
            for path in (
                f"/acquisitions/{acquisition}/keys/{key_id}/rotate",
                f"/acquisitions/{acquisition}/keys/{key_id}/delete",
                "/acquisitions",
                f"/acquisitions/acq_{'0' * 26}",
            ):
                page.goto(f"{site.url}{path}")
                found += serious_problems(page)
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{site.url}/acquisitions/{acquisition}")
            found += serious_problems(page)
        finally:
            context.close()
        assert found == []
