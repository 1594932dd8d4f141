"""An API acquired through the management API of a running `keyward serve`, for the end-to-end
tests that need keys the gateway serves: Pets, one operation (GET /pets), mounted at /pets."""

import json
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx

SPEC = json.dumps(
    {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "paths": {
            "/pets": {
                "get": {"operationId": "list_pets", "responses": {"200": {"description": "ok"}}}
            }
        },
    }
)


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON, once its status is the one expected."""
    assert response.status_code == status, response.text
    return response.json()


@dataclass(frozen=True, slots=True)
class Acquired:
    api_id: str
    offering_id: str
    acquisition_id: str


def pets_acquisition(
    client: httpx.Client,
    upstream: str,
    *,
    spec: str = SPEC,
    operations: dict[str, Any] | None = None,
) -> Acquired:
    """Pets (`spec`) forwarded to `upstream`, offered whole or only its `operations`, and
    acquired by an organization the calling member joins."""
    api = ok(
        client.post(
            "/v1/apis",
            json={"name": "Pets", "upstream_url": upstream, "mount_path": "pets", "spec": spec},
        ),
        201,
    )
    offered = {"api_id": api["id"], "name": "All" if operations is None else "Some"}
    if operations is not None:
        offered["operations"] = operations
    offering = ok(client.post("/v1/offerings", json=offered), 201)
    organization = ok(
        client.post("/v1/organizations", json={"name": "Globex", "kind": "acquirer"}), 201
    )
    me = ok(client.get("/v1/me"))["member"]
    ok(client.patch(f"/v1/members/{me['id']}", json={"organization_ids": [organization["id"]]}))
    acquisition = ok(
        client.post(
            "/v1/acquisitions",
            json={"offering_id": offering["id"], "organization_id": organization["id"]},
        ),
        201,
    )
    return Acquired(str(api["id"]), str(offering["id"]), str(acquisition["id"]))


def new_key(client: httpx.Client, acquisition_id: str, name: str) -> tuple[str, str]:
    """A key of the acquisition: its id and its secret."""
    key = ok(client.post(f"/v1/acquisitions/{acquisition_id}/keys", json={"name": name}), 201)
    return str(key["id"]), str(key["key"])
