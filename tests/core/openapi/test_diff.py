"""What a new version of a document adds, removes and changes, operation by operation."""

import copy
import json
from typing import Any

from keyward.core.openapi.diff import Changes, diff
from keyward.core.openapi.loading import load
from keyward.core.openapi.operations import operations
from tests.fixtures import openapi_fixtures

STRING = {"type": "string"}


def corpus_document(*parts: str) -> dict[str, Any]:
    return load(openapi_fixtures().joinpath(*parts).read_bytes()).document


def petstore() -> dict[str, Any]:
    return corpus_document("oai-examples", "v3.0", "petstore.yaml")


NOTHING = Changes(added=(), removed=(), changed=())


def test_the_same_document_has_no_changes() -> None:
    assert diff(petstore(), petstore()) == NOTHING


def test_an_added_operation() -> None:
    new = petstore()
    new["paths"]["/pets/{petId}"]["delete"] = {"responses": {"204": {"description": "gone"}}}
    new["paths"]["/owners"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    assert diff(petstore(), new) == Changes(
        added=("DELETE /pets/{petId}", "GET /owners"), removed=(), changed=()
    )


def test_a_removed_operation() -> None:
    new = petstore()
    del new["paths"]["/pets"]["post"]
    assert diff(petstore(), new) == Changes(added=(), removed=("POST /pets",), changed=())


def test_a_changed_parameter() -> None:
    new = petstore()
    new["paths"]["/pets"]["get"]["parameters"][0]["schema"]["maximum"] = 50
    assert diff(petstore(), new) == Changes(added=(), removed=(), changed=("GET /pets",))


def test_a_renamed_path_parameter_removes_one_operation_and_adds_another() -> None:
    new = petstore()
    item = new["paths"].pop("/pets/{petId}")
    item["get"]["parameters"][0]["name"] = "id"
    new["paths"]["/pets/{id}"] = item
    assert diff(petstore(), new) == Changes(
        added=("GET /pets/{id}",), removed=("GET /pets/{petId}",), changed=()
    )


def test_a_change_to_a_shared_schema_changes_the_operations_that_reach_it() -> None:
    # Pets (an array of $ref Pet) is used by listPets alone; Pet by all three operations.
    only_pets = petstore()
    only_pets["components"]["schemas"]["Pets"]["maxItems"] = 10
    assert diff(petstore(), only_pets).changed == ("GET /pets",)
    pet = petstore()
    pet["components"]["schemas"]["Pet"]["properties"]["age"] = {"type": "integer"}
    assert diff(petstore(), pet).changed == ("GET /pets", "GET /pets/{petId}", "POST /pets")
    unused = petstore()
    unused["components"]["schemas"]["Unused"] = STRING
    assert diff(petstore(), unused) == NOTHING


def test_changes_are_sorted_and_can_come_together() -> None:
    new = petstore()
    del new["paths"]["/pets"]["get"]
    new["paths"]["/a"] = {"put": {"responses": {"200": {"description": "ok"}}}}
    new["paths"]["/pets/{petId}"]["get"]["summary"] = "Fetch one pet"
    new["paths"]["/pets"]["post"]["deprecated"] = True
    assert diff(petstore(), new) == Changes(
        added=("PUT /a",), removed=("GET /pets",), changed=("GET /pets/{petId}", "POST /pets")
    )


def test_a_change_inside_recursive_schemas_reaches_their_users_without_looping() -> None:
    stripe = corpus_document("real-world", "stripe-spec3-2022-04.json")
    every_operation = {operation.key for operation in operations(stripe)}
    # payout refers to itself (its expandable `original_payout` and `reversed_by`), and through
    # Stripe's expandable fields every operation reaches it, errors included.
    assert "#/components/schemas/payout" in str(stripe["components"]["schemas"]["payout"])
    in_cycle = copy.deepcopy(stripe)
    in_cycle["components"]["schemas"]["payout"]["properties"]["memo"] = STRING
    assert diff(stripe, in_cycle) == Changes(
        added=(), removed=(), changed=tuple(sorted(every_operation))
    )
    # A schema outside the cycles reaches only the operations that use it.
    apart = copy.deepcopy(stripe)
    apart["components"]["schemas"]["apple_pay_domain"]["properties"]["memo"] = STRING
    assert diff(stripe, apart).changed == (
        "GET /v1/apple_pay/domains",
        "GET /v1/apple_pay/domains/{domain}",
        "POST /v1/apple_pay/domains",
    )


def test_the_same_document_in_json_and_in_yaml_has_no_changes() -> None:
    as_json = json.dumps(petstore(), indent=1, sort_keys=True).encode()
    assert load(as_json).media_type == "json"
    assert diff(petstore(), load(as_json).document) == NOTHING
