"""What the acquirer's page tests set up through the REST API: a provider's API in front of a
real upstream on 127.0.0.1, its offering, and acquirer organizations with their people."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page

from tests.portal.conftest import PASSWORD, Site

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
        "/pets": {"get": {"operationId": "listPets", "responses": {"200": {"description": "ok"}}}},
        "/stores": {
            "get": {
                "operationId": "listStores",
                # OpenAPI 2.0 has no servers per operation: its export warns.
                "servers": [{"url": "https://stores.example"}],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


@contextmanager
def upstream() -> Iterator[str]:
    """An upstream answering every GET with the path it was asked for, and the status its
    `status` query parameter names (default 200)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            asked = parse_qs(urlsplit(self.path).query).get("status", ["200"])[0]
            payload = json.dumps({"path": self.path}).encode()
            self.send_response(int(asked))
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Provided:
    api_id: str
    offering_id: str
    globex: str
    initech: str


def _post(site: Site, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with site.api(site.admin_key) as client:
        answer = client.post(path, json=body)
    assert answer.status_code in (200, 201), answer.text
    made: dict[str, Any] = answer.json()
    return made


def member(site: Site, email: str, name: str, *organizations: str, role: str = "acquirer") -> str:
    made = _post(
        site,
        "/v1/members",
        {
            "email": email,
            "name": name,
            "password": PASSWORD,
            "roles": [role],
            "organization_ids": list(organizations),
        },
    )
    site.members[email] = made["id"]
    return str(made["id"])


def provide(
    site: Site,
    upstream_url: str,
    *,
    offering: str = "Pets for partners",
    period: str | None = "P30D",
    policy: dict[str, Any] | None = None,
) -> Provided:
    """Acme's API Pets and its offering; Globex and Initech acquire. Alex belongs to Globex,
    Bo to Initech. On a shared site (`Site.tag`) every name ends with the test's tag, and the
    API is mounted at pets-TAG."""
    named = site.named
    acme = _post(site, "/v1/organizations", {"name": named("Acme APIs"), "kind": "provider"})
    globex = _post(site, "/v1/organizations", {"name": named("Globex"), "kind": "acquirer"})
    initech = _post(site, "/v1/organizations", {"name": named("Initech"), "kind": "acquirer"})
    api = _post(
        site,
        "/v1/apis",
        {
            "name": named("Pets"),
            "upstream_url": upstream_url,
            "mount_path": f"pets-{site.tag}" if site.tag else "pets",
            "spec": json.dumps(SPEC),
            "provider_organization_id": acme["id"],
        },
    )
    if policy is not None:
        with site.api(site.admin_key) as client:
            current = client.get(f"/v1/apis/{api['id']}/policy").json()
            current.pop("approvers", None)
            for location in current["key_locations"]:
                location.pop("synthetic", None)
            answer = client.put(f"/v1/apis/{api['id']}/policy", json={**current, **policy})
        assert answer.status_code == 200, answer.text
    made = _post(
        site,
        "/v1/offerings",
        {"api_id": api["id"], "name": named(offering), "acquisition_period": period},
    )
    member(site, site.email("alex"), "Alex Acquirer", globex["id"])
    member(site, site.email("bo"), "Bo Other", initech["id"])
    return Provided(api["id"], made["id"], globex["id"], initech["id"])


def key_row(page: Page, name: str) -> Locator:
    return page.locator("#keys tbody tr").filter(has=page.locator("th.name", has_text=name))


def create_key(page: Page, name: str) -> str:
    """Create a key on the acquisition page; returns the secret its card shows once."""
    page.fill("#key-name", name)
    page.click("button:has-text('Create key')")
    page.wait_for_selector("#new-key-secret")
    return page.locator("#new-key-secret").inner_text()


_WIDER_THAN_VIEWPORT = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
    .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}`
        + `${e.className ? '.' + e.className : ''}`
        + ` ends at ${Math.round(e.getBoundingClientRect().right)}px`)"""


def wider_than_viewport(page: Page) -> list[str]:
    """The elements that stick out to the right of the viewport: a phone would have to scroll
    sideways to read them. Measured once the page has loaded, stylesheet included: an element
    can be in the document before the stylesheet that lays it out has arrived."""
    page.wait_for_load_state("load")
    wider: list[str] = page.evaluate(_WIDER_THAN_VIEWPORT)
    return wider


AXE = Axe()


def serious_problems(page: Page) -> list[str]:
    """The serious and critical accessibility problems axe-core finds on the page."""
    results: dict[str, Any] = AXE.run(page).response
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
