"""A provider changing what is published, in a real Chromium against `keyward serve api`:
upstream and mount, a version with problems or with less security, the roles of the spec's
apiKey schemes, offerings edited and deleted; each refusal next to its field."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.portal.acquirer_support import member, serious_problems, upstream
from tests.portal.conftest import Site, Visit, running_site, sign_in
from tests.portal.provider_support import BAD_SPEC, import_form, snap, spec

KEYED_SPEC = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "Stores", "version": "1"},
        "components": {
            "securitySchemes": {
                "partnerKey": {"type": "apiKey", "in": "header", "name": "X-Partner-Key"},
                "account": {"type": "apiKey", "in": "query", "name": "account"},
            }
        },
        "security": [{"partnerKey": [], "account": []}],
        "paths": {
            "/stores": {
                "get": {"operationId": "listStores", "responses": {"200": {"description": "ok"}}}
            }
        },
    }
)

SWAGGER_YAML = """swagger: "2.0"
info: {title: Inventory, version: "1"}
securityDefinitions:
  key: {type: apiKey, in: header, name: X-Inventory-Key}
security: [{key: []}]
paths:
  /items:
    get: {operationId: listItems, responses: {"200": {description: ok}}}
    post: {operationId: addItem, responses: {"201": {description: made}}}
"""
OPENAPI31_YAML = """openapi: 3.1.0
info: {title: Ledger, version: "1"}
paths:
  /entries:
    get: {operationId: listEntries, responses: RESPONSES}
"""


@dataclass
class Published:
    site: Site
    api_id: str
    acquired_offering_id: str


def _post(site: Site, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with site.api(site.admin_key) as client:
        answer = client.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    made: dict[str, Any] = answer.json()
    return made


def _get(site: Site, path: str) -> dict[str, Any]:
    with site.api(site.admin_key) as client:
        answer = client.get(path)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


@pytest.fixture
def published(tmp_path: Path) -> Iterator[Published]:
    """Acme's API Pets (version 1 of the provider tests' spec) with an offering Globex
    acquired, beside Umbrella's API mounted at `weather`; Pat provides for Acme."""
    with upstream() as upstream_url, running_site(tmp_path / "site") as site:
        acme = _post(site, "/v1/organizations", {"name": "Acme APIs", "kind": "provider"})["id"]
        umbrella = _post(site, "/v1/organizations", {"name": "Umbrella", "kind": "provider"})["id"]
        globex = _post(site, "/v1/organizations", {"name": "Globex", "kind": "acquirer"})["id"]
        member(site, "pat@acme.example", "Pat Provider", acme, role="provider")
        api = _post(
            site,
            "/v1/apis",
            {
                "name": "Pets",
                "upstream_url": upstream_url,
                "mount_path": "pets",
                "spec": spec(1),
                "provider_organization_id": acme,
            },
        )
        _post(
            site,
            "/v1/apis",
            {
                "name": "Weather",
                "upstream_url": upstream_url,
                "mount_path": "weather",
                "spec": spec(1, title="Weather"),
                "provider_organization_id": umbrella,
            },
        )
        offering = _post(site, "/v1/offerings", {"api_id": api["id"], "name": "Pets for all"})
        _post(site, "/v1/acquisitions", {"offering_id": offering["id"], "organization_id": globex})
        yield Published(site, api["id"], offering["id"])


@pytest.mark.e2e
def test_a_provider_moves_an_api_and_uploads_versions_the_services_refuse_then_confirm(
    published: Published, visit: Visit
) -> None:
    site, page = published.site, visit.page
    sign_in(page, site.url, "pat@acme.example")
    page.goto(f"{site.url}/apis/{published.api_id}")

    # Another API's mount is taken; a free one moves the gateway address.
    page.fill("#settings-mount_path", "weather")
    page.click("button:has-text('Save upstream and mount')")
    expect(page.locator("#settings-mount_path-error")).to_contain_text("another API's")
    expect(page.locator("#settings-mount_path")).to_have_value("weather")
    page.fill("#settings-mount_path", "Not A Path!")
    page.click("button:has-text('Save upstream and mount')")
    expect(page.locator("#settings-mount_path-error")).to_be_visible()
    assert serious_problems(page) == []
    page.fill("#settings-mount_path", "partners/pets")
    page.click("button:has-text('Save upstream and mount')")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#api-gateway")).to_contain_text("/partners/pets")

    # A version with problems lists them and keeps the pasted text.
    page.fill("#version-spec", BAD_SPEC)
    page.click("button:has-text('Upload version')")
    expect(page.locator("#version-problems li")).to_have_count(3)
    assert page.locator("#version-spec").input_value() == BAD_SPEC
    expect(page.locator("#api-version")).to_have_text("1")

    # Making an operation public needs saying so.
    public = json.loads(spec(1))
    public["paths"]["/health"]["get"]["security"] = []
    page.fill("#version-spec", json.dumps(public))
    page.click("button:has-text('Upload version')")
    expect(page.locator("#version-weakened")).to_contain_text("GET /health")
    expect(page.locator("#api-version")).to_have_text("1")
    assert serious_problems(page) == []
    page.check("#version-confirm")
    page.click("button:has-text('Upload version')")
    page.wait_for_url(re.compile(r"\?done=version"))
    expect(page.locator("#api-version")).to_have_text("2")
    newest = page.locator("#version-2")
    expect(newest).to_contain_text("Less security, as confirmed: GET /health")
    expect(newest).to_contain_text("Public (no key): GET /health")
    versions = _get(site, f"/v1/apis/{published.api_id}/versions")["data"]
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["changes"]["weakened"] == ["GET /health"]
    snap(page, "api_confirmed_version")


@pytest.mark.e2e
def test_a_provider_imports_swagger_2_and_openapi_3_1_pasted_as_yaml(
    published: Published, visit: Visit
) -> None:
    site, page = published.site, visit.page
    upstream_url = _get(site, f"/v1/apis/{published.api_id}")["upstream_url"]
    sign_in(page, site.url, "pat@acme.example")
    import_form(page, site.url, name="Inventory", mount="inventory", upstream_url=upstream_url)
    page.fill("#import-spec", SWAGGER_YAML)
    page.click("button:has-text('Import API')")
    page.wait_for_url(re.compile(r"/apis/api_[^/?]+\?done=imported"))
    expect(page.locator("#version-1 .change-added li")).to_have_count(2)
    expect(page.locator("#version-1 .change-added")).to_contain_text("POST /items")

    # A 3.1 document in YAML: its problem is pointed at in the document's own terms.
    import_form(page, site.url, name="Ledger", mount="ledger", upstream_url=upstream_url)
    page.fill("#import-spec", OPENAPI31_YAML.replace("RESPONSES", "nope"))
    page.click("button:has-text('Import API')")
    expect(page.locator("#import-problems code.pointer")).to_contain_text(
        ["/paths/~1entries/get/responses"]
    )
    page.fill("#import-spec", OPENAPI31_YAML.replace("RESPONSES", '{"200": {description: ok}}'))
    page.click("button:has-text('Import API')")
    page.wait_for_url(re.compile(r"/apis/api_[^/?]+\?done=imported"))
    expect(page.locator("#version-1 .change-added li")).to_have_count(1)
    assert serious_problems(page) == []


@pytest.mark.e2e
def test_the_policy_form_binds_the_specs_api_key_schemes_to_roles(
    published: Published, visit: Visit
) -> None:
    site, page = published.site, visit.page
    sign_in(page, site.url, "pat@acme.example")
    page.goto(f"{site.url}/apis/import")
    page.fill("#import-upstream_url", "https://stores.example.com")
    page.fill("#import-mount_path", "stores")
    page.fill("#import-spec", KEYED_SPEC)
    page.click("button:has-text('Import API')")
    page.wait_for_url(re.compile(r"\?done=imported"))
    api_id = page.url.split("/apis/")[1].split("?")[0]
    page.click("a:has-text('Key policy')")
    rows = page.locator("table.locations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="partnerKey")).to_contain_text("header X-Partner-Key")
    expect(rows.filter(has_text="account")).to_contain_text("query account")
    account = page.locator("tr[data-scheme='account'] select")
    partner = page.locator("tr[data-scheme='partnerKey'] select")

    # Without a scheme carrying the key, nothing is saved, and the form says why.
    partner.select_option("passthrough")
    account.select_option("passthrough")
    page.click("button:has-text('Save key policy')")
    expect(page.locator("#policy-locations-error")).to_contain_text("role 'key'")
    expect(partner).to_have_value("passthrough")
    assert serious_problems(page) == []

    # The account parameter no longer verified as a key: checked less, so confirmed.
    partner.select_option("key")
    account.select_option("acquisition_id")
    page.click("button:has-text('Save key policy')")
    expect(page.locator("#policy-weakened")).to_contain_text("GET /stores")
    expect(page.locator("#policy-confirm_weaker_security-error")).to_contain_text("Tick the box")
    assert serious_problems(page) == []
    page.check("#policy-confirm")
    page.click("button:has-text('Save key policy')")
    expect(page.get_by_role("status")).to_have_text("The key policy is saved.")
    expect(account).to_have_value("acquisition_id")
    roles = {
        location["scheme"]: (location["in"], location["name"], location["role"])
        for location in _get(site, f"/v1/apis/{api_id}/policy")["key_locations"]
    }
    assert roles == {
        "partnerKey": ("header", "X-Partner-Key", "key"),
        "account": ("query", "account", "acquisition_id"),
    }


@pytest.mark.e2e
def test_a_provider_edits_and_deletes_offerings_and_keeps_acquired_ones(
    published: Published, visit: Visit
) -> None:
    site, page = published.site, visit.page
    sign_in(page, site.url, "pat@acme.example")
    page.goto(f"{site.url}/apis/{published.api_id}/offerings/new")

    # Some operations, none ticked; a limit half given.
    page.fill("#offering-name", "Stores only")
    page.check("#selection-some")
    page.fill("#limit-0-requests", "1000")
    page.click("button:has-text('Create offering')")
    expect(page.locator("#offering-operations-error")).to_contain_text("Tick the tags")
    expect(page.locator("#offering-limits-error")).to_contain_text("whole number")
    expect(page.locator("#offering-name")).to_have_value("Stores only")
    expect(page.locator("#limit-0-requests")).to_have_value("1000")
    assert serious_problems(page) == []
    snap(page, "offering_refused")

    page.get_by_label("listStores", exact=True).check()
    page.fill("#limit-0-count", "30")
    page.select_option("#limit-0-unit", "days")
    page.select_option("#limit-0-scope", "acquisition")
    page.fill("#period-count", "")
    page.click("button:has-text('Create offering')")
    page.wait_for_url(re.compile(r"\?done=created"))
    offering_id = page.url.split("/offerings/")[1].split("?")[0]
    made = _get(site, f"/v1/offerings/{offering_id}")
    assert made["operations"] == {"tags": [], "operation_ids": ["listStores"]}
    assert made["limits"] == [{"scope": "acquisition", "requests": 1000, "per": "P30D"}]
    assert made["acquisition_period"] is None

    # Every operation, no limit.
    page.check("#selection-all")
    page.fill("#limit-0-requests", "")
    page.fill("#limit-0-count", "")
    page.fill("#period-count", "7")
    page.click("button:has-text('Save offering')")
    expect(page.get_by_role("status")).to_have_text("The offering is saved.")
    saved = _get(site, f"/v1/offerings/{offering_id}")
    assert (saved["operations"], saved["limits"], saved["acquisition_period"]) == (None, [], "P7D")

    page.click("button:has-text('Delete offering')")
    page.wait_for_url(re.compile(rf"/apis/{published.api_id}\?done=offering-deleted"))
    expect(page.locator("#offerings tbody tr")).to_have_count(1)
    with site.api(site.admin_key) as client:
        assert client.get(f"/v1/offerings/{offering_id}").status_code == 404

    # One acquired stays: no button, and a form sent all the same changes nothing.
    page.goto(f"{site.url}/apis/{published.api_id}/offerings/{published.acquired_offering_id}")
    expect(page.locator("#acquisitions tbody tr")).to_have_count(1)
    expect(page.locator("button:has-text('Delete offering')")).to_have_count(0)
    token = page.locator("input[name='csrf_token']").first.get_attribute("value")
    assert token
    refused = page.request.post(
        f"{site.url}/apis/{published.api_id}/offerings/{published.acquired_offering_id}/delete",
        form={"csrf_token": token},
    )
    assert refused.status == 409
    assert "has acquisitions" in refused.text()
    assert _get(site, f"/v1/offerings/{published.acquired_offering_id}")["name"] == "Pets for all"
    assert serious_problems(page) == []
