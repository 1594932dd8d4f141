"""The operation index: each operation of `paths` with a fingerprint of what a client relies on."""

import copy
import re
from typing import Any

from keyward.core.openapi.loading import load
from keyward.core.openapi.operations import Operation, operations
from tests.fixtures import openapi_fixtures

OK = {"200": {"description": "ok"}}
STRING = {"type": "string"}


def openapi3(**fields: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, **fields}


def corpus_document(*parts: str) -> dict[str, Any]:
    return load(openapi_fixtures().joinpath(*parts).read_bytes()).document


def petstore() -> dict[str, Any]:
    return corpus_document("oai-examples", "v3.0", "petstore.yaml")


def fingerprints(document: dict[str, Any]) -> dict[str, str]:
    return {operation.key: operation.fingerprint for operation in operations(document)}


def test_petstore_operations_in_document_order() -> None:
    listed = operations(petstore())
    assert [(o.method, o.path, o.operation_id, o.tags) for o in listed] == [
        ("get", "/pets", "listPets", ("pets",)),
        ("post", "/pets", "createPets", ("pets",)),
        ("get", "/pets/{petId}", "showPetById", ("pets",)),
    ]
    assert [o.key for o in listed] == ["GET /pets", "POST /pets", "GET /pets/{petId}"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", o.fingerprint) for o in listed)
    assert len({o.fingerprint for o in listed}) == 3


def test_fingerprints_are_stable_and_ignore_key_order() -> None:
    document = petstore()
    reordered = copy.deepcopy(document)
    reordered["components"]["schemas"] = dict(reversed(reordered["components"]["schemas"].items()))
    get = reordered["paths"]["/pets"]["get"]
    reordered["paths"]["/pets"]["get"] = dict(reversed(get.items()))
    assert fingerprints(document) == fingerprints(petstore()) == fingerprints(reordered)


def test_every_method_is_listed_and_other_fields_are_not_operations() -> None:
    methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
    item: dict[str, Any] = {method: {"responses": OK} for method in methods}
    item.update(summary="s", parameters=[], servers=[], **{"x-thing": {"responses": OK}})
    listed = operations(openapi3(paths={"/a": item, "x-paths": {"get": {"responses": OK}}}))
    assert [o.method for o in listed] == list(methods)
    assert listed[0] == Operation("get", "/a", None, (), listed[0].fingerprint)


def test_path_level_parameters_count_and_the_operations_own_win() -> None:
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    own_limit = {"name": "limit", "in": "query", "schema": STRING}
    document = openapi3(
        paths={"/a": {"parameters": [limit], "get": {"responses": OK}, "put": {"responses": OK}}}
    )
    before = fingerprints(document)
    overridden = copy.deepcopy(document)
    overridden["paths"]["/a"]["put"]["parameters"] = [own_limit]
    after = fingerprints(overridden)
    assert after["GET /a"] == before["GET /a"]
    assert after["PUT /a"] != before["PUT /a"]
    # The same effective parameters, written on the operation rather than the path.
    moved = openapi3(
        paths={"/a": {"get": {"responses": OK, "parameters": [limit]}, "put": {"responses": OK}}}
    )
    assert fingerprints(moved)["GET /a"] == before["GET /a"]
    changed = copy.deepcopy(document)
    changed["paths"]["/a"]["parameters"][0]["required"] = True
    assert set(fingerprints(changed).items()) & set(before.items()) == set()


def test_the_documents_security_counts_for_operations_without_their_own() -> None:
    document = openapi3(
        security=[{"key": []}],
        paths={"/a": {"get": {"responses": OK}, "put": {"responses": OK, "security": []}}},
    )
    public = copy.deepcopy(document)
    public["security"] = []
    before, after = fingerprints(document), fingerprints(public)
    assert after["GET /a"] != before["GET /a"]
    assert after["PUT /a"] == before["PUT /a"]


def test_a_path_item_reference_is_followed() -> None:
    document = openapi3(
        paths={
            "/a": {"get": {"operationId": "readA", "responses": OK}},
            "/b": {"$ref": "#/paths/~1a"},
        }
    )
    listed = operations(document)
    assert [(o.key, o.operation_id) for o in listed] == [("GET /a", "readA"), ("GET /b", "readA")]
    assert listed[0].fingerprint == listed[1].fingerprint


def test_recursive_schemas_are_fingerprinted_without_looping() -> None:
    document = openapi3(
        paths={
            "/tree": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Node"}
                                }
                            },
                        }
                    }
                }
            }
        },
        components={
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "children": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Node"},
                        },
                        "owner": {"$ref": "#/components/schemas/Owner"},
                    },
                },
                "Owner": {
                    "properties": {"nodes": {"items": {"$ref": "#/components/schemas/Node"}}}
                },
            }
        },
    )
    before = fingerprints(document)
    changed = copy.deepcopy(document)
    changed["components"]["schemas"]["Owner"]["properties"]["name"] = STRING
    assert fingerprints(changed)["GET /tree"] != before["GET /tree"]


def test_unresolvable_and_remote_references_are_hashed_as_written() -> None:
    schema = {"$ref": "#/components/schemas/Missing"}
    document = openapi3(
        paths={
            "/a": {
                "get": {
                    "parameters": [{"$ref": "https://example.com/p.json"}],
                    "responses": {
                        "200": {"description": "ok", "content": {"a/b": {"schema": schema}}}
                    },
                }
            }
        }
    )
    assert [o.key for o in operations(document)] == ["GET /a"]


def test_documents_without_usable_paths_have_no_operations() -> None:
    assert operations(openapi3(paths=None)) == []
    assert operations(openapi3(paths=[])) == []
    assert operations(openapi3(paths={"/a": "text", "/b": {"get": "text"}})) == []


def test_the_large_corpus_documents_are_indexed() -> None:
    # Counts from the corpus README; Stripe's schemas are recursive.
    assert len(operations(corpus_document("real-world", "github-api-2022-07.json"))) == 874
    assert len(operations(corpus_document("real-world", "stripe-spec3-2022-04.json"))) == 417
    assert len(operations(corpus_document("real-world", "kubernetes-swagger2.json"))) == 531
