"""What the provider's APIs pages refuse, in a real Chromium against `keyward serve api`:
another provider organization's API and an acquirer's look answer like nothing is there,
an upstream on a metadata address is refused with the egress policy's reason, and a spec's
hostile title and description are shown as text."""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from keyward.portal.security import CSRF_FIELD
from tests.portal.acquirer_support import SPEC, member, serious_problems, upstream
from tests.portal.conftest import Site, Visit, running_site, sign_in
from tests.portal.provider_support import BAD_SPEC, import_form, snap, spec

HOSTILE_TITLE = "<script>window.hacked = 1</script>Pets <img src=x onerror=alert(1)>"


@dataclass
class Provided:
    site: Site
    upstream: str
    api_id: str
    offering_id: str
    own_api_id: str


def _post(site: Site, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with site.api(site.admin_key) as client:
        answer = client.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    made: dict[str, Any] = answer.json()
    return made


@pytest.fixture(scope="module")
def provided(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provided]:
    """Acme's API Pets with an offering Globex acquired; Umbrella's own API Weather. Pat
    provides for Acme, Uma for Umbrella, Alex acquires for Globex. One server for the module:
    its tests are refused everything but importing an API of Acme's own, which none of the
    others looks for."""
    with upstream() as upstream_url, running_site(tmp_path_factory.mktemp("site")) as site:
        acme = _post(site, "/v1/organizations", {"name": "Acme APIs", "kind": "provider"})["id"]
        umbrella = _post(site, "/v1/organizations", {"name": "Umbrella", "kind": "provider"})["id"]
        globex = _post(site, "/v1/organizations", {"name": "Globex", "kind": "acquirer"})["id"]
        member(site, "pat@acme.example", "Pat Provider", acme, role="provider")
        member(site, "uma@umbrella.example", "Uma Umbrella", umbrella, role="provider")
        member(site, "alex@globex.example", "Alex Acquirer", globex)
        api = _post(
            site,
            "/v1/apis",
            {
                "name": "Pets",
                "upstream_url": upstream_url,
                "mount_path": "pets",
                "spec": json.dumps(SPEC),
                "provider_organization_id": acme,
            },
        )
        offering = _post(site, "/v1/offerings", {"api_id": api["id"], "name": "Pets for all"})
        _post(site, "/v1/acquisitions", {"offering_id": offering["id"], "organization_id": globex})
        own = _post(
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
        yield Provided(site, upstream_url, api["id"], offering["id"], own["id"])


def _csrf(page: Page) -> str:
    token = page.locator(f"input[name='{CSRF_FIELD}']").first.get_attribute("value")
    assert token
    return token


def _state(provided: Provided) -> dict[str, Any]:
    """What the REST API says of Acme's API: unchanged by anything refused."""
    with provided.site.api(provided.site.admin_key) as client:
        api = client.get(f"/v1/apis/{provided.api_id}").json()
        policy = client.get(f"/v1/apis/{provided.api_id}/policy").json()
        offering = client.get(f"/v1/offerings/{provided.offering_id}")
    api.pop("policy")
    return {"api": api, "policy": policy, "offering": offering.json()}


@pytest.mark.e2e
def test_another_provider_organizations_api_answers_404_on_every_page_and_form(
    provided: Provided, visit: Visit
) -> None:
    site, page = provided.site, visit.page
    before = _state(provided)
    sign_in(page, site.url, "uma@umbrella.example")
    page.goto(f"{site.url}/apis")
    expect(page.locator("tr[data-api-id]")).to_have_count(1)
    expect(page.locator("tr[data-api-id]")).to_contain_text("Weather")
    token = _csrf(page)
    api = f"{site.url}/apis/{provided.api_id}"
    offering = f"{api}/offerings/{provided.offering_id}"
    for address in (
        api,
        f"{api}/versions",
        f"{api}/policy",
        f"{api}/offerings",
        f"{api}/offerings/new",
        offering,
        # Acme's offering under Umbrella's own API is not there either.
        f"{site.url}/apis/{provided.own_api_id}/offerings/{provided.offering_id}",
    ):
        answer = page.goto(address)
        assert answer is not None
        assert answer.status == 404, address
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    forms: list[tuple[str, dict[str, str]]] = [
        (api, {"upstream_url": provided.upstream, "mount_path": "stolen"}),
        (f"{api}/policy", {"lifetime_mode": "after", "lifetime_count": "1"}),
        (f"{api}/offerings", {"name": "Stolen", "selection": "all"}),
        (offering, {"name": "Renamed", "selection": "all"}),
        (f"{offering}/delete", {}),
        (
            f"{site.url}/apis/{provided.own_api_id}/offerings/{provided.offering_id}",
            {"name": "Renamed", "selection": "all"},
        ),
    ]
    for address, fields in forms:
        sent = page.request.post(address, form={CSRF_FIELD: token, **fields})
        assert sent.status == 404, address
    uploaded = page.request.post(
        f"{api}/versions",
        multipart={
            CSRF_FIELD: token,
            "spec_file": {
                "name": "pets.json",
                "mimeType": "application/json",
                "buffer": spec(2).encode(),
            },
        },
    )
    assert uploaded.status == 404
    assert _state(provided) == before
    page.goto(f"{site.url}/apis/{provided.api_id}/policy")


@pytest.mark.e2e
def test_an_acquirer_sees_no_apis_section_and_the_provider_pages_answer_404(
    provided: Provided, visit: Visit
) -> None:
    site, page = provided.site, visit.page
    sign_in(page, site.url, "alex@globex.example")
    expect(page.locator("nav.sections")).to_contain_text("Acquisitions")
    expect(page.locator("nav.sections")).not_to_contain_text("APIs")
    page.goto(f"{site.url}/")
    expect(page.locator(".tiles a[href='/acquisitions']")).to_be_visible()
    expect(page.locator(".tiles a[href='/apis']")).to_have_count(0)
    listed = page.goto(f"{site.url}/apis")
    assert listed is not None
    assert listed.status == 403
    for address in (f"/apis/{provided.api_id}", f"/apis/{provided.api_id}/policy"):
        answer = page.goto(site.url + address)
        assert answer is not None
        assert answer.status == 404, address
    token = _csrf(page)
    sent = page.request.post(
        f"{site.url}/apis/{provided.api_id}/policy",
        form={CSRF_FIELD: token, "lifetime_mode": "never"},
    )
    assert sent.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert serious_problems(page) == []


@pytest.mark.e2e
def test_a_metadata_upstream_is_refused_and_a_hostile_spec_is_shown_as_text(
    provided: Provided, visit: Visit
) -> None:
    site, page = provided.site, visit.page
    sign_in(page, site.url, "pat@acme.example")

    # A bad spec as a file: its problems, and the file must be chosen again.
    import_form(page, site.url, name="Clouds", mount="clouds", upstream_url=provided.upstream)
    page.set_input_files(
        "#import-spec-file",
        {"name": "clouds.json", "mimeType": "application/json", "buffer": BAD_SPEC.encode()},
    )
    page.click("button:has-text('Import API')")
    expect(page.locator("#import-problems li")).to_have_count(3)
    expect(page.locator("#import-file-again")).to_contain_text("choose clouds.json again")
    expect(page.locator("#import-spec")).to_have_value("")
    expect(page.locator("#import-name")).to_have_value("Clouds")

    # The cloud's metadata address is no upstream.
    hostile = spec(1, title=HOSTILE_TITLE, description="<script>window.hacked = 2</script>")
    page.fill("#import-name", "")
    page.fill("#import-upstream_url", "http://169.254.169.254/latest")
    page.fill("#import-spec", hostile)
    page.click("button:has-text('Import API')")
    expect(page.locator("#import-upstream_url-error")).to_contain_text(
        "169.254.169.254 is not a destination keyward may reach"
    )
    expect(page.locator("#import-upstream_url")).to_have_attribute("aria-invalid", "true")
    assert page.locator("#import-spec").input_value() == hostile
    assert serious_problems(page) == []
    snap(page, "import_refused_upstream")

    # Named after its title, which stays text wherever it is shown.
    page.fill("#import-upstream_url", provided.upstream)
    page.click("button:has-text('Import API')")
    page.wait_for_url(re.compile(r"\?done=imported"))
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE_TITLE)
    expect(page.locator("p.lead")).to_have_text("<script>window.hacked = 2</script>")
    assert page.evaluate("window.hacked") is None
    assert page.locator("main script, main img").count() == 0
    page.goto(f"{site.url}/apis")
    expect(page.locator("tr[data-api-id] th")).to_contain_text([HOSTILE_TITLE, "Pets"])
    assert page.evaluate("window.hacked") is None
    assert visit.dialogs == []
    assert serious_problems(page) == []


@pytest.mark.e2e
def test_a_spec_past_the_size_limit_is_refused_and_stores_nothing(
    tmp_path: Path, visit: Visit
) -> None:
    """The upload is read no further than the spec size limit (with room for the other
    fields); a spec within that room but over the limit is refused next to its field."""
    limit = 4096
    with running_site(tmp_path / "site", KEYWARD_MAX_SPEC_BYTES=str(limit)) as site:
        acme = _post(site, "/v1/organizations", {"name": "Acme APIs", "kind": "provider"})["id"]
        member(site, "pat@acme.example", "Pat Provider", acme, role="provider")
        page = visit.page
        sign_in(page, site.url, "pat@acme.example")
        padded = json.loads(spec(1))
        padded["info"]["description"] = "x" * (limit * 2)
        import_form(page, site.url, name="Big", mount="big", upstream_url="https://big.example")
        page.set_input_files(
            "#import-spec-file",
            {
                "name": "big.json",
                "mimeType": "application/json",
                "buffer": json.dumps(padded).encode(),
            },
        )
        page.click("button:has-text('Import API')")
        expect(page.locator("#import-spec-error")).to_contain_text(f"limit of {limit} bytes")
        expect(page.locator("#import-file-again")).to_contain_text("choose big.json again")
        assert serious_problems(page) == []

        token = _csrf(page)
        huge = page.request.post(
            f"{site.url}/apis/import",
            multipart={
                CSRF_FIELD: token,
                "name": "Huge",
                "upstream_url": "https://big.example",
                "mount_path": "huge",
                "spec": "x" * (limit + 300 * 1024),
            },
        )
        assert huge.status == 413
        assert "larger than the limit" in huge.text()
        unreadable = page.request.post(
            f"{site.url}/apis/import",
            headers={"content-type": "multipart/form-data; boundary=zz"},
            # A part without the Content-Disposition that names it.
            data=b"--zz\r\nContent-Type: text/plain\r\n\r\nHuge\r\n--zz--\r\n",
        )
        assert unreadable.status == 400
        with site.api(site.admin_key) as client:
            assert client.get("/v1/apis").json()["data"] == []
