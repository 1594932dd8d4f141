"""The provider's APIs pages in a real Chromium against a real `keyward serve` with its worker
and a real SMTP server: importing a spec (its problems first), versions and what they changed,
the key policy, offerings and their acquisitions, and what a new version sends acquirers."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.jobs.receivers import Mailbox
from tests.portal.acquirer_support import member, serious_problems, upstream
from tests.portal.conftest import Site, Visit, running_site, sign_in
from tests.portal.provider_support import BAD_SPEC, import_form, snap, spec, wait_for


@dataclass
class Workspace:
    site: Site
    exports: Path
    upstream: str
    acme: str
    umbrella: str
    globex: str
    initech: str
    approver: str


def _post(site: Site, path: str, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    with site.api(key or site.admin_key) as client:
        answer = client.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    made: dict[str, Any] = answer.json()
    return made


@pytest.fixture
def workspace(tmp_path: Path, mailbox: Mailbox) -> Iterator[Workspace]:
    """Acme and Umbrella provide, Globex and Initech acquire; Pat provides for Acme, Uma for
    Umbrella, Ada approves; the worker mails `mailbox` and writes exports below `exports`."""
    exports = tmp_path / "exports"
    with (
        upstream() as upstream_url,
        running_site(
            tmp_path / "site",
            part="all",
            KEYWARD_SMTP_HOST=mailbox.host,
            KEYWARD_SMTP_PORT=str(mailbox.port),
            KEYWARD_SMTP_SECURITY="none",
            KEYWARD_WORKER_INTERVAL="0.2",
            KEYWARD_CONNECTOR_FILE_ROOT=str(exports),
        ) as site,
    ):
        organizations = {
            name: _post(site, "/v1/organizations", {"name": name, "kind": kind})["id"]
            for name, kind in (
                ("Acme APIs", "provider"),
                ("Umbrella", "provider"),
                ("Globex", "acquirer"),
                ("Initech", "acquirer"),
            )
        }
        member(
            site, "pat@acme.example", "Pat Provider", organizations["Acme APIs"], role="provider"
        )
        member(
            site, "uma@umbrella.example", "Uma Umbrella", organizations["Umbrella"], role="provider"
        )
        member(site, "alex@globex.example", "Alex Acquirer", organizations["Globex"])
        member(site, "bo@initech.example", "Bo Acquirer", organizations["Initech"])
        approver = member(
            site, "ada@acme.example", "Ada Approver", organizations["Acme APIs"], role="approver"
        )
        yield Workspace(
            site,
            exports,
            upstream_url,
            organizations["Acme APIs"],
            organizations["Umbrella"],
            organizations["Globex"],
            organizations["Initech"],
            approver,
        )


@pytest.mark.e2e
def test_a_provider_imports_updates_governs_and_offers_an_api(
    workspace: Workspace, mailbox: Mailbox, visit: Visit
) -> None:
    site, page = workspace.site, visit.page
    sign_in(page, site.url, "pat@acme.example")
    expect(page.locator("nav.sections")).to_contain_text("APIs")
    page.goto(f"{site.url}/")
    expect(page.locator(".tiles a[href='/apis']")).to_have_text("APIs")

    # A spec with problems: every one is listed with its pointer, what was typed stays.
    import_form(page, site.url, name="Pets", mount="pets", upstream_url=workspace.upstream)
    page.fill("#import-spec", BAD_SPEC)
    page.click("button:has-text('Import API')")
    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(3)
    pointers = page.locator("#import-problems code.pointer").all_inner_texts()
    assert pointers == ["/info", "/paths/~1pets/get/responses", "/paths"]
    expect(problems.nth(0)).to_contain_text("'version' is a required property")
    expect(page.locator("#import-name")).to_have_value("Pets")
    expect(page.locator("#import-mount_path")).to_have_value("pets")
    assert page.locator("#import-spec").input_value() == BAD_SPEC
    assert serious_problems(page) == []
    snap(page, "import_problems")

    # The good one, as a file: the API's page, version 1 with every operation added.
    page.fill("#import-spec", "")
    page.set_input_files(
        "#import-spec-file",
        {"name": "pets.json", "mimeType": "application/json", "buffer": spec(1).encode()},
    )
    page.click("button:has-text('Import API')")
    page.wait_for_url(re.compile(r"/apis/api_[^/?]+\?done=imported"))
    api_id = page.url.split("/apis/")[1].split("?")[0]
    expect(page.get_by_role("heading", level=1)).to_have_text("Pets")
    expect(page.locator("#version-1 .change-added li")).to_have_count(4)
    expect(page.locator("#api-gateway")).to_contain_text("/pets")
    assert serious_problems(page) == []

    # An offering by tag with a rate limit.
    page.click("a:has-text('New offering')")
    page.fill("#offering-name", "Pets for partners")
    page.fill("#period-count", "30")
    page.check("#selection-some")
    page.get_by_label("pets", exact=True).check()
    page.fill("#limit-0-requests", "10")
    page.fill("#limit-0-count", "1")
    page.select_option("#limit-0-unit", "minutes")
    page.select_option("#limit-0-scope", "key")
    assert serious_problems(page) == []
    page.click("button:has-text('Create offering')")
    page.wait_for_url(re.compile(r"/offerings/off_[^/?]+\?done=created"))
    offering_url = page.url.split("?")[0]
    offering_id = offering_url.rsplit("/", 1)[1]
    expect(page.locator("#acquisitions")).to_contain_text("Not acquired yet")
    with site.api(site.admin_key) as client:
        offering = client.get(f"/v1/offerings/{offering_id}").json()
    assert offering["operations"] == {"tags": ["pets"], "operation_ids": []}
    assert offering["limits"] == [{"scope": "key", "requests": 10, "per": "PT1M"}]
    assert offering["acquisition_period"] == "P30D"

    # Globex acquires it and connects a storage export; Initech acquires it and exports by hand.
    alex = site.key_of(
        "alex@globex.example",
        "alex",
        "acquisitions:*",
        "offerings:read",
        "organizations:read",
        "connectors:*",
        "keys:create",
        "keys:read",
    )["key"]
    bo = site.key_of(
        "bo@initech.example",
        "bo",
        "acquisitions:create",
        "acquisitions:read",
        "offerings:read",
        "organizations:read",
    )["key"]
    globex = _post(
        site,
        "/v1/acquisitions",
        {"offering_id": offering_id, "organization_id": workspace.globex},
        alex,
    )
    _post(
        site,
        "/v1/acquisitions",
        {"offering_id": offering_id, "organization_id": workspace.initech},
        bo,
    )
    _post(
        site,
        f"/v1/acquisitions/{globex['id']}/connectors",
        {"kind": "storage", "path": "globex/pets.json"},
        alex,
    )
    page.reload()
    rows = page.locator("#acquisitions tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#acquisitions")).to_contain_text("Globex")
    expect(page.locator("#acquisitions")).to_contain_text("Initech")
    expect(rows.filter(has_text="Globex").locator(".key-count")).to_have_text("1")
    expect(rows.filter(has_text="Initech").locator(".key-count")).to_have_text("0")
    assert serious_problems(page) == []
    snap(page, "offering")

    # A new version, pasted: its diff, and what it sends the two acquirers.
    page.goto(f"{site.url}/apis/{api_id}")
    page.fill("#version-spec", spec(2))
    page.click("button:has-text('Upload version')")
    page.wait_for_url(re.compile(r"\?done=version"))
    expect(page.locator("#api-version")).to_have_text("2")
    newest = page.locator("#versions li.version").first
    expect(newest).to_have_attribute("data-version", "2")
    expect(newest.locator(".change-added")).to_contain_text("POST /pets")
    expect(newest.locator(".change-removed")).to_contain_text("GET /health")
    expect(newest.locator(".change-changed")).to_contain_text("GET /pets/{petId}")
    assert serious_problems(page) == []
    snap(page, "api_versions")
    exported = workspace.exports / "globex" / "pets.json"
    wait_for(
        lambda: exported.exists() and "createPet" in exported.read_text(),
        "the re-export of version 2 written for Globex",
    )
    mail = wait_for(
        lambda: [
            m
            for m in mailbox.mails
            if "bo@initech.example" in m.recipients
            and "new spec (version 2)" in m.message["Subject"]
        ],
        "Initech told of version 2 by e-mail",
    )
    assert "download it again" in mail[0].part("plain")
    assert not [
        m
        for m in mailbox.mails
        if "alex@globex.example" in m.recipients and "new spec" in m.message["Subject"]
    ]

    # The key policy: a lifetime, approvals and an approver; a bad lifetime first.
    page.click("a:has-text('Key policy')")
    expect(page.get_by_role("heading", name="Key policy")).to_be_visible()
    expect(page.locator("table.locations tbody tr")).to_have_count(1)
    expect(page.locator("#in-0")).to_have_value("header")
    page.check("#lifetime-after")
    page.fill("#lifetime-count", "")
    page.click("button:has-text('Save key policy')")
    expect(page.locator("#policy-lifetime-error")).to_contain_text("Give how long keys live")
    page.fill("#lifetime-count", "90")
    page.select_option("#lifetime-unit", "days")
    page.check("#approve-renewal")
    page.check("#approve-revocation")
    page.check("#approve-issuance")
    page.get_by_label("Ada Approver").check()
    page.check("#apply-existing")
    page.fill("#grace-count", "2")
    page.select_option("#grace-unit", "days")
    page.click("button:has-text('Save key policy')")
    expect(page.get_by_role("status")).to_have_text("The key policy is saved.")
    expect(page.locator("#lifetime-count")).to_have_value("90")
    assert serious_problems(page) == []
    snap(page, "policy")
    with site.api(site.admin_key) as client:
        policy = client.get(f"/v1/apis/{api_id}/policy").json()
    assert policy["key_lifetime"] == "P90D"
    assert policy["max_rotation_grace"] == "P2D"
    assert policy["renewal_requires_approval"] is True
    assert policy["revocation_requires_approval"] is True
    assert policy["issuance_requires_approval"] is True
    assert policy["approvers"] == [workspace.approver]
    with site.api(site.admin_key) as client:
        [connector_key] = client.get(f"/v1/acquisitions/{globex['id']}/keys").json()["data"]
    expires = datetime.fromisoformat(connector_key["expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)

    page.goto(f"{site.url}/apis")
    row = page.locator("tr[data-api-id]")
    expect(row).to_have_count(1)
    expect(row.locator(".version")).to_have_text("2")
    expect(row.locator(".offering-count")).to_have_text("1")
    assert serious_problems(page) == []
