"""Your account → API keys, in a real browser: generate, copy, use, revoke; what is refused."""

import re

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.portal.acquirer_support import wider_than_viewport
from tests.portal.conftest import Site, Visit, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(shared_site: Site) -> Site:
    """One server for the module; every test signs in as people of its own, who see only their
    own keys."""
    return shared_site


def _generate(page: Page, name: str, *permissions: str, expires: str = "P90D") -> None:
    page.fill("#key-name", name)
    for permission in permissions or ("keys:read",):
        page.check(f"input[name=permission][value='{permission}']")
    page.select_option("#key-expiry", expires)
    page.click("button:has-text('Generate key')")
    page.wait_for_load_state()


def _row(page: Page, name: str) -> Locator:
    return page.locator("tbody tr").filter(has=page.locator("th.name", has_text=name))


def test_a_member_generates_copies_uses_and_revokes_a_key(site: Site, visit: Visit) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    page.goto(f"{site.url}/account/keys")
    assert page.url == f"{site.url}/login?next=%2Faccount%2Fkeys"
    sign_in_page_then = page.url
    page.fill("#email", site.email("alex"))
    page.fill("#password", "correct horse battery staple")
    page.click("button:has-text('Sign in')")
    assert page.url == f"{site.url}/account/keys", sign_in_page_then
    expect(page.locator(".who")).to_have_text("Alex Acquirer")

    _generate(page, "ci pipeline", "keys:read")
    expect(page.locator("#created-title")).to_have_text("New key “ci pipeline”")
    expect(page.locator(".secret .warning")).to_contain_text("will not be shown again")
    shown = page.locator("#new-key-secret").inner_text()
    page.click("button[data-copy]")
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown
    assert re.fullmatch(r"kw_[0-9A-Za-z]{38}", copied)

    _generate(page, "Dana's laptop", "keys:read", "keys:create", expires="")
    expect(page.locator("#created-title")).to_have_text("New key “Dana's laptop”")
    second = page.locator("#new-key-secret").inner_text()
    assert second != copied
    expect(page.locator("tbody th.name")).to_have_text(["Dana's laptop", "ci pipeline"])
    expect(_row(page, "Dana's laptop").locator("td[data-label=Expires]")).to_have_text("Never")
    assert page.content().count(second) == 1  # the card only, never the list

    with site.api(copied) as client:
        me = client.get("/v1/me")
    assert me.status_code == 200
    assert me.json()["key"]["name"] == "ci pipeline"

    # The confirmation is a dialog that works with the keyboard and gives focus back.
    revoke = _row(page, "ci pipeline").locator("a:has-text('Revoke')")
    revoke.click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    expect(dialog.locator("h3")).to_have_text("Revoke “ci pipeline”?")
    assert page.evaluate("document.activeElement.textContent") == "Cancel"
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    assert page.evaluate("document.activeElement.textContent").startswith("Revoke")
    revoke.click()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Revoke key"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account/keys\?revoked=key_"))
    expect(page.locator(".notice")).to_contain_text("“ci pipeline” is revoked")
    expect(_row(page, "ci pipeline").locator(".state")).to_have_text("revoked")
    expect(_row(page, "ci pipeline").locator("a:has-text('Revoke')")).to_have_count(0)
    assert shown not in page.content()

    assert site.me(copied) == 401
    assert site.me(second) == 200
    log = site.server.log.read_text()
    assert copied not in log
    assert second not in log


def test_keys_get_only_permissions_the_member_holds_and_errors_sit_by_their_field(
    site: Site, visit: Visit
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    offered = set(
        page.locator("input[name=permission]").evaluate_all("els => els.map(e => e.value)")
    )
    assert "keys:read" in offered
    assert "members:create" not in offered
    assert not any(value.startswith("*") for value in offered)
    page.click("button:has-text('Generate key')")
    expect(page.locator("#name-error")).to_have_text(
        "Give the key a label, such as what or who will use it."
    )
    expect(page.locator("#permissions-error")).to_have_text("Choose at least one permission.")
    expect(page.locator("#key-name")).to_have_attribute("aria-invalid", "true")
    # A permission the member does not hold, slipped into the form, is refused by the service.
    page.fill("#key-name", "too much")
    page.evaluate("document.querySelector('input[name=permission]').value = 'members:create'")
    page.locator("input[name=permission]").first.check()
    page.click("button:has-text('Generate key')")
    expect(page.locator("#permissions-error")).to_contain_text("members:create")
    expect(page.locator("#key-name")).to_have_value("too much")
    expect(page.locator("tbody tr")).to_have_count(0)


def test_a_post_without_or_with_a_forged_csrf_token_changes_nothing(
    site: Site, visit: Visit, browser: Browser
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    site.add_member(site.email("bo"), "Bo Other")
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    _generate(page, "kept")
    secret = page.locator("#new-key-secret").inner_text()
    page.goto(f"{site.url}/account/keys")

    def revoke_with(script: str) -> None:
        page.evaluate(script)
        page.locator("a:has-text('Revoke')").click()
        page.click("dialog[open] button:has-text('Revoke key')")
        page.wait_for_load_state()
        expect(page.locator("h1")).to_have_text("Not allowed")
        expect(page.locator(".error")).to_contain_text("nothing was changed")

    revoke_with(
        "document.querySelectorAll('dialog input[name=csrf_token]')"
        ".forEach(i => { i.value = 'forged' + i.value.slice(6) })"
    )
    page.goto(f"{site.url}/account/keys")
    revoke_with(
        "document.querySelectorAll('dialog input[name=csrf_token]').forEach(i => i.remove())"
    )

    # Another session's token is not this session's.
    other = browser.new_context()
    other_page = other.new_page()
    sign_in(other_page, site.url, site.email("bo"))
    other_page.goto(f"{site.url}/account/keys")
    their_token = other_page.locator("input[name=csrf_token]").first.input_value()
    other.close()
    page.goto(f"{site.url}/account/keys")
    key_id = page.locator("tbody tr").get_attribute("data-key-id")
    answer = page.request.post(
        f"{site.url}/account/keys/{key_id}/revoke", form={"csrf_token": their_token}
    )
    assert answer.status == 403
    made = page.request.post(
        f"{site.url}/account/keys", form={"name": "sneaky", "permission": "keys:read"}
    )
    assert made.status == 403
    signed_out = page.request.post(f"{site.url}/logout", form={})
    assert signed_out.status == 403

    page.goto(f"{site.url}/account/keys")
    expect(page.locator("tbody th.name")).to_have_text(["kept"])
    expect(page.locator("tbody .state")).to_have_text(["active"])
    assert site.me(secret) == 200


def test_another_members_key_answers_like_a_missing_one(site: Site, visit: Visit) -> None:
    site.add_member(site.email("root"), "Rita Root", roles=("admin",))
    site.add_member(site.email("bo"), "Bo Other")
    theirs = site.key_of(site.email("bo"), "bo's key")
    page = visit.page
    sign_in(page, site.url, site.email("root"))
    page.goto(f"{site.url}/account/keys")
    expect(page.locator("tbody tr")).to_have_count(0)
    csrf = page.locator("input[name=csrf_token]").first.input_value()

    missing_id = "key_" + "0" * 26
    missing = page.goto(f"{site.url}/account/keys/{missing_id}/revoke")
    assert missing is not None
    missing_text = page.locator("main").inner_text()
    found = page.goto(f"{site.url}/account/keys/{theirs['id']}/revoke")
    assert found is not None
    assert (missing.status, found.status) == (404, 404)
    assert page.locator("main").inner_text().replace(theirs["id"], missing_id) == missing_text
    answer = page.request.post(
        f"{site.url}/account/keys/{theirs['id']}/revoke", form={"csrf_token": csrf}
    )
    assert answer.status == 404
    assert site.me(theirs["key"]) == 200


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'], ids=["script", "img"]
)
def test_what_a_member_typed_is_shown_literally_and_never_runs(
    site: Site, visit: Visit, name: str
) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    _generate(page, name)
    expect(page.locator("#created-title")).to_have_text(f"New key “{name}”")
    page.goto(f"{site.url}/account/keys")
    expect(page.locator("tbody th.name")).to_have_text([name])
    page.locator("a:has-text('Revoke')").click()
    expect(page.locator("dialog[open] h3")).to_have_text(f"Revoke “{name}”?")
    page.keyboard.press("Escape")
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    page.goto(
        f"{site.url}/account/keys/{page.locator('tbody tr').get_attribute('data-key-id')}/revoke"
    )
    expect(page.locator("h1")).to_have_text(f"Revoke “{name}”?")
    assert visit.dialogs == []


def test_keys_page_and_filter_unused_ones(site: Site, visit: Visit) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    first = site.key_of(site.email("alex"), "key 0", "keys:read", "keys:create")
    with site.api(first["key"]) as client:
        for n in range(1, 27):
            made = client.post("/v1/keys", json={"name": f"key {n}", "permissions": ["keys:read"]})
            assert made.status_code == 201
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    expect(page.locator("tbody tr")).to_have_count(25)
    expect(page.locator("tbody th.name").first).to_have_text("key 26")
    page.click("a[rel=next]")
    expect(page.locator("tbody th.name")).to_have_text(["key 1", "key 0"])
    page.click("a:has-text('First page')")
    expect(page.locator("tbody tr")).to_have_count(25)

    # The browser refuses 0 in the field itself; the server refuses it too.
    page.goto(f"{site.url}/account/keys?unused_days=0")
    expect(page.locator("#unused-days-error")).to_have_text(
        "Enter a whole number of days from 1 to 3650."
    )
    page.fill("#unused-days", "30")
    page.click("button:has-text('Filter')")
    assert page.url.endswith("unused_days=30")
    expect(page.locator("tbody tr")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No key of yours has gone unused that long.")


def test_the_keys_page_fits_a_phone(site: Site, visit: Visit) -> None:
    site.add_member(site.email("alex"), "Alex Acquirer")
    page = visit.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/account/keys")
    _generate(page, "phone")
    assert wider_than_viewport(page) == []
    expect(page.locator("button[data-copy]")).to_be_visible()
    expect(page.locator("tbody td[data-label=State]")).to_be_visible()
