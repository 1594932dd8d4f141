"""Checking documents: our own rules and openapi-spec-validator's, every problem located."""

import builtins
import gc
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from keyward.core.openapi import validation
from keyward.core.openapi.loading import MAX_DEPTH, LoadedDocument, Version, load
from keyward.core.openapi.problems import Problem
from keyward.core.openapi.validation import check
from tests.fixtures import OPENAPI_FIXTURES, corpus_files, openapi_fixtures

OK = {"200": {"description": "ok"}}
STRING = {"type": "string"}


def openapi3(**fields: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, **fields}


def swagger2(**fields: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {}, **fields}


def problems_of(document: dict[str, Any], version: Version | None = None) -> list[Problem]:
    if version is None:
        version = "2.0" if "swagger" in document else "3.0"
    return check(LoadedDocument(document, "json", version))


def codes_at(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(problem.code, problem.pointer) for problem in problems]


def path_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STRING}


def operation(**fields: Any) -> dict[str, Any]:
    return {"responses": OK, **fields}


# The corpus


def corpus_name(path: Path) -> str:
    return str(path.relative_to(OPENAPI_FIXTURES))


@pytest.mark.parametrize("path", corpus_files(), ids=corpus_name)
def test_every_corpus_document_checks_clean(path: Path) -> None:
    openapi_fixtures()
    assert check(load(path.read_bytes())) == []


def swagger2_returning(schemas: dict[str, Any]) -> dict[str, Any]:
    """A 2.0 document with an operation returning each of `schemas` (defined by that name)."""
    paths = {
        f"/{name.lower()}": {
            "get": {
                "responses": {
                    "200": {"description": "ok", "schema": {"$ref": f"#/definitions/{name}"}}
                }
            }
        }
        for name in schemas
    }
    return swagger2(paths=paths, definitions=schemas)


def test_null_default_is_accepted_in_swagger2_only_on_an_x_nullable_schema() -> None:
    nullable = {"type": "array", "items": STRING, "default": None, "x-nullable": True}
    plain = {"type": "array", "items": STRING, "default": None}
    document = swagger2_returning({"Nullable": nullable, "Plain": plain})
    assert codes_at(problems_of(document)) == [
        ("spec_invalid", "/definitions/Plain/default"),
        ("spec_invalid", "/definitions/Plain/default"),
    ]


def test_x_nullable_does_not_excuse_a_default_of_the_wrong_type() -> None:
    schema = {"type": "integer", "default": "none", "x-nullable": True}
    problems = problems_of(swagger2_returning({"Count": schema}))
    assert codes_at(problems) == [("spec_invalid", "/definitions/Count/default")]


@contextmanager
def recording_opens(under: Path) -> Iterator[list[str]]:
    """Every file under `under` that anything opens while inside (builtins.open and os.open)."""
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def note(file: Any) -> None:
        if isinstance(file, str | os.PathLike) and str(under) in os.fspath(file):
            opened.append(os.fspath(file))

    def recording_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file)
        return real_open(file, *args, **kwargs)

    def recording_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        note(path)
        return real_os_open(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "open", recording_open)
        patch.setattr(os, "open", recording_os_open)
        yield opened


def test_petstore_separate_file_references_are_refused_and_never_opened() -> None:
    directory = openapi_fixtures() / "oai-examples" / "v2.0" / "petstore-separate"
    loaded = load((directory / "spec" / "swagger.yaml").read_bytes())
    with recording_opens(directory) as opened:
        problems = check(loaded)
    assert opened == []
    assert {problem.code for problem in problems} == {"ref_not_local"}
    assert codes_at(problems)[:3] == [
        ("ref_not_local", "/paths/~1pets/get/parameters/0/$ref"),
        ("ref_not_local", "/paths/~1pets/get/parameters/1/$ref"),
        ("ref_not_local", "/paths/~1pets/get/responses/200/schema/items/$ref"),
    ]
    assert "'parameters.yaml#/tagsParam'" in problems[0].message
    assert "'../common/Error.yaml'" in " ".join(problem.message for problem in problems)
    assert len(problems) == 10


# References


@contextmanager
def recording_http_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 answering every GET with a schema, recording the paths."""
    requested: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_remote_and_file_references_are_refused_and_never_fetched(tmp_path: Path) -> None:
    schema_file = tmp_path / "pet.json"
    schema_file.write_text('{"type": "string"}')
    with recording_http_server() as (base, requested):
        secure = base.replace("http://", "https://")
        document = openapi3(
            paths={
                "/a": {
                    "get": operation(
                        parameters=[{"$ref": f"{base}/parameter.json"}],
                        responses={
                            "200": {
                                "description": "ok",
                                "content": {
                                    "application/json": {"schema": {"$ref": f"{base}/pet.json"}},
                                    "text/plain": {"schema": {"$ref": f"{secure}/pet.json"}},
                                    "text/csv": {"schema": {"$ref": schema_file.as_uri()}},
                                    "text/xml": {"schema": {"$ref": "pet.json#/Pet"}},
                                },
                            }
                        },
                    )
                },
                "/b": {"$ref": f"{base}/path-item.json"},
            }
        )
        with recording_opens(tmp_path) as opened:
            problems = problems_of(document)
        assert requested == []
        assert opened == []
    content = "/paths/~1a/get/responses/200/content"
    # In document order: `operation` writes responses before the parameters given.
    assert codes_at(problems) == [
        ("ref_not_local", f"{content}/application~1json/schema/$ref"),
        ("ref_not_local", f"{content}/text~1plain/schema/$ref"),
        ("ref_not_local", f"{content}/text~1csv/schema/$ref"),
        ("ref_not_local", f"{content}/text~1xml/schema/$ref"),
        ("ref_not_local", "/paths/~1a/get/parameters/0/$ref"),
        ("ref_not_local", "/paths/~1b/$ref"),
    ]
    assert f"'{base}/pet.json'" in problems[0].message


def test_a_remote_reference_the_validator_would_read_in_a_default_is_refused_first() -> None:
    with recording_http_server() as (base, requested):
        schema = {"type": "object", "default": {"$ref": f"{base}/default.json"}}
        problems = problems_of(openapi3(components={"schemas": {"Thing": schema}}))
        assert requested == []
    assert codes_at(problems) == [("ref_not_local", "/components/schemas/Thing/default/$ref")]


def test_the_validator_itself_refuses_to_retrieve_anything() -> None:
    # Our reference check runs first, so this second line of defence is reached directly:
    # validating a default follows the references of the schema it is the default of.
    with recording_http_server() as (base, requested):
        schema = {"type": "object", "properties": {"a": {"$ref": base}}, "default": {"a": 1}}
        document = openapi3(components={"schemas": {"Thing": schema}})
        with pytest.raises(Unresolvable) as unresolvable:
            list(validation._Rules(document, "3.0").errors())
        assert requested == []
    causes = []
    cause: BaseException | None = unresolvable.value
    while cause is not None:
        causes.append(cause)
        cause = cause.__cause__
    refusals = [cause for cause in causes if isinstance(cause, validation.RetrievalRefused)]
    assert [refusal.uri for refusal in refusals] == [base]


def test_local_references_must_resolve() -> None:
    document = openapi3(
        paths={
            "/a": {
                "get": operation(
                    parameters=[
                        {"$ref": "#/components/parameters/Missing"},
                        {"$ref": "#/components/parameters/bad~2escape"},
                        {"$ref": "#/components/parameters/Limit"},
                    ]
                )
            }
        },
        components={"parameters": {"Limit": {"name": "limit", "in": "query", "schema": STRING}}},
    )
    assert codes_at(problems_of(document)) == [
        ("ref_unresolved", "/paths/~1a/get/parameters/0/$ref"),
        ("ref_unresolved", "/paths/~1a/get/parameters/1/$ref"),
    ]


def test_references_use_json_pointer_and_uri_escapes() -> None:
    document = openapi3(
        paths={
            "/pets/{id}": {"parameters": [path_parameter("id")], "get": operation()},
            "/copy/{id}": {"$ref": "#/paths/~1pets~1%7Bid%7D"},
        }
    )
    # The copy is a second path for the same operation, with no operationId to clash.
    assert problems_of(document) == []


def test_data_that_looks_like_a_reference_is_not_one() -> None:
    remote = {"$ref": "https://example.com/not-a-reference.json"}
    schema = {
        "type": "object",
        # A property named "$ref" (GitHub's spec has one) is a property.
        "properties": {"$ref": STRING, "default": {"$ref": "#/components/schemas/Pet"}},
        "example": remote,
        "enum": [remote],
        "x-vendor": remote,
    }
    document = openapi3(
        paths={
            "/a": {
                "get": operation(
                    responses={
                        "default": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Pet"},
                                    "examples": {"default": {"value": remote}},
                                }
                            },
                        }
                    }
                )
            }
        },
        components={"schemas": {"Pet": schema}},
    )
    assert problems_of(document) == []


# Security


def test_security_requirements_must_name_defined_schemes_in_3_0() -> None:
    document = openapi3(
        security=[{"key": []}, {"nokey": []}],
        paths={
            "/a": {
                "get": operation(security=[{"key": [], "oauth": ["read"]}]),
                "post": operation(security=[]),
                "put": operation(security=[{}]),
            }
        },
        components={"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "K"}}},
    )
    problems = problems_of(document)
    assert codes_at(problems) == [
        ("security_scheme_undefined", "/security/1/nokey"),
        ("security_scheme_undefined", "/paths/~1a/get/security/0/oauth"),
    ]
    assert "'oauth'" in problems[1].message
    assert "components.securitySchemes" in problems[1].message


def test_security_requirements_must_name_defined_schemes_in_2_0() -> None:
    document = swagger2(
        securityDefinitions={"key": {"type": "apiKey", "in": "header", "name": "K"}},
        paths={"/a": {"get": operation(security=[{"key": []}, {"Key": []}])}},
    )
    problems = problems_of(document)
    assert codes_at(problems) == [("security_scheme_undefined", "/paths/~1a/get/security/1/Key")]
    assert "securityDefinitions" in problems[0].message


NAMES_THAT_BREAK_HEADERS = ["", "a b", "a:b", "a\r\nX-Injected: 1", "a\nb", "x" * 201, "ключ"]


@pytest.mark.parametrize("name", NAMES_THAT_BREAK_HEADERS)
@pytest.mark.parametrize("version", ["2.0", "3.0"])
def test_security_scheme_names_outside_component_names_are_refused(
    name: str, version: Version
) -> None:
    scheme = {name: {"type": "apiKey", "in": "header", "name": "X-Key"}}
    if version == "2.0":
        document, at = swagger2(securityDefinitions=scheme), "/securityDefinitions/"
    else:
        document = openapi3(components={"securitySchemes": scheme})
        at = "/components/securitySchemes/"
    document["security"] = [{name: []}]
    problems = problems_of(document)
    pointer = at + name.replace("~", "~0").replace("/", "~1")
    assert ("security_scheme_name_invalid", pointer) in codes_at(problems)
    assert all(problem.code != "security_scheme_undefined" for problem in problems)


@pytest.mark.parametrize("parameter", ["", "X Key", "X:Key", "X-Key\r\nX-Injected: 1", "k" * 201])
def test_api_key_parameter_names_must_be_http_tokens(parameter: str) -> None:
    document = openapi3(
        components={"securitySchemes": {"k": {"type": "apiKey", "in": "query", "name": parameter}}}
    )
    assert codes_at(problems_of(document)) == [
        ("security_scheme_parameter_invalid", "/components/securitySchemes/k/name")
    ]


def test_valid_scheme_names_of_every_allowed_character_pass() -> None:
    scheme = {"type": "apiKey", "in": "cookie", "name": "s!d"}
    document = openapi3(
        components={"securitySchemes": {"My.key_2-b": scheme}}, security=[{"My.key_2-b": []}]
    )
    assert problems_of(document) == []


def test_callbacks_and_webhooks_are_checked_too() -> None:
    callback_operation = operation(operationId="notify", security=[{"missing": []}])
    document = {
        **openapi3(
            paths={
                "/subscribe": {
                    "post": operation(
                        operationId="subscribe",
                        callbacks={"event": {"{$request.body#/url}": {"post": callback_operation}}},
                    )
                }
            }
        ),
        "openapi": "3.1.0",
        "webhooks": {"ping": {"post": operation(operationId="notify")}},
    }
    callback = "/paths/~1subscribe/post/callbacks/event/{$request.body#~1url}/post"
    assert codes_at(problems_of(document, "3.1")) == [
        ("security_scheme_undefined", f"{callback}/security/0/missing"),
        ("operation_id_duplicate", "/webhooks/ping/post/operationId"),
    ]


# Paths


def test_paths_differing_only_in_parameter_names_are_ambiguous() -> None:
    document = openapi3(
        paths={
            "/pets/{id}": {"parameters": [path_parameter("id")], "get": operation()},
            "/pets/{petId}": {"parameters": [path_parameter("petId")], "put": operation()},
        }
    )
    problems = problems_of(document)
    assert codes_at(problems) == [("path_ambiguous", "/paths/~1pets~1{petId}")]
    assert "'/pets/{id}'" in problems[0].message


def test_trailing_slashes_literal_segments_and_mixed_segments_are_not_ambiguous() -> None:
    document = openapi3(
        paths={
            "/pets": {"get": operation()},
            "/pets/": {"get": operation()},
            "/pets/mine": {"get": operation()},
            "/pets/{id}": {"parameters": [path_parameter("id")], "get": operation()},
            "/compare/{basehead}": {"parameters": [path_parameter("basehead")], "get": operation()},
            "/compare/{base}...{head}": {
                "parameters": [path_parameter("base"), path_parameter("head")],
                "get": operation(),
            },
        }
    )
    assert problems_of(document) == []


def test_malformed_templates_are_refused() -> None:
    document = openapi3(
        paths={
            "/a/{id": {"get": operation()},
            "/b/{id}/c/{id}": {"parameters": [path_parameter("id")], "get": operation()},
        }
    )
    assert codes_at(problems_of(document)) == [
        ("path_template_invalid", "/paths/~1a~1{id"),
        ("path_template_invalid", "/paths/~1b~1{id}~1c~1{id}"),
    ]


def test_every_operation_declares_its_paths_parameters() -> None:
    document = openapi3(
        paths={
            "/a/{x}/b/{y}": {
                "parameters": [path_parameter("x")],
                "get": operation(parameters=[path_parameter("y")]),
                "put": operation(),
                "post": operation(parameters=[{"$ref": "#/components/parameters/Y"}]),
            },
            "/c/{z}": {},
        },
        components={"parameters": {"Y": path_parameter("y")}},
    )
    problems = problems_of(document)
    assert codes_at(problems) == [
        ("path_parameter_undeclared", "/paths/~1a~1{x}~1b~1{y}/put"),
    ]
    assert "PUT /a/{x}/b/{y}" in problems[0].message
    assert "'y'" in problems[0].message


def test_declared_path_parameters_must_be_in_the_template() -> None:
    document = openapi3(
        paths={
            "/a": {
                "parameters": [path_parameter("x")],
                "get": operation(parameters=[path_parameter("y")]),
                "put": operation(),
            }
        }
    )
    assert codes_at(problems_of(document)) == [
        ("path_parameter_not_in_template", "/paths/~1a/parameters/0"),
        ("path_parameter_not_in_template", "/paths/~1a/get/parameters/0"),
    ]


# Operation ids


def test_operation_ids_must_be_unique() -> None:
    document = swagger2(
        paths={
            "/a": {"get": operation(operationId="read"), "put": operation(operationId="write")},
            "/b": {"get": operation(operationId="read"), "put": operation(operationId="other")},
            "/c": {"delete": operation(operationId="read")},
        }
    )
    problems = problems_of(document)
    assert codes_at(problems) == [
        ("operation_id_duplicate", "/paths/~1b/get/operationId"),
        ("operation_id_duplicate", "/paths/~1c/delete/operationId"),
    ]
    assert problems[1].message == (
        "The operationId 'read' of DELETE /c is already used by GET /a; operation ids must be "
        "unique."
    )


# The validator's problems


def test_schema_faults_are_located_in_the_document_as_written() -> None:
    document = openapi3(
        info={"title": 3},
        paths={
            "/a": {
                "get": operation(
                    responses={
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/A"}}
                            },
                        }
                    }
                )
            }
        },
        components={
            "schemas": {"A": {"type": "object", "required": ["x"], "allOf": [{"type": "object"}]}}
        },
    )
    assert problems_of(document) == [
        Problem(
            "/info", "Not valid OpenAPI 3.0: 'version' is a required property.", "spec_invalid"
        ),
        Problem("/info/title", "Not valid OpenAPI 3.0: 3 is not of type 'string'.", "spec_invalid"),
        Problem(
            "/components/schemas/A",
            "Not valid OpenAPI 3.0: Required list has not defined properties: ['x'].",
            "schema_required_undefined",
        ),
    ]


def test_a_fault_under_a_reference_alternative_is_reported_where_it_is() -> None:
    schema = {"type": "strin"}
    response = {"description": "ok", "content": {"application/json": {"schema": schema}}}
    problems = problems_of(openapi3(paths={"/a": {"get": operation(responses={"200": response})}}))
    pointer = "/paths/~1a/get/responses/200/content/application~1json/schema/type"
    assert problems[0].pointer == pointer
    assert "'strin' is not one of" in problems[0].message
    assert {problem.pointer for problem in problems} == {pointer}


def test_duplicate_parameters_are_reported_by_the_validator_with_their_place() -> None:
    query = {"name": "q", "in": "query", "schema": STRING}
    problems = problems_of(openapi3(paths={"/a": {"get": operation(parameters=[query, query])}}))
    assert ("parameter_duplicate", "/paths/~1a/get/parameters") in codes_at(problems)


def test_duplicate_tag_names_are_reported() -> None:
    tags = [{"name": "pets"}, {"name": "pets", "description": "the same name again"}]
    problems = problems_of(openapi3(tags=tags))
    assert problems == [
        Problem("/tags", "Not valid OpenAPI 3.0: Duplicate tag name 'pets'.", "spec_invalid")
    ]


def test_a_default_is_checked_against_its_schema_through_references_where_it_is_written() -> None:
    schemas = {
        "Size": {"type": "integer", "minimum": 1},
        "Box": {"type": "object", "properties": {"size": {"$ref": "#/components/schemas/Size"}}},
        "Order": {"allOf": [{"$ref": "#/components/schemas/Box"}], "default": {"size": 0}},
    }
    problems = problems_of(openapi3(components={"schemas": schemas}))
    assert codes_at(problems) == [("spec_invalid", "/components/schemas/Order/default/size")]
    assert "0 is less than the minimum of 1" in problems[0].message


def test_a_schema_under_an_unknown_31_dialect_is_reported() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "jsonSchemaDialect": "https://example.com/no-such-dialect",
        "paths": {},
        "components": {"schemas": {"Thing": {"type": "object"}}},
    }
    problems = problems_of(document, "3.1")
    assert codes_at(problems) == [("spec_invalid", "/components/schemas/Thing")]
    assert "Unknown JSON Schema dialect: 'https://example.com/no-such-dialect'" in (
        problems[0].message
    )


def test_a_schema_referring_to_itself_under_all_of_is_checked_once() -> None:
    node = {
        "type": "object",
        "required": ["children", "name"],
        "allOf": [{"$ref": "#/components/schemas/Named"}],
        "properties": {
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
        },
    }
    named = {"allOf": [{"$ref": "#/components/schemas/Node"}], "properties": {"name": STRING}}
    assert problems_of(openapi3(components={"schemas": {"Node": node, "Named": named}})) == []
    node["required"] = ["children", "name", "size"]
    assert codes_at(
        problems_of(openapi3(components={"schemas": {"Node": node, "Named": named}}))
    ) == [("schema_required_undefined", "/components/schemas/Node")]


def test_several_problems_are_reported_together() -> None:
    document = openapi3(
        security=[{"missing": []}],
        paths={
            "/a/{x}": {"parameters": [path_parameter("x")], "get": operation(operationId="one")},
            "/a/{y}": {"parameters": [path_parameter("y")], "get": operation(operationId="one")},
            "/b": {"get": {"operationId": "two"}},
        },
    )
    assert codes_at(problems_of(document)) == [
        ("security_scheme_undefined", "/security/0/missing"),
        ("path_ambiguous", "/paths/~1a~1{y}"),
        ("operation_id_duplicate", "/paths/~1a~1{y}/get/operationId"),
        ("spec_invalid", "/paths/~1b/get"),
    ]


def test_the_validator_does_not_run_when_references_fail() -> None:
    document = openapi3(
        info={"title": 3},
        paths={"/a": {"get": operation(parameters=[{"$ref": "#/nowhere"}])}},
    )
    assert codes_at(problems_of(document)) == [
        ("ref_unresolved", "/paths/~1a/get/parameters/0/$ref")
    ]


def test_a_document_as_deep_as_loading_allows_is_checked_without_crashing() -> None:
    schema: dict[str, Any] = STRING
    # Each schema level is two levels of the document (properties, then the name).
    for _ in range((MAX_DEPTH - 10) // 2):
        schema = {"type": "object", "properties": {"a": schema}}
    raw = openapi3(components={"schemas": {"Deep": schema}})
    assert problems_of(raw) == []


def test_checking_keeps_no_reference_to_the_document() -> None:
    class Document(dict[str, Any]):
        pass

    document = Document(openapi3(paths={"/a": {"get": operation()}}))
    alive: Callable[[], Any] = weakref.ref(document)
    assert problems_of(document) == []
    del document
    gc.collect()
    assert alive() is None


# What the fast paths must not let through


def test_a_schema_pattern_python_cannot_compile_is_refused_at_the_pattern() -> None:
    # jsonschema-rs reads the pattern as ECMA 262, where \p{L} is a letter; Python's re cannot
    # compile it, so the gateway's stack could not use it either.
    schemas = {"Name": {"type": "string", "pattern": r"\p{L}+"}, "Ok": {"pattern": "^[a-z]+$"}}
    problems = problems_of(openapi3(components={"schemas": schemas}))
    assert codes_at(problems) == [("spec_invalid", "/components/schemas/Name/pattern")]
    assert "is not a 'regex'" in problems[0].message


def test_a_list_that_must_hold_each_item_once_is_refused_with_a_repeated_item() -> None:
    required = {"type": "object", "required": ["a", "b", "a"], "properties": {"a": STRING}}
    problems = problems_of(openapi3(components={"schemas": {"Thing": required}}))
    assert codes_at(problems) == [("spec_invalid", "/components/schemas/Thing/required")]
    assert "non-unique" in problems[0].message


@pytest.mark.parametrize(
    ("first", "second", "repeated"),
    [(1, 1.0, True), (1, True, False), ({"a": 1}, {"a": 1.0}, True)],
)
def test_repeated_items_are_found_as_json_schema_compares_them(
    first: Any, second: Any, repeated: bool
) -> None:
    # An operation's parameters must be unique; in JSON Schema 1 and 1.0 are the same number,
    # and true is not 1.
    parameters = [{"name": "q", "in": "query", "x-n": value} for value in (first, second)]
    document = openapi3(paths={"/a": {"get": operation(parameters=parameters)}})
    found = [p.pointer for p in problems_of(document) if "non-unique" in p.message]
    assert found == (["/paths/~1a/get/parameters"] if repeated else [])


def test_checking_past_its_budget_raises_and_the_next_check_has_its_own() -> None:
    paths = {f"/items{n}": {"get": operation()} for n in range(200)}
    loaded = LoadedDocument(openapi3(paths=paths), "json", "3.0")
    with pytest.raises(validation.OverBudget) as late:
        check(loaded, budget=1e-9)
    assert late.value.budget == 1e-9
    assert check(loaded, budget=60) == []
    assert check(loaded) == []


def test_an_operation_id_written_as_an_object_does_not_hide_later_problems() -> None:
    twice = [{"name": "q", "in": "query", "schema": STRING, "description": d} for d in "xy"]
    paths = {
        "/a": {"get": operation(operationId={"not": "a string"})},
        "/b": {"get": operation(operationId={"not": "a string"})},
        "/c": {"get": operation(parameters=twice)},
    }
    found = codes_at(problems_of(openapi3(paths=paths)))
    assert ("spec_invalid", "/paths/~1a/get/operationId") in found
    assert ("parameter_duplicate", "/paths/~1c/get/parameters") in found
