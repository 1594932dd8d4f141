"""Admin → Members, Organizations and the Audit log as an admin clicks through them, against a
real `keyward serve` whose worker mails a real SMTP server; and what people without the
rights get: no Admin section, and "not found" or a refusal that changes nothing."""

import csv
import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.jobs.receivers import Mailbox
from tests.portal.acquirer_support import serious_problems
from tests.portal.conftest import Site, Visit, running_site, sign_in
from tests.portal.test_passwords import link_mailed

pytestmark = pytest.mark.e2e


def answers(call: Callable[[], int], status: int) -> bool:
    """Whether `call` answers `status` within a few seconds (the API's key cache follows the
    change feed)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if call() == status:
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def admin_site(mailing_site: Site) -> Site:
    mailing_site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
    return mailing_site


def test_an_admin_invites_a_person_and_deactivates_a_member_whose_session_ends(
    admin_site: Site, mailbox: Mailbox, visit: Visit, browser: Browser
) -> None:
    kim = admin_site.add_member("kim@example.com", "Kim <b>Acquirer</b>")
    kim_key = admin_site.key_of("kim@example.com", "kim's script")["key"]
    assert admin_site.me(kim_key) == 200
    elsewhere = browser.new_context()
    try:
        other = elsewhere.new_page()
        sign_in(other, admin_site.url, "kim@example.com")
        expect(other.locator(".who")).to_have_text("Kim <b>Acquirer</b>")
        expect(other.locator("nav.sections >> text=Admin")).to_have_count(0)

        page = visit.page
        sign_in(page, admin_site.url, "ada@example.com")
        page.click("nav.sections >> text=Admin")
        assert serious_problems(page) == []
        page.click("text=Members")
        assert serious_problems(page) == []
        page.click("text=Invite a person")
        page.fill("#invite-email", "sam@example.com")
        page.fill("#invite-name", "Sam Invitee")
        page.click("button:has-text('Send invitation')")
        expect(page.get_by_role("status")).to_contain_text("Invitation sent to sam@example.com")
        assert link_mailed(mailbox, "sam@example.com", "invited")

        page.goto(f"{admin_site.url}/admin/members")
        page.fill("#member-search", "KIM")
        page.click("button:has-text('Search')")
        rows = page.locator("table.keys tbody tr")
        expect(rows).to_have_count(1)
        rows.first.locator("a").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Kim <b>Acquirer</b>")
        assert serious_problems(page) == []
        page.click("text=Deactivate Kim")
        expect(page.get_by_text("Their portal sessions end at once")).to_be_visible()
        assert serious_problems(page) == []
        page.click("button:has-text('Deactivate')")
        expect(page.get_by_role("status")).to_contain_text("Deactivated")
        expect(page.locator(".lead .state")).to_have_text("deactivated")

        other.goto(f"{admin_site.url}/")
        expect(other).to_have_url(re.compile(r"/login"))
        assert answers(lambda: admin_site.me(kim_key), 401), "their keys stop working"
        with admin_site.api(admin_site.admin_key) as client:
            assert client.get(f"/v1/members/{kim}").json()["active"] is False

        page.click("button:has-text('Reactivate Kim')")
        expect(page.get_by_role("status")).to_contain_text("Reactivated")
        assert answers(lambda: admin_site.me(kim_key), 200)
        page.click("button:has-text('Send a link to set a new password')")
        expect(page.get_by_role("status")).to_contain_text("Invitation sent to kim@example.com")
        assert link_mailed(mailbox, "kim@example.com", "invited")
    finally:
        elsewhere.close()


def test_an_admin_creates_an_organization_adds_a_member_and_changes_roles(
    admin_site: Site, visit: Visit
) -> None:
    lee = admin_site.add_member("lee@example.com", "Lee Person")
    page = visit.page
    sign_in(page, admin_site.url, "ada@example.com")
    page.goto(f"{admin_site.url}/admin/organizations")
    assert serious_problems(page) == []
    page.fill("#org-name", "")
    page.click("button:has-text('Create organization')")
    expect(page.locator("#name-error")).to_be_visible()
    page.fill("#org-name", "Globex")
    page.check("#kind-provider")
    page.click("button:has-text('Create organization')")
    expect(page.get_by_role("status")).to_have_text("Organization created.")
    expect(page.locator(".lead")).to_contain_text("provider organization · 0 members")
    page.fill("#add-email", "nobody@example.com")
    page.click("button:has-text('Add member')")
    expect(page.locator("#email-error")).to_contain_text("invite them first")
    page.fill("#add-email", "lee@example.com")
    page.click("button:has-text('Add member')")
    expect(page.get_by_role("status")).to_have_text("Member added.")
    expect(page.locator(f"tr[data-member-id='{lee}']")).to_contain_text("lee@example.com")
    assert serious_problems(page) == []
    page.fill("#org-name", "Globex Corp")
    page.click("button:has-text('Rename')")
    expect(page.get_by_role("heading", level=1)).to_have_text("Globex Corp")

    page.click(f"tr[data-member-id='{lee}'] a")
    expect(page.get_by_label("Globex Corp (provider)")).to_be_checked()
    page.check("#role-provider")
    page.fill("#direct-permissions", "audit:read")
    page.click("button:has-text('Save roles and permissions')")
    expect(page.get_by_role("status")).to_contain_text("Roles and permissions saved")
    expect(page.locator("#grants-title + .hint")).to_contain_text("audit:read")
    page.fill("#direct-permissions", "keys:explode")
    page.click("button:has-text('Save roles and permissions')")
    expect(page.locator("#permissions-error")).to_be_visible()
    assert serious_problems(page) == []

    page.goto(f"{admin_site.url}/admin/organizations")
    page.click("text=Globex Corp")
    page.click("text=Delete Globex Corp")
    assert serious_problems(page) == []
    page.click("button:has-text('Delete organization')")
    expect(page.get_by_role("status")).to_contain_text("Organization deleted")
    expect(page.get_by_text("Globex Corp")).to_have_count(0)


def test_an_admin_filters_the_audit_log_and_downloads_it_as_csv(
    admin_site: Site, visit: Visit
) -> None:
    admin_site.add_member("mo@example.com", "Mo Member")
    with admin_site.api(admin_site.admin_key) as client:
        made = client.post("/v1/organizations", json={"name": "=HYPERLINK(1)", "kind": "acquirer"})
        assert made.status_code == 201, made.text
        organization = made.json()["id"]
        refused = client.post(
            "/v1/members",
            json={"email": "mo@example.com", "name": "Again"},
            headers={"User-Agent": "=cmd|' /C calc'!A0"},
        )
        assert refused.status_code == 409
        admin_email = client.get(f"/v1/members/{admin_site.admin_id}").json()["email"]
    page = visit.page
    sign_in(page, admin_site.url, "ada@example.com")
    page.goto(f"{admin_site.url}/admin/audit")
    assert serious_problems(page) == []
    page.fill("#audit-action", "organization.create")
    page.click("button:has-text('Filter')")
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(organization)
    expect(rows.first).to_contain_text(admin_email)
    page.fill("#audit-actor", "ada@example.com")
    page.click("button:has-text('Filter')")
    expect(page.get_by_text("No event matches.")).to_be_visible()
    page.fill("#audit-actor", admin_email)
    page.click("button:has-text('Filter')")
    expect(rows).to_have_count(1)
    page.fill("#audit-actor", "")
    page.fill("#audit-action", "")
    page.fill("#audit-target", organization)
    page.click("button:has-text('Filter')")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("organization.create")
    page.select_option("#audit-outcome", "refused")
    page.click("button:has-text('Filter')")
    expect(page.get_by_text("No event matches.")).to_be_visible()
    page.fill("#audit-target", "")
    page.click("button:has-text('Filter')")
    expect(rows.filter(has_text="member_exists")).to_have_count(1)
    page.select_option("#audit-outcome", "")
    page.fill("#audit-since", "2000-01-01T00:00")
    page.fill("#audit-until", "2000-01-02T00:00")
    page.click("button:has-text('Filter')")
    expect(page.get_by_text("No event matches.")).to_be_visible()
    page.goto(f"{admin_site.url}/admin/audit?since=yesterday")
    expect(page.locator("#since-error")).to_be_visible()
    assert serious_problems(page) == []

    page.goto(f"{admin_site.url}/admin/audit?outcome=refused")
    with page.expect_download() as downloading:
        page.click("text=Download these events as CSV")
    download = downloading.value
    assert re.fullmatch(r"audit-events-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert table, text
    assert {row["outcome"] for row in table} == {"refused"}
    conflict = next(row for row in table if row["code"] == "member_exists")
    assert conflict["user_agent"] == "'=cmd|' /C calc'!A0", "a formula is defused"
    page.goto(f"{admin_site.url}/admin/audit?action=organization.create")
    with page.expect_download() as downloading:
        page.click("text=Download these events as CSV")
    (created,) = csv.DictReader(io.StringIO(Path(downloading.value.path()).read_text()))
    assert created["target_id"] == organization
    assert '"name": "=HYPERLINK(1)"' in created["details"]


def test_people_without_admin_rights_get_no_admin_section_and_cannot_change_anyone(
    tmp_path: Path, visit: Visit
) -> None:
    with running_site(tmp_path / "site") as site:
        target = site.add_member("tia@example.com", "Tia Target")
        site.add_member("abe@example.com", "Abe Acquirer")
        pia = site.add_member(
            "pia@example.com", "Pia Provider", roles=("provider",), permissions=("audit:read",)
        )
        with site.api(site.admin_key) as client:
            made = client.post("/v1/organizations", json={"name": "Initech", "kind": "provider"})
            for member_id in (target, pia):
                joined = client.patch(
                    f"/v1/members/{member_id}", json={"organization_ids": [made.json()["id"]]}
                )
                assert joined.status_code == 200, joined.text
        page = visit.page
        sign_in(page, site.url, "abe@example.com")
        expect(page.locator("nav.sections >> text=Admin")).to_have_count(0)
        for path in (
            "/admin",
            "/admin/members",
            f"/admin/members/{target}",
            "/admin/organizations",
            "/admin/webhooks",
            "/admin/audit",
            "/admin/audit/export",
        ):
            answer = page.goto(site.url + path)
            assert answer is not None
            assert answer.status == 404, path
        page.context.clear_cookies()
        sign_in(page, site.url, "pia@example.com")
        page.goto(f"{site.url}/admin/members/{target}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Tia Target")
        expect(page.locator("button:has-text('Save roles and permissions')")).to_have_count(0)
        expect(page.get_by_text("Deactivate Tia Target")).to_have_count(0)
        assert serious_problems(page) == []
        csrf = page.locator("form[action='/logout'] input[type=hidden]").get_attribute("value")
        for action in ("deactivate", "permissions", "invitation"):
            fields: dict[str, str | float | bool] = {"csrf_token": csrf or "", "role": "admin"}
            refused = page.request.post(
                f"{site.url}/admin/members/{target}/{action}",
                form=fields,
                headers={"Origin": site.url},
            )
            assert refused.status == 403, (action, refused.status)
        with site.api(site.admin_key) as client:
            tia = client.get(f"/v1/members/{target}").json()
            assert tia["active"] is True
            assert tia["roles"] == ["acquirer"]


def test_a_people_manager_sees_why_they_cannot_grant_beyond_their_rights(
    tmp_path: Path, visit: Visit
) -> None:
    with running_site(tmp_path / "site") as site:
        ada = site.add_member("ada@example.com", "Ada Admin", roles=("admin",))
        lee = site.add_member("lee@example.com", "Lee Person")
        zed = site.add_member("zed@example.com", "Zed Nobody", roles=())
        site.add_member(
            "max@example.com",
            "Max Manager",
            roles=(),
            permissions=(
                "members:read",
                "members:create",
                "members:update",
                "members:grant",
                "keys:read",
                "organizations:read",
                "apis:read",
                "offerings:read",
                "acquisitions:read",
                "connectors:read",
            ),
        )
        page = visit.page
        sign_in(page, site.url, "max@example.com")
        page.goto(f"{site.url}/admin/members/{lee}")
        page.fill("#direct-permissions", "keys:read")
        page.click("button:has-text('Save roles and permissions')")
        # Lee, an acquirer, holds rights Max does not: Max may not change Lee at all.
        expect(page.locator("#grants-error")).to_contain_text("acquisitions:*")
        assert serious_problems(page) == []
        page.goto(f"{site.url}/admin/members/{zed}")
        page.fill("#direct-permissions", "audit:read")
        page.click("button:has-text('Save roles and permissions')")
        expect(page.locator("#grants-error")).to_contain_text("audit:read")
        page.fill("#direct-permissions", "keys:read")
        page.click("button:has-text('Save roles and permissions')")
        expect(page.get_by_role("status")).to_contain_text("Roles and permissions saved")
        page.goto(f"{site.url}/admin/members/{ada}")
        page.uncheck("#role-admin")
        page.click("button:has-text('Save roles and permissions')")
        expect(page.locator("#grants-error")).to_be_visible()
        with site.api(site.admin_key) as client:
            assert client.get(f"/v1/members/{ada}").json()["roles"] == ["admin"]
            assert client.get(f"/v1/members/{lee}/permissions").json()["permissions"] == []
            assert client.get(f"/v1/members/{zed}/permissions").json()["permissions"] == [
                "keys:read"
            ]
            refused = client.get(
                "/v1/audit-events", params={"outcome": "refused", "target": ada}
            ).json()["data"]
        assert [e["action"] for e in refused] == ["portal.admin_member_permissions"]
