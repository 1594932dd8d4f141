"""Admin shows the workspace's unused keys policy, in words, to those who may read the
workspace's settings, and not to an admin of less."""

import pytest
from playwright.sync_api import expect

from tests.portal.acquirer_support import serious_problems
from tests.portal.conftest import Site, Visit, sign_in

pytestmark = pytest.mark.e2e


def test_the_admin_page_says_what_the_unused_keys_policy_does(site: Site, visit: Visit) -> None:
    ada = site.email("ada")
    site.add_member(ada, "Ada Admin", roles=("admin",))
    page = visit.page
    sign_in(page, site.url, ada)
    page.goto(f"{site.url}/admin")
    policy = page.get_by_role("region", name="Unused keys")
    expect(policy).to_contain_text("Off: keys left unused are neither announced nor revoked.")
    with site.api(site.admin_key) as client:
        answer = client.put(
            "/v1/workspace/settings",
            json={"unused_keys": {"warn_after": "P60D", "revoke_after": "P90D"}},
        )
    assert answer.status_code == 200, answer.text
    page.reload()
    expect(policy).to_contain_text(
        "announced to their owner after 60 days and revoked after 90 days."
    )
    assert serious_problems(page) == []

    sam = site.email("sam")
    site.add_member(sam, "Sam Webhooks", roles=(), permissions=("webhooks:read",))
    other = visit.page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    sign_in(other, site.url, sam)
    other.goto(f"{site.url}/admin")
    expect(other.get_by_role("heading", name="Webhook endpoints")).to_be_visible()
    expect(other.get_by_role("region", name="Unused keys")).to_have_count(0)
