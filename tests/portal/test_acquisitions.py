"""The acquirer's pages in a real browser: the catalogue, acquisitions, named keys used at a real
gateway, renewing, rotating, deleting; what is refused."""

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.processes import cli, serve_gateway
from tests.portal.acquirer_support import (
    create_key,
    key_row,
    member,
    provide,
    upstream,
    wider_than_viewport,
)
from tests.portal.conftest import Site, Visit, readme_screenshot, running_site, sign_in

# Tests that look only at what their own organizations acquired share the module's one
# `shared_site`, with names of their own (`Site.named`).
pytestmark = pytest.mark.e2e


@pytest.fixture
def upstream_url() -> Iterator[str]:
    with upstream() as url:
        yield url


def _acquire(page: Page, site: Site, offering: str = "Pets for partners") -> str:
    """Acquire the offering (`provide`'s name for it) from the catalogue; returns the
    acquisition's id."""
    page.goto(f"{site.url}/catalogue")
    title = re.compile(f"^{re.escape(site.named(offering))}$")
    card = page.locator("li.offering").filter(has=page.locator("h2", has_text=title))
    card.locator("button:has-text('Acquire')").click()
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    return page.url.rsplit("/", 1)[1].split("?")[0]


def _gateway_status(url: str, key: str) -> int:
    return httpx.get(f"{url}/pets/pets", headers={"X-API-Key": key}, timeout=10).status_code


def test_an_acquirer_acquires_makes_named_keys_and_a_deleted_one_stops_at_the_gateway(
    site: Site, visit: Visit, upstream_url: str, tmp_path: Path
) -> None:
    provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.click("nav.sections a:has-text('Catalogue')")
    card = page.locator("li.offering")
    expect(card.locator(".api-name")).to_have_text("Pets")
    expect(card.locator("h2")).to_have_text("Pets for partners")
    expect(card.locator("dd").first).to_contain_text("Every operation of the API")
    expect(card).to_contain_text("30 days")
    card.locator("button:has-text('Acquire')").click()
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    acquisition_url = page.url.split("?")[0]
    expect(page.locator(".notice")).to_contain_text("Acquired.")
    expect(page.locator("#acquisition-state")).to_have_text("active")
    expect(page.locator("#key-name-hint")).to_contain_text(
        "a colleague's name or a partner's organization"
    )

    first = create_key(page, "Dana Scully")
    expect(page.locator("#created-title")).to_have_text("New key “Dana Scully”")
    expect(page.locator(".secret .warning")).to_contain_text("will not be shown again")
    page.click("button[data-copy]")
    expect(page.locator("#new-key-secret-status")).to_have_text("Copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == first
    second = create_key(page, "Initrode (partner)")
    assert second != first
    expect(page.locator("#keys tbody th.name")).to_have_text(["Initrode (partner)", "Dana Scully"])
    assert page.content().count(second) == 1  # the card only
    assert first not in page.content()
    readme_screenshot(page.locator(".secret"), "show-once-card")
    readme_screenshot(page, "acquisition")
    # The API's keys never expire: nothing to renew.
    expect(key_row(page, "Dana Scully").locator("td[data-label=Expires]")).to_have_text("Never")
    expect(key_row(page, "Dana Scully").locator("button:has-text('Renew')")).to_have_count(0)

    with serve_gateway(site.database_url, tmp_path) as gateway:
        deadline = time.monotonic() + 10
        while _gateway_status(gateway.url, copied) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gateway_status(gateway.url, copied) == 200

        page.goto(acquisition_url)
        key_row(page, "Dana Scully").locator("a:has-text('Delete')").click()
        dialog = page.locator("dialog[open]")
        expect(dialog.locator("h3")).to_have_text("Delete “Dana Scully”?")
        assert page.evaluate("document.activeElement.textContent") == "Cancel"
        dialog.locator("button:has-text('Delete key')").click()
        page.wait_for_url(re.compile(r"\?done=deleted$"))
        expect(page.locator(".notice")).to_contain_text("revoked and deleted")
        expect(page.locator("#keys tbody th.name")).to_have_text(["Initrode (partner)"])

        deadline = time.monotonic() + 2
        status = _gateway_status(gateway.url, copied)
        while status != 401 and time.monotonic() < deadline:
            time.sleep(0.05)
            status = _gateway_status(gateway.url, copied)
        assert status == 401
        assert _gateway_status(gateway.url, second) == 200
    log = site.server.log.read_text()
    assert first not in log
    assert second not in log


def test_another_organizations_acquisition_answers_like_a_missing_one(
    shared_site: Site, visit: Visit, browser: Browser, upstream_url: str
) -> None:
    site = shared_site
    provided = provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("bo"))
    theirs = _acquire(page, site)
    bo_key = create_key(page, "bo's key")
    bo_key_id = page.locator("#keys tbody tr").get_attribute("data-key-id")

    page.context.clear_cookies()
    sign_in(page, site.url, site.email("alex"))
    mine = _acquire(page, site)
    page.goto(f"{site.url}/acquisitions")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_attribute("data-acquisition-id", mine)
    csrf = page.locator("input[name=csrf_token]").first.input_value()

    missing_id = "acq_" + "0" * 26
    missing = page.goto(f"{site.url}/acquisitions/{missing_id}")
    assert missing is not None
    missing_text = page.locator("main").inner_text()
    found = page.goto(f"{site.url}/acquisitions/{theirs}")
    assert found is not None
    assert (missing.status, found.status) == (404, 404)
    assert page.locator("main").inner_text().replace(theirs, missing_id) == missing_text
    for path, form in (
        (f"/acquisitions/{theirs}/keys", {"name": "sneaky"}),
        (f"/acquisitions/{theirs}/keys/{bo_key_id}/delete", {}),
        (f"/acquisitions/{theirs}/keys/{bo_key_id}/rotate", {"grace": "PT0S"}),
        (f"/acquisitions/{theirs}/reacquire", {}),
        (f"/acquisitions/{theirs}/connectors", {"kind": "storage", "path": "x.json"}),
        # Bo's key through Alex's own acquisition is no key of it either.
        (f"/acquisitions/{mine}/keys/{bo_key_id}/delete", {}),
        (f"/acquisitions/{mine}/keys/{bo_key_id}/rotate", {"grace": "PT0S"}),
    ):
        answer = page.request.post(
            f"{site.url}{path}", form={"csrf_token": csrf, "key_source": "generate", **form}
        )
        assert answer.status == 404, path
    for path in (
        f"/acquisitions/{theirs}/openapi",
        f"/acquisitions/{mine}/keys/{bo_key_id}/delete",
    ):
        assert page.request.get(f"{site.url}{path}").status == 404, path
    with site.api(site.admin_key) as client:
        keys = client.get("/v1/keys", params={"acquisition": theirs}).json()["data"]
        verified = client.post("/v1/keys/verify", json={"key": bo_key}).json()
    assert [key["name"] for key in keys] == ["bo's key"]
    assert verified["valid"] is True
    assert provided.initech


def test_a_post_without_or_with_a_forged_csrf_token_changes_nothing(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provided = provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    acquisition = _acquire(page, site)
    create_key(page, "kept")
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    page.evaluate(
        "document.querySelectorAll('dialog input[name=csrf_token]')"
        ".forEach(i => { i.value = 'forged' + i.value.slice(6) })"
    )
    key_row(page, "kept").locator("a:has-text('Delete')").click()
    page.click("dialog[open] button:has-text('Delete key')")
    page.wait_for_load_state()
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".error")).to_contain_text("nothing was changed")

    page.goto(f"{site.url}/acquisitions/{acquisition}")
    key_id = page.locator("#keys tbody tr").get_attribute("data-key-id")
    attempts: list[tuple[str, dict[str, str | float | bool]]] = [
        (f"/acquisitions/{acquisition}/keys", {"name": "sneaky"}),
        (f"/acquisitions/{acquisition}/keys/{key_id}/delete", {}),
        (f"/acquisitions/{acquisition}/keys/{key_id}/rotate", {"grace": "PT0S"}),
        (f"/acquisitions/{acquisition}/connectors", {"kind": "storage", "path": "a.json"}),
        ("/catalogue/acquire", {"offering_id": provided.offering_id}),
    ]
    for path, form in attempts:
        assert page.request.post(f"{site.url}{path}", form=form).status == 403, path
        forged: dict[str, str | float | bool] = {**form, "csrf_token": "x" * 43}
        assert page.request.post(f"{site.url}{path}", form=forged).status == 403, path
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    expect(page.locator("#keys tbody th.name")).to_have_text(["kept"])
    expect(page.locator("#keys tbody .state")).to_have_text(["active"])
    expect(page.locator("#connectors tbody tr")).to_have_count(0)


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'], ids=["script", "img"]
)
def test_key_names_are_shown_literally_and_never_run(
    site: Site, visit: Visit, upstream_url: str, name: str
) -> None:
    provide(site, upstream_url, offering=name)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/catalogue")
    expect(page.locator("li.offering h2")).to_have_text(name)
    acquisition = _acquire(page, site, name)
    expect(page.locator("p.lead")).to_contain_text(name)
    create_key(page, name)
    expect(page.locator("#created-title")).to_have_text(f"New key “{name}”")
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    expect(page.locator("#keys tbody th.name")).to_have_text([name])
    key_row(page, name).locator("a:has-text('Delete')").click()
    expect(page.locator("dialog[open] h3")).to_have_text(f"Delete “{name}”?")
    page.keyboard.press("Escape")
    key_row(page, name).locator("a:has-text('Rotate')").click()
    expect(page.locator("dialog[open] h3")).to_have_text(f"Rotate “{name}”?")
    page.keyboard.press("Escape")
    # The same name twice is refused, and the refusal shows it literally too.
    create_key(page, "placeholder")
    page.fill("#key-name", name)
    page.click("button:has-text('Create key')")
    expect(page.locator("#key-name-error")).to_contain_text("already has a key named")
    page.goto(f"{site.url}/acquisitions")
    expect(page.locator("tbody td[data-label=Offering]")).to_have_text(name)
    key_id = page.goto(f"{site.url}/acquisitions/{acquisition}")
    assert key_id is not None
    assert page.locator("img").count() == 0
    assert page.locator("main script").count() == 0
    assert visit.dialogs == []


def test_an_expired_acquisition_says_so_and_reacquiring_makes_its_keys_work_again(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provided = provide(site, upstream_url)
    alex = site.key_of(site.email("alex"), "script", "acquisitions:use", "keys:create")
    now = datetime.now(UTC)
    with site.api(site.admin_key) as client:
        made = client.post(
            "/v1/acquisitions",
            json={
                "offering_id": provided.offering_id,
                "organization_id": provided.globex,
                "valid_from": (now - timedelta(days=1)).isoformat(),
                "valid_until": (now + timedelta(seconds=8)).isoformat(),
            },
        )
    assert made.status_code == 201, made.text
    acquisition = made.json()["id"]
    with site.api(alex["key"]) as client:  # at once: the acquisition ends in a few seconds
        key = client.post(f"/v1/acquisitions/{acquisition}/keys", json={"name": "field team"})
    assert key.status_code == 201, key.text
    secret = key.json()["key"]

    def code() -> str:
        with site.api(site.admin_key) as client:
            return str(client.post("/v1/keys/verify", json={"key": secret}).json()["code"])

    while datetime.now(UTC) < now + timedelta(seconds=8.5):
        time.sleep(0.2)
    assert code() == "acquisition_expired"
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    expect(page.locator("#acquisition-state")).to_have_text("expired")
    expect(page.locator("#expired-notice")).to_contain_text("Reacquiring makes the same keys work")
    expect(page.locator("#key-name")).to_have_count(0)
    expect(page.locator("#keys tbody th.name")).to_have_text(["field team"])
    page.click("button:has-text('Reacquire')")
    page.wait_for_url(re.compile(r"\?done=reacquired$"))
    expect(page.locator(".notice")).to_contain_text("valid again")
    expect(page.locator("#acquisition-state")).to_have_text("active")
    expect(page.locator("#expired-notice")).to_have_count(0)
    assert code() == "valid"


def test_renew_and_rotate_with_a_grace_period_from_the_policy(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provide(site, upstream_url, policy={"key_lifetime": "P30D", "max_rotation_grace": "P1D"})
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    acquisition = _acquire(page, site)
    old = create_key(page, "ops")
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    row = key_row(page, "ops")
    expires_before = row.locator("td[data-label=Expires] time").get_attribute("datetime")
    row.locator("button:has-text('Renew')").click()
    page.wait_for_url(re.compile(r"\?done=renewed&key=key_\w+$"))
    expect(page.locator(".notice")).to_contain_text("“ops” is renewed: it now expires")
    expires_after = key_row(page, "ops").locator("td[data-label=Expires] time")
    assert (expires_after.get_attribute("datetime") or "") > (expires_before or "")

    key_row(page, "ops").locator("a:has-text('Rotate')").click()
    grace = page.locator("dialog[open] select[name=grace] option")
    expect(grace).to_have_text(["At once", "1 hour", "1 day"])
    page.select_option("dialog[open] select[name=grace]", "PT1H")
    page.click("dialog[open] button:has-text('Rotate key')")
    expect(page.locator("#created-title")).to_have_text("New secret for “ops”")
    new = page.locator("#new-key-secret").inner_text()
    assert new != old
    expect(page.locator("main")).to_contain_text("The old secret keeps working until")
    with site.api(site.admin_key) as client:
        for secret in (old, new):
            assert client.post("/v1/keys/verify", json={"key": secret}).json()["valid"] is True
    # A grace beyond the policy's, slipped into the form, is refused.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    key_id = key_row(page, "ops").get_attribute("data-key-id")
    answer = page.request.post(
        f"{site.url}/acquisitions/{acquisition}/keys/{key_id}/rotate",
        form={"csrf_token": csrf, "grace": "P30D"},
    )
    assert answer.status == 422
    assert "Choose one of the grace periods offered." in answer.text()


def test_delete_where_revocation_needs_an_approver_offers_to_request_it(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provide(site, upstream_url, policy={"revocation_requires_approval": True})
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    acquisition = _acquire(page, site)
    secret = create_key(page, "contractor")
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    key_row(page, "contractor").locator("a:has-text('Delete')").click()
    expect(page.locator("dialog[open]")).to_contain_text("wants an approver to revoke keys")
    page.click("dialog[open] button:has-text('Delete key')")
    expect(page.locator("#problem-title")).to_have_text("Nothing was changed for “contractor”")
    expect(page.locator(".problem .error")).to_contain_text("approv")
    page.fill("#revocation-reason", "contract ended")
    page.click("button:has-text('Request revocation')")
    page.wait_for_url(re.compile(r"\?done=revocation-requested&key=key_\w+$"))
    expect(page.locator(".notice")).to_contain_text("an approver of the API decides")
    expect(key_row(page, "contractor").locator(".pending")).to_contain_text("pending")
    with site.api(site.admin_key) as client:
        assert client.post("/v1/keys/verify", json={"key": secret}).json()["valid"] is True


def test_export_downloads_and_connectors(
    browser: Browser, upstream_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = tmp_path / "exports"
    env = {"KEYWARD_CONNECTOR_FILE_ROOT": str(root)}
    with running_site(tmp_path / "site", **env) as site:
        provide(site, upstream_url)
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        try:
            sign_in(page, site.url, site.email("alex"))
            acquisition = _acquire(page, site)
            expect(page.locator("#last-update")).to_contain_text("(version 1)")
            expect(page.locator("#export")).to_contain_text("must be redone")
            expect(page.locator("#connectors")).to_contain_text("every time the provider updates")
            expect(page.locator("#v2-warnings li")).to_contain_text(
                ["OpenAPI 2.0 has no servers per operation"]
            )
            page.check("input[name=version][value='2.0']")
            page.check("input[name=format][value=yaml]")
            with page.expect_download() as downloading:
                page.click("#export button:has-text('Download')")
            download = downloading.value
            assert download.suggested_filename == f"{acquisition}-openapi-2.0.yaml"
            text = Path(download.path()).read_text()
            assert "swagger: '2.0'" in text or 'swagger: "2.0"' in text

            # A path that climbs out of the destination is refused next to its field.
            page.fill("#connector-path", "../escape.json")
            page.click("button:has-text('Create connector')")
            expect(page.locator("#connector-path-error")).to_be_visible()
            page.fill("#connector-path", "globex/pets.json")
            page.select_option("#connector-version", "2.0")
            page.click("button:has-text('Create connector')")
            expect(page.locator("#connector-key-title")).to_contain_text("Key generated")
            generated = page.locator("#connector-key-secret").inner_text()
            assert generated.startswith("kw_")
            row = page.locator("#connectors tbody tr")
            expect(row.locator("th")).to_have_text("local: globex/pets.json")
            expect(row.locator("td[data-label=Standard]")).to_have_text("OpenAPI 2.0, JSON")

            assert cli(site.database_url, "worker", "--once", **env).code == 0
            assert (root / "globex" / "pets.json").exists()
            page.goto(f"{site.url}/acquisitions/{acquisition}")
            page.click("#connectors tbody th a")
            expect(page.locator("h1")).to_contain_text("Connector con_")
            expect(page.locator("tbody td[data-label=Outcome]")).to_have_text(["succeeded"])

            # An existing key that is not this acquisition's is refused.
            page.goto(f"{site.url}/acquisitions/{acquisition}")
            page.fill("#connector-path", "globex/again.json")
            page.check("input[name=key_source][value=existing]")
            page.fill("#connector-key", "kw_" + "A" * 38)
            page.click("button:has-text('Create connector')")
            expect(page.locator("#connector-key-error")).to_contain_text("not a valid key")
            page.check("input[name=kind][value=webhook]")
            page.fill("#connector-url", "http://127.0.0.1:9/hooks/keyward")
            page.check("input[name=key_source][value=existing]")
            page.fill("#connector-key", generated)
            page.click("button:has-text('Create connector')")
            expect(page.locator("#connectors tbody tr")).to_have_count(2)
            expect(page.locator("#connectors tbody th").first).to_have_text(
                "http://127.0.0.1:9/hooks/keyward"
            )
            signing = page.locator("#connector-signing-secret").inner_text()
            assert signing.startswith("whsec_")
            expect(page.locator("#connector-key-secret")).to_have_count(0)
            assert generated not in page.content()

            page.locator("#connectors tbody tr").first.locator("a:has-text('Delete')").click()
            page.click("dialog[open] button:has-text('Delete connector')")
            # Nothing chosen for its key: the browser asks, the connector stays.
            expect(page.locator("dialog[open]")).to_contain_text("The key it delivers")
            page.check("dialog[open] input[name=key][value=keep]")
            page.click("dialog[open] button:has-text('Delete connector')")
            page.wait_for_url(re.compile(r"\?done=connector-deleted#"))
            expect(page.locator("#connectors tbody tr")).to_have_count(1)
            expect(page.locator(".notice")).to_contain_text("keeps working until you revoke it")
            with site.api(site.admin_key) as client:
                assert client.post("/v1/keys/verify", json={"key": generated}).json()["valid"]
            page.locator("#connectors tbody tr").first.locator("a:has-text('Delete')").click()
            page.check("dialog[open] input[name=key][value=revoke]")
            page.click("dialog[open] button:has-text('Delete connector')")
            page.wait_for_url(re.compile(r"\?done=connector-deleted-key-revoked#"))
            expect(page.locator(".notice")).to_contain_text("is revoked")
            expect(page.locator("#connectors tbody tr")).to_have_count(0)
            with site.api(site.admin_key) as client:
                verdict = client.post("/v1/keys/verify", json={"key": generated}).json()
                assert verdict["valid"] is False
            log = site.server.log.read_text()
            assert generated not in log
            assert signing not in log
        finally:
            page.screenshot(
                path=str(Path(__file__).parent / "screenshots" / f"{request.node.name}.png"),
                full_page=True,
            )
            context.close()


def test_a_2_0_connector_cannot_be_made_for_an_api_whose_key_is_a_cookie(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    cookie = {"scheme": "keyward", "in": "cookie", "name": "kw", "role": "key"}
    provide(site, upstream_url, policy={"key_locations": [cookie]})
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    acquisition = _acquire(page, site)
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    swagger = page.locator("#connector-version option[value='2.0']")
    expect(swagger).to_be_disabled()
    expect(swagger).to_contain_text("cannot describe this API")
    # A 2.0 connector slipped into the form is refused at once, on the version field.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    form = {"kind": "storage", "path": "globex/pets.json", "version": "2.0", "format": "json"}
    answer = page.request.post(
        f"{site.url}/acquisitions/{acquisition}/connectors",
        form={"csrf_token": csrf, "key_source": "generate", **form},
    )
    assert answer.status == 422
    page.set_content(answer.text())
    expect(page.locator("#connector-version-error")).to_contain_text(
        "takes its key in a cookie, which OpenAPI 2.0 cannot describe"
    )
    expect(page.locator("#connectors")).to_contain_text("No connectors yet.")


def test_the_catalogue_asks_which_organization_and_says_when_it_already_acquired(
    site: Site, visit: Visit, upstream_url: str
) -> None:
    provided = provide(site, upstream_url)
    member(site, "cara@example.com", "Cara Both", provided.globex, provided.initech)
    page = visit.page
    sign_in(page, site.url, "cara@example.com")
    page.goto(f"{site.url}/catalogue")
    select = page.locator("li.offering select[name=organization_id]")
    expect(select.locator("option")).to_have_text(["Choose an organization", "Globex", "Initech"])
    page.click("li.offering button:has-text('Acquire')")  # nothing chosen: the browser asks
    assert page.url == f"{site.url}/catalogue"
    select.select_option(label="Initech")
    page.click("li.offering button:has-text('Acquire')")
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+\?done=acquired$"))
    acquisition = page.url.rsplit("/", 1)[1].split("?")[0]
    expect(page.locator("p.lead")).to_contain_text("acquired for Initech")
    page.goto(f"{site.url}/catalogue")
    page.locator("li.offering select[name=organization_id]").select_option(label="Initech")
    page.click("li.offering button:has-text('Acquire')")
    expect(page.locator("li.offering .error")).to_contain_text("already acquired")
    page.click("li.offering .error a:has-text('Open that acquisition')")
    assert page.url == f"{site.url}/acquisitions/{acquisition}"


def test_an_acquisition_with_many_keys_pages_them(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provided = provide(site, upstream_url)
    acquired = cli(
        site.database_url, "--as", site.email("alex"), "acquisitions", "create",
        "--offering", provided.offering_id, "--organization", provided.globex, "--json",
    )  # fmt: skip
    assert acquired.code == 0, acquired.stderr
    acquisition = acquired.json()["id"]
    own = site.key_of(
        site.email("alex"), "bulk", "acquisitions:use", "acquisitions:read", "keys:create"
    )
    with site.api(own["key"]) as client:
        for n in range(30):
            made = client.post(f"/v1/acquisitions/{acquisition}/keys", json={"name": f"key {n}"})
            assert made.status_code == 201, made.text
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    started = time.monotonic()
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    assert time.monotonic() - started < 10
    expect(page.locator("#keys tbody tr")).to_have_count(25)
    expect(page.locator("#keys tbody th.name").first).to_have_text("key 29")
    page.click("#keys a[rel=next]")
    expect(page.locator("#keys tbody th.name")).to_have_text([f"key {n}" for n in range(4, -1, -1)])
    expect(page.locator("#keys a[rel=next]")).to_have_count(0)
    page.click("#keys a:has-text('First page')")
    expect(page.locator("#keys tbody tr")).to_have_count(25)


def test_the_acquisition_page_fits_a_phone(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provide(site, upstream_url)
    page = visit.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, site.url, site.email("alex"))
    _acquire(page, site)
    create_key(page, "phone")
    assert wider_than_viewport(page) == []
    expect(page.locator("button[data-copy]")).to_be_visible()
    expect(page.locator("#keys tbody td[data-label=State]")).to_be_visible()
    page.goto(f"{site.url}/catalogue")
    assert wider_than_viewport(page) == []
    page.goto(page.url.replace("/catalogue", "/acquisitions"))
    assert wider_than_viewport(page) == []
    page.click("tbody a")
    page.wait_for_url(re.compile(r"/acquisitions/acq_\w+$"))
    assert wider_than_viewport(page) == []


def test_odd_addresses_and_forms_get_pages_never_a_failure(
    shared_site: Site, visit: Visit, upstream_url: str
) -> None:
    site = shared_site
    provided = provide(site, upstream_url)
    page = visit.page
    sign_in(page, site.url, site.email("alex"))
    acquisition = _acquire(page, site)
    create_key(page, "kept")
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    key_id = page.locator("#keys tbody tr").get_attribute("data-key-id")
    for path in (
        "/catalogue?cursor=not-a-cursor",
        "/acquisitions?cursor=%00",
        f"/acquisitions/{acquisition}?cursor=zz&connectors_cursor=%FF",
        f"/acquisitions/{acquisition}?done=nonsense&key=key_nothing",
        f"/acquisitions/{acquisition}/openapi?version=9.9",
        f"/acquisitions/{acquisition}/openapi?format=xml",
        "/acquisitions/%3Cimg%20src=x%20onerror=alert(1)%3E",
        f"/acquisitions/{acquisition}/connectors/con_nothing",
        f"/acquisitions/{acquisition}/keys/{key_id}/rotate?x=%0d%0a",
    ):
        answer = page.request.get(f"{site.url}{path}")
        assert answer.status < 500, path
        assert answer.headers["content-type"].startswith("text/html"), path
    sent: list[tuple[str, dict[str, str | float | bool]]] = [
        ("/catalogue/acquire", {"offering_id": provided.offering_id, "organization_id": "x"}),
        ("/catalogue/acquire", {"offering_id": "off_nothing", "organization_id": provided.globex}),
        (f"/acquisitions/{acquisition}/keys", {"name": "n" * 500}),
        (f"/acquisitions/{acquisition}/keys", {"name": "line\nbreak"}),
        (f"/acquisitions/{acquisition}/keys/{key_id}/rotate", {"grace": "P-1D"}),
        (f"/acquisitions/{acquisition}/connectors", {"kind": "ftp", "key_source": "generate"}),
        (
            f"/acquisitions/{acquisition}/connectors",
            {"kind": "storage", "path": "a.json", "version": "9", "key_source": "generate"},
        ),
        (
            f"/acquisitions/{acquisition}/connectors",
            {"kind": "webhook", "url": "http://169.254.169.254/", "key_source": "generate"},
        ),
    ]
    for path, form in sent:
        answer = page.request.post(f"{site.url}{path}", form={"csrf_token": csrf, **form})
        assert 400 <= answer.status < 500, (path, form, answer.status)
        assert "<h1>" in answer.text(), path
    page.goto(f"{site.url}/acquisitions/{acquisition}")
    expect(page.locator("#keys tbody th.name")).to_have_text(["kept"])
    expect(page.locator("#connectors tbody tr")).to_have_count(0)
