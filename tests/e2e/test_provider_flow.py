"""From provider to acquirer with real processes: import a real spec with the CLI, offer it,
acquire it, make named keys, export it, and let a connector follow a provider update."""

import json
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from tests.e2e.processes import cli, serve
from tests.fixtures import openapi_fixtures

pytestmark = pytest.mark.e2e


def test_import_offer_acquire_export_and_follow_an_update(fresh_url: str, tmp_path: Path) -> None:
    env = {"KEYWARD_CONNECTOR_FILE_ROOT": str(tmp_path)}
    spec_file = openapi_fixtures() / "oai-examples" / "v2.0" / "petstore.json"
    assert cli(fresh_url, "init", "--json").code == 0
    imported = cli(
        fresh_url, "apis", "import", str(spec_file), "--mount", "petstore", "--json", **env
    )
    assert imported.code == 0, imported.stderr
    api = imported.json()
    assert api["version"]["source_version"] == "2.0"
    assert api["name"] == "Swagger Petstore"
    offering = cli(
        fresh_url, "offerings", "create", "--api", api["id"], "--name", "Pets", "--period", "P1Y",
        "--limit", "key:10/PT1S", "--limit", "acquisition:100000/P30D", "--json",
    ).json()  # fmt: skip
    limits = [
        {"scope": "key", "requests": 10, "per": "PT1S"},
        {"scope": "acquisition", "requests": 100000, "per": "P30D"},
    ]
    assert offering["limits"] == limits
    assert cli(fresh_url, "offerings", "show", offering["id"], "--json").json()["limits"] == limits
    malformed = cli(
        fresh_url, "offerings", "create", "--api", api["id"], "--name", "Bad", "--limit", "10/s",
        "--json",
    )  # fmt: skip
    assert (malformed.code, malformed.error()["error"]["code"]) == (1, "invalid_limit")
    relimited = cli(
        fresh_url, "offerings", "set-limits", offering["id"], "--limit", "key:5/PT1M", "--json"
    ).json()
    assert relimited["limits"] == [{"scope": "key", "requests": 5, "per": "PT1M"}]
    organization = cli(
        fresh_url, "organizations", "create", "Globex", "--kind", "acquirer", "--json"
    ).json()
    acquisition = cli(
        fresh_url, "acquisitions", "create", "--offering", offering["id"],
        "--organization", organization["id"], "--json",
    ).json()  # fmt: skip
    # The admin manages Globex's acquisition, but only Globex's members hold its keys.
    refused = cli(fresh_url, "acquisitions", "create-key", acquisition["id"], "--name", "x",
                  "--json")  # fmt: skip
    assert (refused.code, refused.error()["error"]["code"]) == (1, "not_organization_member")
    alex = cli(
        fresh_url, "members", "create", "--email", "alex@globex.example", "--name", "Alex",
        "--role", "acquirer", "--organization", organization["id"], "--json",
    )  # fmt: skip
    assert alex.code == 0, alex.stderr
    keys = [
        cli(
            fresh_url, "--as", "alex@globex.example", "acquisitions", "create-key",
            acquisition["id"], "--name", name, "--json",
        ).json()
        for name in ("alice", "partner")
    ]  # fmt: skip
    assert len({k["key"] for k in keys}) == 2
    for key in keys:
        verified = cli(fresh_url, "keys", "verify", key["key"], "--json").json()
        assert verified["acquisition_id"] == acquisition["id"]

    exported = tmp_path / "petstore-2.0.yaml"
    done = cli(
        fresh_url, "export", acquisition["id"], "-v", "2.0", "-f", "yaml", "-o", str(exported)
    )
    assert done.code == 0, done.stderr
    document = yaml.safe_load(exported.read_text())
    validate(document)
    assert document["basePath"] == "/petstore/v1"

    target = tmp_path / "globex" / "openapi.json"
    connector = cli(
        fresh_url, "--as", "alex@globex.example", "connectors", "create", acquisition["id"],
        "--kind", "storage", "--path", "globex/openapi.json", "--json", **env,
    )  # fmt: skip
    assert connector.code == 0, connector.stderr
    assert cli(fresh_url, "worker", "--once", **env).code == 0
    assert json.loads(target.read_text())["info"]["title"] == "Swagger Petstore"

    updated_spec = tmp_path / "petstore-v2.json"
    source = json.loads(spec_file.read_text())
    source["info"]["title"] = "Swagger Petstore, revised"
    updated_spec.write_text(json.dumps(source))
    version = cli(fresh_url, "apis", "update", api["id"], str(updated_spec), "--json", **env)
    assert version.json()["number"] == 2
    assert cli(fresh_url, "worker", "--once", **env).code == 0
    assert json.loads(target.read_text())["info"]["title"] == "Swagger Petstore, revised"

    with (
        serve(fresh_url, tmp_path) as server,
        server.client(
            cli(fresh_url, "keys", "create", "--name", "reader", "-p", "*:read", "--json").json()[
                "key"
            ]
        ) as client,
    ):
        response = client.get(
            f"/v1/acquisitions/{acquisition['id']}/openapi", params={"version": "3.0"}
        )
        assert response.status_code == 200
        validate(response.json())
        deliveries = client.get(f"/v1/connectors/{connector.json()['id']}/deliveries").json()[
            "data"
        ]
    assert [(d["api_version"], d["status"]) for d in deliveries] == [
        (2, "succeeded"),
        (1, "succeeded"),
    ]

    opened = tmp_path / "petstore-v3.json"
    source["paths"]["/pets/{petId}"]["get"]["security"] = []
    opened.write_text(json.dumps(source))
    refused = cli(fresh_url, "apis", "update", api["id"], str(opened), "--json", **env)
    assert (refused.code, refused.error()["error"]["code"]) == (1, "security_weakened")
    assert refused.error()["error"]["details"]["operations"] == ["GET /pets/{petId}"]
    confirmed = cli(
        fresh_url, "apis", "update", api["id"], str(opened), "--confirm-weaker-security",
        "--json", **env,
    )  # fmt: skip
    assert confirmed.json()["public_operations"] == ["GET /pets/{petId}"]


def test_a_policy_that_checks_less_is_set_from_the_cli_only_when_confirmed(
    fresh_url: str, tmp_path: Path
) -> None:
    assert cli(fresh_url, "init").code == 0
    spec = tmp_path / "two-keys.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "openapi": "3.0.3",
                "info": {"title": "Two keys", "version": "1"},
                "components": {
                    "securitySchemes": {
                        "main": {"type": "apiKey", "in": "header", "name": "X-Main"},
                        "second": {"type": "apiKey", "in": "header", "name": "X-Second"},
                    }
                },
                "security": [{"main": [], "second": []}],
                "paths": {"/both": {"get": {"responses": {"200": {"description": "ok"}}}}},
            }
        )
    )
    api = cli(
        fresh_url, "apis", "import", str(spec), "--mount", "two",
        "--upstream", "https://two.example.com", "--json",
    ).json()  # fmt: skip
    policy = tmp_path / "policy.json"
    roles = {"main": "key", "second": "passthrough"}
    policy.write_text(
        json.dumps(
            {
                "key_locations": [
                    {"scheme": scheme, "in": "header", "name": f"X-{scheme.title()}", "role": role}
                    for scheme, role in roles.items()
                ]
            }
        )
    )
    refused = cli(fresh_url, "apis", "policy", api["id"], "--set", str(policy), "--json")
    assert (refused.code, refused.error()["error"]["code"]) == (1, "security_weakened")
    assert refused.error()["error"]["details"]["operations"] == ["GET /both"]
    confirmed = cli(
        fresh_url, "apis", "policy", api["id"], "--set", str(policy),
        "--confirm-weaker-security", "--json",
    )  # fmt: skip
    assert confirmed.code == 0, confirmed.stderr
    assert [k["role"] for k in confirmed.json()["key_locations"]] == ["key", "passthrough"]
