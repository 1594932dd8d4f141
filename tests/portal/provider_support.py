"""What the provider's page tests share: the specs they upload (one with problems, two
versions of a good one), the import form filled in, a screenshot of a page's end state."""

import json
import time
from typing import Any

from playwright.sync_api import Page

from tests.portal.conftest import SCREENSHOTS

BAD_SPEC = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "Pets"},
        "paths": {"/pets": {"get": {"responses": "nope"}}, "pets": {}},
    },
    indent=2,
)


def _operation(operation_id: str, tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "tags": [tag],
        "responses": {"200": {"description": "ok"}},
        **extra,
    }


def spec(version: int, title: str = "Pets", description: str = "Pets to adopt.") -> str:
    """Version 1 lists pets, shows one, lists stores and answers a health check; version 2
    adds creating a pet, drops the health check and gives showing a pet a parameter."""
    show = _operation("showPet", "pets")
    paths: dict[str, Any] = {
        "/pets": {"get": _operation("listPets", "pets")},
        "/pets/{petId}": {
            "parameters": [
                {"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "get": show,
        },
        "/stores": {"get": _operation("listStores", "stores")},
    }
    if version == 1:
        paths["/health"] = {"get": _operation("health", "ops")}
    else:
        paths["/pets"]["post"] = _operation("createPet", "pets")
        show["parameters"] = [{"name": "fields", "in": "query", "schema": {"type": "string"}}]
    return json.dumps(
        {
            "openapi": "3.0.3",
            "info": {"title": title, "version": str(version), "description": description},
            "paths": paths,
        },
        indent=2,
    )


def import_form(page: Page, url: str, *, name: str, mount: str, upstream_url: str) -> None:
    page.goto(f"{url}/apis")
    page.click("a:has-text('Import an API')")
    page.fill("#import-name", name)
    page.fill("#import-upstream_url", upstream_url)
    page.fill("#import-mount_path", mount)


def snap(page: Page, name: str) -> None:
    """The page's end state, beside the one the visit fixture takes at the end of the test."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"provider_{name}.png"), full_page=True)


def wait_for(check: Any, what: str, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")
