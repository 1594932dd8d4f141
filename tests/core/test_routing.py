"""Gateway routing: requests to operations, operations to the credentials they need, paths to
mounted APIs."""

import re
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.openapi import Document
from keyward.core.openapi.export import base_path, export_document
from keyward.core.openapi.intake import read_spec
from keyward.core.openapi.operations import operations
from keyward.core.openapi.security import (
    DEFAULT_SCHEME,
    KeyLocation,
    KeyRole,
    Location,
    default_locations,
)
from keyward.core.routing import (
    Credential,
    Mounts,
    Route,
    RouteMiss,
    RouteTable,
    Security,
    compile_routes,
    public_operations,
    weakened_operations,
)
from tests.fixtures import OPENAPI_FIXTURES, corpus_files, openapi_fixtures

OK = {"responses": {"200": {"description": "ok"}}}
HEADER_KEY = {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
QUERY_TENANT = {"type": "apiKey", "in": "query", "name": "Tenant"}
COOKIE_SESSION = {"type": "apiKey", "in": "cookie", "name": "Session"}
BEARER = {"type": "http", "scheme": "bearer"}
MTLS = {"type": "mutualTLS"}
KEY = Credential("key", Location.HEADER, "x-api-key", KeyRole.KEY)
TENANT = Credential("tenant", Location.QUERY, "Tenant", KeyRole.KEY)
SESSION = Credential("session", Location.COOKIE, "Session", KeyRole.KEY)
BEARER_PASSTHROUGH = Credential("bearer", Location.HEADER, "authorization", KeyRole.PASSTHROUGH)
PUBLIC = Security((), anonymous=True)


def api(paths: dict[str, Any], **top: Any) -> Document:
    doc: Document = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths}
    doc.update(top)
    return doc


def item(*methods: str, **operation: Any) -> dict[str, Any]:
    """A path item with an operation for each method (`GET`, `post`...)."""
    return {method.lower(): {**OK, **operation} for method in methods}


def table(paths: dict[str, Any], base: str = "", **top: Any) -> RouteTable:
    doc = api(paths, **top)
    return compile_routes(doc, default_locations(doc), base)


def template_of(answer: Route | RouteMiss) -> str:
    assert isinstance(answer, Route), answer
    return answer.template


def security_of(doc: Document, method: str, path: str, locations: list[KeyLocation]) -> Security:
    answer = compile_routes(doc, locations).match(method, path)
    assert isinstance(answer, Route), answer
    return answer.security


# Matching


def test_a_literal_segment_beats_a_mixed_one_which_beats_a_parameter() -> None:
    routes = table({"/files/{name}": item("GET"), "/files/{id}.json": item("GET")})
    assert template_of(routes.match("GET", "/files/a.json")) == "/files/{id}.json"
    assert template_of(routes.match("GET", "/files/a.xml")) == "/files/{name}"
    routes = table(
        {
            "/files/{name}": item("GET"),
            "/files/{id}.json": item("GET"),
            "/files/index.json": item("GET"),
        }
    )
    assert template_of(routes.match("GET", "/files/index.json")) == "/files/index.json"
    assert template_of(routes.match("GET", "/files/other.json")) == "/files/{id}.json"


def test_a_preferred_branch_that_fails_further_down_gives_way_to_the_next() -> None:
    routes = table({"/a/{x}/c": item("GET"), "/a/b/d": item("GET")})
    assert template_of(routes.match("GET", "/a/b/c")) == "/a/{x}/c"
    assert template_of(routes.match("GET", "/a/b/d")) == "/a/b/d"
    assert template_of(routes.match("GET", "/a/z/c")) == "/a/{x}/c"
    assert routes.match("GET", "/a/z/d") == RouteMiss(404)


def test_a_literal_path_without_the_method_gives_way_to_a_template_with_it() -> None:
    routes = table({"/users/me": item("GET"), "/users/{id}": item("GET", "DELETE")})
    assert template_of(routes.match("DELETE", "/users/me")) == "/users/{id}"
    assert template_of(routes.match("GET", "/users/me")) == "/users/me"


def test_mixed_segments_need_at_least_one_character_per_parameter() -> None:
    routes = table(
        {
            "/api/v{version}/status": item("GET"),
            "/compare/{base}...{head}": item("GET"),
            "/names/{first}.{last}": item("GET"),
            "/names/{id}.json": item("GET"),
        }
    )
    assert template_of(routes.match("GET", "/api/v2/status")) == "/api/v{version}/status"
    assert routes.match("GET", "/api/v/status") == RouteMiss(404)
    assert routes.match("GET", "/api/xv2/status") == RouteMiss(404), "mixed segments are anchored"
    assert template_of(routes.match("GET", "/compare/main...dev")) == "/compare/{base}...{head}"
    assert routes.match("GET", "/compare/...dev") == RouteMiss(404)
    # The more literal of two mixed segments is tried first.
    assert template_of(routes.match("GET", "/names/ada.json")) == "/names/{id}.json"
    assert template_of(routes.match("GET", "/names/ada.lovelace")) == "/names/{first}.{last}"
    assert routes.match("GET", "/names/ada") == RouteMiss(404)


def test_mixed_segments_take_linear_time_in_the_segment() -> None:
    routes = table({"/x/{a}.{b}.{c}.x": item("GET")})
    dots = "." * 20_000
    started = time.perf_counter()
    assert routes.match("GET", f"/x/{dots}y") == RouteMiss(404)
    assert template_of(routes.match("GET", f"/x/{dots}.x")) == "/x/{a}.{b}.{c}.x"
    assert time.perf_counter() - started < 1, "a backtracking regex needs minutes here"


def test_each_segment_is_percent_decoded_on_its_own() -> None:
    routes = table({"/pets/a b": item("GET"), "/files/{name}": item("GET"), "/x%2Fy": item("GET")})
    assert template_of(routes.match("GET", "/pets/a%20b")) == "/pets/a b"
    assert template_of(routes.match("GET", "/%70ets/a%20b")) == "/pets/a b"
    assert template_of(routes.match("GET", "/files/a%2Fb")) == "/files/{name}"
    assert routes.match("GET", "/files/a/b") == RouteMiss(404), "a real slash splits"
    assert template_of(routes.match("GET", "/x%2fy")) == "/x%2Fy"
    assert routes.match("GET", "/x/y") == RouteMiss(404)


@pytest.mark.parametrize(
    "path",
    [
        "/files/..",
        "/files/.",
        "/files/%2e%2E",
        "/files/%2E",
        "/files/.%2e",
        "/files/../files/x",
        "/files/x/..",
        "/files//x",
        "//files/x",
        "/files/x//",
        "files/x",
        "",
    ],
)
def test_dot_segments_and_empty_segments_never_match(path: str) -> None:
    routes = table(
        {
            "/files/{name}": item("GET"),
            "/files/{name}/": item("GET"),
            "/files/{name}/{rest}": item("GET"),
            "/{any}/{name}": item("GET"),
            "/{a}/{b}/{c}": item("GET"),
        }
    )
    assert routes.match("GET", path) == RouteMiss(404)


def test_templates_with_dot_or_empty_segments_are_never_routes() -> None:
    routes = table({"/a/../b": item("GET"), "/c//d": item("GET"), "/e/%2e": item("GET")})
    assert routes.match("GET", "/b") == RouteMiss(404)
    assert routes.match("GET", "/c//d") == RouteMiss(404)
    assert routes.match("GET", "/e/%2e") == RouteMiss(404)
    assert {route.template for route in routes.routes} == set()


def test_a_trailing_slash_is_part_of_the_path() -> None:
    routes = table({"/pets": item("GET"), "/owners/": item("GET"), "/": item("GET")})
    assert template_of(routes.match("GET", "/pets")) == "/pets"
    assert routes.match("GET", "/pets/") == RouteMiss(404)
    assert template_of(routes.match("GET", "/owners/")) == "/owners/"
    assert routes.match("GET", "/owners") == RouteMiss(404)
    assert template_of(routes.match("GET", "/")) == "/"
    params = table({"/pets/{id}": item("GET")})
    assert params.match("GET", "/pets/") == RouteMiss(404), "a parameter is never empty"


def test_the_base_path_comes_before_every_spec_path() -> None:
    routes = table({"/pets": item("GET"), "/": item("GET")}, base="/api/v1")
    assert template_of(routes.match("GET", "/api/v1/pets")) == "/pets"
    assert template_of(routes.match("GET", "/api/v1/")) == "/"
    assert routes.match("GET", "/api/v1") == RouteMiss(404)
    assert routes.match("GET", "/pets") == RouteMiss(404)
    assert routes.match("GET", "/api/v12/pets") == RouteMiss(404)
    assert routes.match("GET", "/api/v1pets") == RouteMiss(404)
    assert template_of(routes.match("GET", "/api/v%31/pets")) == "/pets"


def test_a_known_path_without_the_method_is_405_listing_its_methods() -> None:
    routes = table({"/pets": item("GET", "POST"), "/pets/{id}": item("DELETE")})
    assert routes.match("PUT", "/pets") == RouteMiss(405, ("GET", "HEAD", "POST"))
    assert routes.match("GET", "/pets/1") == RouteMiss(405, ("DELETE",))
    assert routes.match("get", "/pets") == RouteMiss(405, ("GET", "HEAD", "POST"))
    assert routes.match("GET", "/dogs") == RouteMiss(404)


def test_allow_lists_the_methods_of_every_template_that_matches() -> None:
    routes = table({"/users/me": item("GET"), "/users/{id}": item("DELETE", "PATCH")})
    assert routes.match("PUT", "/users/me") == RouteMiss(405, ("DELETE", "GET", "HEAD", "PATCH"))
    assert routes.match("PUT", "/users/42") == RouteMiss(405, ("DELETE", "PATCH"))
    for method in ("DELETE", "GET", "HEAD", "PATCH"):
        assert isinstance(routes.match(method, "/users/me"), Route), method


def test_head_is_answered_by_get_unless_the_spec_defines_head() -> None:
    routes = table(
        {
            "/pets": item("GET", operationId="listPets"),
            "/files": {"get": {**OK, "operationId": "read"}, "head": {**OK, "operationId": "peek"}},
        }
    )
    head = routes.match("HEAD", "/pets")
    assert isinstance(head, Route)
    assert (head.method, head.operation_id) == ("GET", "listPets")
    own = routes.match("HEAD", "/files")
    assert isinstance(own, Route)
    assert (own.method, own.operation_id) == ("HEAD", "peek")
    assert table({"/pets": item("POST")}).match("HEAD", "/pets") == RouteMiss(405, ("POST",))


def test_routes_carry_the_operations_identity() -> None:
    routes = table({"/pets/{petId}": item("get", operationId="showPet", tags=["pets", "read"])})
    assert routes.match("GET", "/pets/7") == Route(
        method="GET",
        template="/pets/{petId}",
        operation_id="showPet",
        tags=frozenset({"pets", "read"}),
        security=Security(
            ((Credential(DEFAULT_SCHEME, Location.HEADER, "x-api-key", KeyRole.KEY),),), False
        ),
    )
    assert [route.template for route in routes.routes] == ["/pets/{petId}"]


def test_path_items_behind_a_local_ref_are_routed() -> None:
    doc = api(
        {"/pets": {"$ref": "#/x-items/pets"}, "/broken": {"$ref": "#/x-items/missing"}},
        **{"x-items": {"pets": item("GET", operationId="listPets")}},
    )
    routes = compile_routes(doc, default_locations(doc))
    answer = routes.match("GET", "/pets")
    assert isinstance(answer, Route)
    assert answer.operation_id == "listPets"
    assert routes.match("GET", "/broken") == RouteMiss(404)


def test_templates_of_the_same_shape_are_one_path_and_the_first_keeps_a_method() -> None:
    routes = table(
        {
            "/pets/{id}": item("GET", operationId="first"),
            "/pets/{petId}": item("GET", "DELETE", operationId="second"),
        }
    )
    get, delete = routes.match("GET", "/pets/1"), routes.match("DELETE", "/pets/1")
    assert isinstance(get, Route)
    assert isinstance(delete, Route)
    assert (get.operation_id, delete.operation_id) == ("first", "second")


# Security


def keyed(**top: Any) -> Document:
    schemes = {
        "key": HEADER_KEY,
        "tenant": QUERY_TENANT,
        "session": COOKIE_SESSION,
        "bearer": BEARER,
        "mtls": MTLS,
    }
    return api(
        {"/pets": item("GET")},
        components={"securitySchemes": {**schemes, **top.pop("schemes", {})}},
        **top,
    )


def test_an_and_of_header_and_query_or_a_cookie() -> None:
    doc = keyed(security=[{"key": [], "tenant": []}, {"session": []}])
    assert security_of(doc, "GET", "/pets", default_locations(doc)) == Security(
        ((KEY, TENANT), (SESSION,)), anonymous=False
    )


def test_empty_security_is_public_and_an_empty_requirement_optional() -> None:
    public = keyed(security=[])
    assert security_of(public, "GET", "/pets", default_locations(public)) == PUBLIC
    optional = keyed(security=[{"key": []}, {}])
    assert security_of(optional, "GET", "/pets", default_locations(optional)) == Security(
        ((KEY,),), anonymous=True
    )
    only_optional = keyed(security=[{}])
    assert security_of(only_optional, "GET", "/pets", default_locations(only_optional)) == PUBLIC


def test_the_operations_security_overrides_the_documents() -> None:
    doc = keyed(security=[{"key": []}])
    doc["paths"]["/pets"]["get"]["security"] = [{"tenant": []}]
    doc["paths"]["/pets"]["post"] = {**OK, "security": []}
    doc["paths"]["/pets"]["put"] = OK
    locations = default_locations(doc)
    assert security_of(doc, "GET", "/pets", locations) == Security(((TENANT,),), False)
    assert security_of(doc, "POST", "/pets", locations) == PUBLIC
    assert security_of(doc, "PUT", "/pets", locations) == Security(((KEY,),), False)


def test_the_policy_gives_each_api_key_its_role() -> None:
    doc = keyed(security=[{"key": [], "tenant": [], "session": []}])
    locations = [
        KeyLocation("key", Location.HEADER, "X-Api-Key", KeyRole.KEY),
        KeyLocation("tenant", Location.QUERY, "Tenant", KeyRole.ACQUISITION_ID),
        KeyLocation("session", Location.COOKIE, "Session", KeyRole.PASSTHROUGH),
    ]
    assert security_of(doc, "GET", "/pets", locations) == Security(
        (
            (
                KEY,
                Credential("tenant", Location.QUERY, "Tenant", KeyRole.ACQUISITION_ID),
                Credential("session", Location.COOKIE, "Session", KeyRole.PASSTHROUGH),
            ),
        ),
        anonymous=False,
    )


def test_http_oauth2_and_openid_schemes_pass_through_in_authorization() -> None:
    doc = keyed(
        schemes={
            "basic": {"type": "http", "scheme": "basic"},
            "oauth": {"type": "oauth2", "flows": {}},
            "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://id.example.com"},
        },
        security=[{"key": [], "bearer": []}, {"basic": []}, {"oauth": ["read"]}, {"oidc": []}],
    )
    passthrough = [
        (Credential(name, Location.HEADER, "authorization", KeyRole.PASSTHROUGH),)
        for name in ("basic", "oauth", "oidc")
    ]
    assert security_of(doc, "GET", "/pets", default_locations(doc)) == Security(
        ((KEY, BEARER_PASSTHROUGH), *passthrough), anonymous=False
    )


def test_keywards_default_key_joins_the_providers_bearer() -> None:
    doc = api(
        {"/pets": item("GET"), "/health": item("GET", security=[])},
        components={"securitySchemes": {"bearer": BEARER}},
        security=[{"bearer": []}],
    )
    default = Credential(DEFAULT_SCHEME, Location.HEADER, "x-api-key", KeyRole.KEY)
    locations = default_locations(doc)
    assert security_of(doc, "GET", "/pets", locations) == Security(
        ((BEARER_PASSTHROUGH, default),), anonymous=False
    )
    assert security_of(doc, "GET", "/health", locations) == PUBLIC
    undeclared = api({"/pets": item("GET")})
    assert security_of(undeclared, "GET", "/pets", default_locations(undeclared)) == Security(
        ((default,),), anonymous=False
    )


def test_alternatives_that_need_mutual_tls_or_an_undefined_scheme_are_left_out() -> None:
    doc = keyed(security=[{"mtls": []}, {"key": [], "nowhere": []}, {"key": []}])
    assert security_of(doc, "GET", "/pets", default_locations(doc)) == Security(
        ((KEY,),), anonymous=False
    )
    impossible = keyed(security=[{"mtls": []}])
    unsatisfiable = security_of(impossible, "GET", "/pets", default_locations(impossible))
    assert unsatisfiable == Security((), anonymous=False), "not public"


def _export_view(requirements: list[dict[str, list[str]]]) -> tuple[list[tuple[str, ...]], bool]:
    anonymous = not requirements or any(not requirement for requirement in requirements)
    return [tuple(requirement) for requirement in requirements if requirement], anonymous


def _where(scheme: dict[str, Any]) -> tuple[Location, str]:
    """Where the exported document tells acquirers to send a scheme's credential."""
    if scheme["type"] == "apiKey":
        location = Location(scheme["in"])
        return location, scheme["name"].lower() if location is Location.HEADER else scheme["name"]
    return Location.HEADER, "authorization"


def assert_gateway_agrees_with_export(doc: Document, locations: list[KeyLocation]) -> int:
    """Every operation's security as compiled is the export's; returns how many were compared."""
    exported = export_document(doc, locations, server_url="https://gw.example.com", realm="t")
    schemes = exported["components"]["securitySchemes"]
    routes = compile_routes(doc, locations, base_path(doc))
    compared = 0
    for route in routes.routes:
        operation = exported["paths"][route.template][route.method.lower()]
        security = route.security
        assert _export_view(operation["security"]) == (
            [tuple(c.scheme for c in alternative) for alternative in security.alternatives],
            security.anonymous,
        ), (route.method, route.template)
        for alternative in security.alternatives:
            for credential in alternative:
                assert _where(schemes[credential.scheme]) == (credential.location, credential.name)
        compared += 1
    return compared


@pytest.mark.parametrize(
    "doc",
    [
        keyed(security=[{"key": [], "tenant": []}, {"session": []}, {}]),
        keyed(security=[]),
        keyed(),
        api({"/pets": item("GET"), "/open": item("GET", security=[])}),
        api(
            {"/pets": item("GET", security=[{"bearer": []}, {}]), "/x": item("GET", security=[])},
            components={"securitySchemes": {"bearer": BEARER}},
            security=[{"bearer": []}],
        ),
    ],
)
def test_the_gateway_enforces_what_the_export_documents(doc: Document) -> None:
    assert assert_gateway_agrees_with_export(doc, default_locations(doc)) > 0


# Mounts


def test_the_longest_mount_on_whole_segments_takes_the_path() -> None:
    mounts = Mounts({"pets": "pets", "petstore": "store", "acme/pets/v1": "acme", "acme": "root"})
    assert mounts.resolve("/petstore/v1/pets") == ("store", "/v1/pets")
    assert mounts.resolve("/pets/1") == ("pets", "/1")
    assert mounts.resolve("/pets") == ("pets", "")
    assert mounts.resolve("/pets/") == ("pets", "/")
    assert mounts.resolve("/acme/pets/v1/dogs") == ("acme", "/dogs")
    assert mounts.resolve("/acme/pets/v2/dogs") == ("root", "/pets/v2/dogs")
    assert mounts.resolve("/acme/pets/v1") == ("acme", "")
    assert mounts.resolve("/petsxyz") is None
    assert mounts.resolve("/other/pets") is None
    assert mounts.resolve("/") is None
    assert mounts.resolve("pets") is None
    assert mounts.resolve("//pets") is None
    assert mounts.resolve("/%70ets/1") is None


def test_the_empty_mount_takes_what_no_other_mount_takes() -> None:
    mounts = Mounts({"": "root", "pets": "pets"})
    assert mounts.resolve("/pets/1") == ("pets", "/1")
    assert mounts.resolve("/dogs/1") == ("root", "/dogs/1")
    assert mounts.resolve("/") == ("root", "/")
    assert Mounts[str]({}).resolve("/pets") is None


@pytest.mark.parametrize("mount", ["/pets", "pets/", "acme//pets"])
def test_a_mount_path_is_segments_without_outer_slashes(mount: str) -> None:
    with pytest.raises(ValueError, match="mount path"):
        Mounts({mount: 1})


# Properties


LITERALS = ("a", "b", "c")
METHODS = ("GET", "POST", "DELETE")
_TEMPLATE_PARAMETER = re.compile(r"\{[^{}/]+\}")


def rank(template: str) -> tuple[int, ...]:
    """How much a template is preferred, segment by segment (lower first)."""
    return tuple(
        2 if _TEMPLATE_PARAMETER.fullmatch(s) else 1 if _TEMPLATE_PARAMETER.search(s) else 0
        for s in template.split("/")
    )


def matches(template: str, path: str) -> bool:
    """Whether a path without percent-encoding is an instance of a template, independently of
    the route table."""
    pattern = "/".join(
        "(?:" + "[^/]+".join(re.escape(part) for part in _TEMPLATE_PARAMETER.split(s)) + ")"
        for s in template.split("/")
    )
    return re.fullmatch(pattern, path) is not None


templates = st.lists(
    st.lists(st.sampled_from((*LITERALS, "{p}")), min_size=1, max_size=4).map(
        lambda segments: "/" + "/".join(segments)
    ),
    min_size=1,
    max_size=10,
    unique=True,
)


@settings(max_examples=300, deadline=None)
@given(
    templates.flatmap(
        lambda paths: st.tuples(
            st.just(paths),
            st.lists(
                st.sets(st.sampled_from(METHODS), min_size=1),
                min_size=len(paths),
                max_size=len(paths),
            ),
            st.sampled_from(paths),
            st.data(),
        )
    ),
    st.sampled_from((*METHODS, "HEAD", "PUT")),
)
def test_a_path_matches_its_template_or_one_preferred_to_it(
    case: tuple[list[str], list[set[str]], str, st.DataObject], method: str
) -> None:
    paths, methods, chosen, data = case
    path = "/".join(
        data.draw(st.sampled_from((*LITERALS, "z")), label=s) if s == "{p}" else s
        for s in chosen.split("/")
    )
    routes = table({p: item(*ms) for p, ms in zip(paths, methods, strict=True)})
    answering = {
        p: (ms | {"HEAD"}) if "GET" in ms else ms for p, ms in zip(paths, methods, strict=True)
    }
    matching = [p for p in paths if matches(p, path)]
    assert chosen in matching
    with_method = [p for p in matching if method in answering[p]]
    answer = routes.match(method, path)
    if with_method:
        best = min(with_method, key=rank)
        assert isinstance(answer, Route)
        assert answer.template == best
        assert rank(best) <= rank(chosen) or method not in answering[chosen]
        assert answer.method == (method if method in methods[paths.index(best)] else "GET")
    else:
        allow = set().union(*(answering[p] for p in matching))
        assert answer == RouteMiss(405, tuple(sorted(allow)))


MIXED_PIECES = ("a", ".", "-", "ab", "{p}")


def mixed_shape(template: str) -> tuple[int, int]:
    """How preferred a mixed segment is (lower first): most literal characters, fewest
    parameters."""
    parameters = len(_TEMPLATE_PARAMETER.findall(template))
    return -len(_TEMPLATE_PARAMETER.sub("", template)), parameters


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(MIXED_PIECES), min_size=2, max_size=5)
        .map("".join)
        .filter(lambda segment: "{p}" in segment and segment != "{p}"),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    st.text(alphabet="ab.-", min_size=1, max_size=12).filter(lambda v: v not in (".", "..")),
)
def test_a_mixed_segment_matches_when_each_parameter_can_take_some_characters(
    segments: list[str], value: str
) -> None:
    routes = table({f"/m/{segment}": item("GET") for segment in segments})
    matching = [segment for segment in segments if matches(segment, value)]
    answer = routes.match("GET", f"/m/{value}")
    if not matching:
        assert answer == RouteMiss(404)
        return
    assert isinstance(answer, Route)
    found = answer.template.removeprefix("/m/")
    assert found in matching
    assert mixed_shape(found) == min(map(mixed_shape, matching))


# The corpus


CORPUS = corpus_files()


def _id(path: Path) -> str:
    return str(path.relative_to(OPENAPI_FIXTURES))


@cache
def _imported(path: Path) -> Document:
    return read_spec(path.read_bytes(), max_bytes=64 << 20).normalized


def _instance(template: str) -> str:
    return _TEMPLATE_PARAMETER.sub("x1", template)


@pytest.mark.parametrize("path", CORPUS, ids=_id)
def test_every_corpus_operation_is_reached_by_an_instance_of_its_template(path: Path) -> None:
    openapi_fixtures()
    doc = _imported(path)
    base = base_path(doc)
    routes = compile_routes(doc, default_locations(doc), base)
    for operation in operations(doc):
        method, template = operation.method.upper(), operation.path
        answer = routes.match(method, base + _instance(template))
        assert isinstance(answer, Route), (method, template, answer)
        assert answer.method == method
        if answer.template != template:
            assert matches(answer.template, _instance(template))
            assert rank(answer.template) <= rank(template), (answer.template, template)
        else:
            assert answer.operation_id == operation.operation_id
    assert len(routes.routes) == len(operations(doc))


@pytest.mark.parametrize(
    "name",
    [
        "real-world/gitea-swagger2.json",
        "real-world/kubernetes-swagger2.json",
        "oai-examples/v3.0/petstore-expanded.yaml",
        "oai-examples/v3.1/non-oauth-scopes.yaml",
        "s2o-golden/issue229/swagger.yaml",
    ],
)
def test_the_gateway_enforces_what_the_corpus_exports_document(name: str) -> None:
    doc = _imported(openapi_fixtures() / name)
    assert assert_gateway_agrees_with_export(doc, default_locations(doc)) > 0


# What a new version does to security


def versioned(security: Any = None, **schemes: Any) -> RouteTable:
    """One operation, `GET /a`, with `security` (absent when None) and the given apiKey
    schemes, every one carrying a keyward key."""
    operation = {**OK} if security is None else {**OK, "security": security}
    doc = api({"/a": {"get": operation}}, components={"securitySchemes": schemes})
    return compile_routes(doc, default_locations(doc))


TWO = {"key": HEADER_KEY, "tenant": QUERY_TENANT}


def test_public_operations_are_those_with_no_or_an_empty_requirement() -> None:
    routes = table(
        {
            "/open": item("GET", security=[]),
            "/optional": item("GET", security=[{}, {"key": []}]),
            "/closed": item("GET", security=[{"key": []}]),
            "/default": item("GET", "POST"),
        },
        components={"securitySchemes": {"key": HEADER_KEY}},
    )
    assert public_operations(routes) == ["GET /open", "GET /optional"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([{"key": []}], []),
        ([{"key": []}], [{}, {"key": []}]),
        ([{"key": [], "tenant": []}], [{"key": []}]),
        ([{"key": []}], [{"key": []}, {"tenant": []}]),
        ([{"key": []}], [{"tenant": []}]),
    ],
    ids=["made public", "made optional", "scheme removed", "alternative added", "another scheme"],
)
def test_a_version_that_needs_less_weakens_the_operation(before: Any, after: Any) -> None:
    assert weakened_operations(versioned(before, **TWO), versioned(after, **TWO)) == ["GET /a"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([{"key": []}], [{"key": []}]),
        ([{"key": []}], [{"key": [], "tenant": []}]),
        ([{"key": []}, {"tenant": []}], [{"tenant": []}]),
        ([], [{"key": []}]),
        ([{}, {"key": []}], []),
        (None, [{"tenant": []}]),
    ],
    ids=["same", "scheme added", "alternative removed", "was public", "was optional", "declared"],
)
def test_a_version_that_needs_as_much_or_more_does_not(before: Any, after: Any) -> None:
    assert weakened_operations(versioned(before, **TWO), versioned(after, **TWO)) == []


def test_a_scheme_renamed_in_the_same_place_is_not_weaker() -> None:
    before = versioned([{"key": []}], key=HEADER_KEY)
    after = versioned([{"apiKey": []}], apiKey=HEADER_KEY)
    assert weakened_operations(before, after) == []


def test_operations_only_in_one_version_are_not_weakened() -> None:
    before = table({"/a": item("GET")}, components={"securitySchemes": {"key": HEADER_KEY}})
    after = table(
        {"/a": item("GET"), "/b": item("GET", security=[])},
        components={"securitySchemes": {"key": HEADER_KEY}},
    )
    assert weakened_operations(before, after) == []
    assert public_operations(after) == ["GET /b"]


requirement_sets: st.SearchStrategy[list[dict[str, list[str]]]] = st.lists(
    st.sets(st.sampled_from(sorted(TWO)), max_size=2).map(lambda s: {name: [] for name in s}),
    max_size=3,
)


@given(before=requirement_sets, after=requirement_sets)
@settings(max_examples=200, deadline=None)
def test_weakening_is_exactly_a_request_after_lets_through_that_before_did_not(
    before: list[dict[str, list[str]]], after: list[dict[str, list[str]]]
) -> None:
    """Against the definition: some set of credentials a request may carry satisfies the new
    security but not the old one."""

    def satisfied(requirements: list[dict[str, list[str]]], carried: set[str]) -> bool:
        return not requirements or any(set(r) <= carried for r in requirements)

    carried_sets = [set(), {"key"}, {"tenant"}, {"key", "tenant"}]
    lets_more = any(satisfied(after, c) and not satisfied(before, c) for c in carried_sets)
    weakened = weakened_operations(versioned(before, **TWO), versioned(after, **TWO))
    assert weakened == (["GET /a"] if lets_more else [])
