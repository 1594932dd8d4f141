""" "API keys" in a real Chromium against a real `keyward serve api`: every key a member may act
on, filtered by expiry and idleness, the bulk-delete rules as the services decide them, the
per-key actions and why one is not offered; nobody else's keys, and no forged form."""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from keyward.db.engine import Database
from keyward.db.models import ApiKey, Member
from tests.factories import actor_for, make_acquisition_key
from tests.portal.acquirer_support import (
    SPEC,
    create_key,
    provide,
    serious_problems,
    upstream,
)
from tests.portal.conftest import Site, Visit, sign_in


@pytest.fixture
def site(shared_site: Site) -> Site:
    """One server for the module; every test provides and acquires with organizations and
    people of its own, and "API keys" shows a member only their organizations' keys."""
    return shared_site


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with upstream() as url:
        yield url


def _row(page: Page, name: str) -> Locator:
    return page.locator("table.all-keys tbody tr").filter(
        has=page.locator("th .key-name", has_text=re.compile(rf"^{re.escape(name)}$"))
    )


def _acquire_with_keys(page: Page, site: Site, offering_id: str, *names: str) -> dict[str, str]:
    page.goto(f"{site.url}/catalogue")
    offering = page.locator(f"li.offering[data-offering-id='{offering_id}']")
    offering.locator("button:has-text('Acquire')").click()
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    return {name: create_key(page, name) for name in names}


def _key_ids(page: Page, site: Site) -> dict[str, str]:
    page.goto(f"{site.url}/keys")
    rows = page.locator("table.all-keys tbody tr")
    found = {}
    for n in range(rows.count()):
        row = rows.nth(n)
        name = row.locator("th .key-name").inner_text()
        found[name] = str(row.get_attribute("data-key-id"))
    return found


def _change_stored(site: Site, key_id: str, **values: Any) -> None:
    """Set a key's stored times, as the domain tests do: the server reads them on each page."""
    database = Database.connect(site.database_url)
    try:
        with database.transaction() as uow:
            row = uow.session.get(ApiKey, key_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)
    finally:
        database.engine.dispose()


def _make_keys(site: Site, email: str, acquisition_id: str, names: list[str]) -> None:
    """Keys made by the member straight through the services, as many as a page needs."""
    database = Database.connect(site.database_url)
    try:
        with database.transaction(write=False) as uow:
            found = uow.session.get(Member, site.members[email])
            assert found is not None
        actor = actor_for(database, found.workspace_id, found.id)
        for name in names:
            make_acquisition_key(database, actor, acquisition_id, name=name)
    finally:
        database.engine.dispose()


def _revoke_on_page(page: Page, name: str) -> None:
    _row(page, name).locator("a:has-text('Revoke')").click()
    page.locator("dialog[open] button:has-text('Revoke key')").click()
    page.wait_for_url(re.compile(r"done=revoked"))


def test_bulk_delete_deletes_nothing_while_a_selected_key_has_a_pending_request(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(
        site, upstream_url, policy={"key_lifetime": "P30D", "renewal_requires_approval": True}
    )
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    _acquire_with_keys(
        page, site, provided.offering_id, "gone one", "gone two", "in use", "waiting"
    )
    page.goto(f"{site.url}/keys")
    _revoke_on_page(page, "gone one")
    _revoke_on_page(page, "gone two")
    _row(page, "waiting").locator("button:has-text('Request renewal')").click()
    page.wait_for_url(re.compile(r"done=renewal-requested"))
    expect(_row(page, "waiting")).to_contain_text("A renewal request is pending")
    expect(_row(page, "in use")).to_contain_text("Delete: revoke it first.")

    # One selected key has a pending request: nothing is deleted, and the page names it.
    for name in ("gone one", "waiting"):
        _row(page, name).locator("input[type=checkbox]").check()
    page.click("button:has-text('Delete selected')")
    result = page.locator("#bulk-result")
    expect(result.locator("h2")).to_have_text("Nothing was deleted")
    expect(result.locator("li")).to_have_count(1)
    expect(result.locator("li")).to_contain_text("waiting")
    expect(result.locator("li")).to_contain_text("pending request")
    expect(_row(page, "gone one")).to_have_count(1)

    # Otherwise revoked keys are deleted and the others are skipped, each with its reason.
    for name in ("gone one", "gone two", "in use"):
        _row(page, name).locator("input[type=checkbox]").check()
    page.click("button:has-text('Delete selected')")
    expect(result.locator("h2")).to_have_text("2 keys deleted, 1 skipped")
    lines = result.locator("li")
    expect(lines.filter(has_text="gone one")).to_contain_text("Deleted")
    expect(lines.filter(has_text="gone two")).to_contain_text("Deleted")
    expect(lines.filter(has_text="in use")).to_contain_text(
        "Skipped: Only a revoked key can be deleted"
    )
    expect(_row(page, "gone one")).to_have_count(0)
    expect(_row(page, "gone two")).to_have_count(0)
    expect(_row(page, "in use")).to_have_count(1)
    assert serious_problems(page) == []


def test_keys_are_filtered_by_coming_expiry_and_by_idleness_and_the_page_says_how(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(site, upstream_url, policy={"key_lifetime": "P90D"})
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    _acquire_with_keys(
        page, site, provided.offering_id, "fresh", "idle", "used lately", "stale", "soon"
    )
    ids = _key_ids(page, site)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=100)
    _change_stored(site, ids["idle"], created_at=long_ago)
    _change_stored(site, ids["used lately"], created_at=long_ago, last_used_at=now - timedelta(2))
    _change_stored(site, ids["stale"], created_at=long_ago, last_used_at=now - timedelta(95))
    _change_stored(site, ids["soon"], expires_at=now + timedelta(days=5))

    def shown() -> set[str]:
        return set(page.locator("table.all-keys tbody th .key-name").all_inner_texts())

    page.goto(f"{site.url}/keys")
    page.fill("#filter-unused", "30")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"unused_days=30"))
    assert shown() == {"idle", "stale"}
    expect(page.locator("#filter-meaning")).to_contain_text(
        "last used more than 30 days ago, or never used and created more than 30 days ago"
    )
    page.fill("#filter-unused", "")
    page.fill("#filter-expiring", "10")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"expiring_days=10"))
    assert shown() == {"soon"}
    # Filters combine, and stay in the address and the form after an action.
    page.select_option("#filter-state", "active")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"state=active"))
    assert shown() == {"soon"}
    _row(page, "soon").locator("button:has-text('Renew')").click()
    page.wait_for_url(re.compile(r"expiring_days=10.*done=renewed"))
    expect(page.locator(".notice")).to_contain_text("“soon” is renewed")
    expect(page.locator("#no-keys")).to_have_text("No key matches these filters.")
    expect(page.locator("#filter-expiring")).to_have_value("10")
    page.goto(f"{site.url}/keys?unused_days=often")
    expect(page.locator("#filter-unused_days-error")).to_contain_text("whole number of days")
    assert serious_problems(page) == []


def test_rotating_from_api_keys_shows_the_new_secret_once_and_revoked_keys_say_what_is_left(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(
        site, upstream_url, policy={"key_lifetime": "P30D", "max_rotation_grace": "P1D"}
    )
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    old = _acquire_with_keys(page, site, provided.offering_id, "build bot")["build bot"]
    page.goto(f"{site.url}/keys")
    _row(page, "build bot").locator("a:has-text('Rotate')").click()
    grace = page.locator("dialog[open] select[name=grace] option")
    expect(grace).to_have_text(["At once", "1 hour", "1 day"])
    assert serious_problems(page) == []  # with the dialog open
    page.locator("dialog[open] select[name=grace]").select_option(label="1 hour")
    page.locator("dialog[open] button:has-text('Rotate key')").click()
    secret = page.locator("#new-key-secret").inner_text()
    assert secret.startswith("kw_")
    assert secret != old
    expect(page.locator(".secret")).to_contain_text("The old secret keeps working until")
    page.goto(f"{site.url}/keys")
    assert secret not in page.content()
    # Without scripts a page asks instead of a dialog: it revokes as the dialog does.
    key_id = _key_ids(page, site)["build bot"]
    page.goto(f"{site.url}/keys/{key_id}/revoke")
    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke “build bot”?")
    assert serious_problems(page) == []
    page.fill("#confirm-reason", "moved to the new bot")
    page.click("button:has-text('Revoke key')")
    page.wait_for_url(re.compile(r"done=revoked"))
    row = _row(page, "build bot")
    expect(row.locator(".state")).to_have_text("revoked")
    expect(row).to_contain_text("Renew: the key is revoked.")
    expect(row).to_contain_text("Rotate: the key is revoked.")
    expect(row.locator("a:has-text('Rotate'), button:has-text('Renew')")).to_have_count(0)
    row.locator("a:has-text('Delete')").click()
    page.locator("dialog[open] button:has-text('Delete key')").click()
    page.wait_for_url(re.compile(r"done=deleted"))
    expect(page.locator("#no-keys")).to_be_visible()


def _second_api(site: Site, upstream_url: str) -> str:
    """Another API of the workspace, Stores, whose keys never expire, with an offering of its
    own; returns the offering's id."""
    with site.api(site.admin_key) as client:
        api = client.post(
            "/v1/apis",
            json={
                "name": site.named("Stores"),
                "upstream_url": upstream_url,
                "mount_path": f"stores-{site.tag}",
                "spec": json.dumps(SPEC),
            },
        )
        assert api.status_code == 201, api.text
        policy = client.get(f"/v1/apis/{api.json()['id']}/policy").json()
        assert policy["key_lifetime"] is None, "a new API's keys never expire"
        offering = client.post(
            "/v1/offerings",
            json={"api_id": api.json()["id"], "name": site.named("Stores for partners")},
        )
    assert offering.status_code == 201, offering.text
    return str(offering.json()["id"])


def test_keys_of_two_apis_and_an_account_key_are_filtered_and_paged_from_the_keyboard(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(site, upstream_url, policy={"key_lifetime": "P30D"})
    stores_offering = _second_api(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    _acquire_with_keys(page, site, provided.offering_id, "pets key")
    pets_acquisition = re.findall(r"/acquisitions/(acq_\w+)", page.url)[0]
    _acquire_with_keys(page, site, stores_offering, "stores key")
    page.goto(f"{site.url}/account/keys")
    page.fill("#key-name", "alex account")
    page.check("input[name=permission][value='keys:read']")
    page.click("button:has-text('Generate key')")
    page.wait_for_selector("#new-key-secret")

    def shown() -> list[str]:
        return page.locator("table.all-keys tbody th .key-name").all_inner_texts()

    page.goto(f"{site.url}/keys")
    expect(_row(page, "alex account")).to_contain_text("Account key")
    # Stores' keys never expire: nothing to renew, and the page does not offer it.
    expect(_row(page, "stores key").locator("button:has-text('Renew')")).to_have_count(0)
    expect(_row(page, "pets key").locator("button:has-text('Renew')")).to_have_count(1)
    expect(_row(page, "stores key")).to_have_count(1)

    _make_keys(site, site.email("alex"), pets_acquisition, [f"spare {n:02}" for n in range(26)])

    page.select_option("#filter-api", label=site.named("Stores"))
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"api=api_"))
    assert shown() == ["stores key"]
    stores_only = page.url
    page.select_option("#filter-api", "")
    page.select_option("#filter-acquisition", pets_acquisition)
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(rf"acquisition={pets_acquisition}"))
    first = shown()
    assert len(first) == 25
    # The next page is reached from the keyboard, and keeps the filter.
    page.locator("a[rel=next]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(
        re.compile(
            rf"acquisition={pets_acquisition}.*cursor=|cursor=.*acquisition={pets_acquisition}"
        )
    )
    second = shown()
    assert len(second) == 2
    assert sorted(first + second) == sorted(["pets key", *(f"spare {n:02}" for n in range(26))])
    expect(page.locator("a[rel=next]")).to_have_count(0)
    page.locator("a:has-text('First page')").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "cursor=" not in url)
    assert "acquisition=" in page.url
    assert shown() == first

    # A key is revoked from the keyboard alone: the link opens its dialog, Enter confirms.
    page.goto(stores_only)
    _row(page, "stores key").locator("a:has-text('Revoke')").focus()
    page.keyboard.press("Enter")
    expect(page.locator("dialog[open] h3")).to_contain_text("stores key")
    page.locator("dialog[open] button:has-text('Revoke key')").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"done=revoked"))
    expect(_row(page, "stores key").locator(".state")).to_have_text("revoked")
    assert serious_problems(page) == []


def test_a_member_of_another_organization_sees_none_of_these_keys_and_cannot_touch_them(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    _acquire_with_keys(page, site, provided.offering_id, "globex only")
    key_id = _key_ids(page, site)["globex only"]
    page.click("button:has-text('Sign out')")
    sign_in(page, site.url, site.email("bo"))
    page.goto(f"{site.url}/keys")
    expect(page.locator("#no-keys")).to_have_text("You have no keys yet.")
    assert key_id not in page.content()
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    answers = []
    for target in (key_id, "key_" + "0" * 26):
        answer = page.request.post(
            f"{site.url}/keys/{target}/revoke",
            form={"csrf_token": csrf, "reason": "not mine"},
            headers={"Origin": site.url},
        )
        answers.append((answer.status, answer.text().replace(target, "?")))
    assert answers[0][0] == 404
    assert answers[0] == answers[1]
    page.goto(f"{site.url}/keys/{key_id}/rotate")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    with site.api(site.admin_key) as client:
        assert client.get(f"/v1/keys/{key_id}").json()["state"] == "active"


def test_a_forged_cross_site_bulk_delete_is_refused_and_deletes_nothing(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    _acquire_with_keys(page, site, provided.offering_id, "kept")
    page.goto(f"{site.url}/keys")
    _revoke_on_page(page, "kept")
    key_id = _key_ids(page, site)["kept"]
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged: list[tuple[dict[str, str | float | bool], dict[str, str]]] = [
        ({"csrf_token": csrf, "ids": key_id}, {"Origin": "https://evil.example"}),
        ({"csrf_token": "0" * 64, "ids": key_id}, {"Origin": site.url}),
        ({"ids": key_id}, {"Origin": site.url}),
    ]
    for form, headers in forged:
        answer = page.request.post(f"{site.url}/keys/bulk-delete", form=form, headers=headers)
        assert answer.status == 403
        assert "did not come from this site" in answer.text()
    page.goto(f"{site.url}/keys")
    expect(_row(page, "kept")).to_have_count(1)
