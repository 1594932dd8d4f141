"""`/docs` and `/redoc` render the management API's reference with nothing from another host."""

import re

import pytest

from tests.portal.conftest import Site, Visit


def _recording_requests(visit: Visit) -> list[str]:
    requested: list[str] = []
    visit.page.on("request", lambda request: requested.append(request.url))
    return requested


@pytest.mark.e2e
def test_swagger_ui_renders_every_operation_from_keywards_own_assets(
    site: Site, visit: Visit
) -> None:
    requested = _recording_requests(visit)
    visit.page.goto(f"{site.url}/docs")
    visit.page.wait_for_selector(".opblock", timeout=20_000)
    assert visit.page.locator(".opblock-summary-path", has_text=re.compile(r"^/v1/me$")).count()
    assert requested
    assert [url for url in requested if not url.startswith(site.url + "/")] == []


# ReDoc's footer always asks for Redocly's logo from their CDN; the page's policy blocks it, so
# nothing leaves keyward, and the browser reports that block.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.e2e
def test_redoc_renders_the_reference_from_keywards_own_assets(site: Site, visit: Visit) -> None:
    requested = _recording_requests(visit)
    failed: dict[str, str | None] = {}
    visit.page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
    visit.page.goto(f"{site.url}/redoc")
    visit.page.get_by_role("heading", name=re.compile(r"^keyward")).first.wait_for(timeout=20_000)
    assert visit.page.get_by_text("/v1/me").count()
    assert requested
    elsewhere = [url for url in requested if not url.startswith((site.url + "/", "blob:"))]
    assert set(elsewhere) <= {REDOC_LOGO}
    assert {url: failed.get(url) for url in elsewhere} == dict.fromkeys(elsewhere, "csp")
    visit.console[:] = [line for line in visit.console if REDOC_LOGO not in line]


@pytest.mark.e2e
def test_reference_pages_load_no_script_from_elsewhere_and_forbid_framing(site: Site) -> None:
    with site.api() as client:
        for page in ("/docs", "/redoc"):
            answer = client.get(page)
            assert answer.status_code == 200
            policy = answer.headers["content-security-policy"]
            assert "default-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert "script-src" not in policy  # scripts fall back to 'self'
            assert not re.search(r"(src|href)=\"(https?:)?//", answer.text), answer.text
            for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", answer.text):
                served = client.get(asset)
                assert served.status_code == 200, asset
                assert len(served.content) > 100
