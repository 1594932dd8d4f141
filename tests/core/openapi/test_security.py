"""Effective security, key policies and their fit with the spec."""

from typing import Any

from keyward.core.openapi.security import (
    DEFAULT_KEY_HEADER,
    DEFAULT_SCHEME,
    KeyLocation,
    KeyRole,
    Location,
    default_locations,
    effective_requirements,
    operation_requirements,
    operation_security,
    policy_problems,
    rebind,
)


def spec(schemes: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}}
    if schemes is not None:
        doc["components"] = {"securitySchemes": schemes}
    doc.update(top)
    return doc


HEADER_KEY = {"type": "apiKey", "in": "header", "name": "X-Token"}
QUERY_KEY = {"type": "apiKey", "in": "query", "name": "token"}
OAUTH = {"type": "oauth2", "flows": {"implicit": {"authorizationUrl": "https://a/", "scopes": {}}}}


def test_operation_security_overrides_the_document_and_none_means_undeclared() -> None:
    doc = spec({"h": HEADER_KEY, "q": QUERY_KEY}, security=[{"h": []}])
    assert effective_requirements(doc, {}) == [{"h": []}]
    assert effective_requirements(doc, {"security": [{"q": []}, {}]}) == [{"q": []}, {}]
    assert effective_requirements(doc, {"security": []}) == []
    assert effective_requirements(spec({"h": HEADER_KEY}), {}) is None


def test_a_spec_without_api_key_schemes_gets_keywards_default_header() -> None:
    locations = default_locations(spec({"oauth": OAUTH}))
    assert locations == [
        KeyLocation(DEFAULT_SCHEME, Location.HEADER, DEFAULT_KEY_HEADER, KeyRole.KEY, True)
    ]
    taken = default_locations(spec({DEFAULT_SCHEME: OAUTH}))
    assert [loc.scheme for loc in taken] == [f"{DEFAULT_SCHEME}2"]


def test_the_default_key_joins_every_declared_alternative_but_public_stays_public() -> None:
    doc = spec({"oauth": OAUTH}, security=[{"oauth": ["read"]}])
    locations = default_locations(doc)
    assert operation_requirements(doc, {}, locations) == [{"oauth": ["read"], DEFAULT_SCHEME: []}]
    assert operation_requirements(doc, {"security": []}, locations) == []
    assert operation_requirements(doc, {"security": [{}]}, locations) == [{}]
    undeclared = spec({"oauth": OAUTH})
    assert operation_security(undeclared, {}, default_locations(undeclared)) == [
        frozenset({DEFAULT_SCHEME})
    ]


def test_the_specs_own_and_or_is_kept_as_dnf() -> None:
    doc = spec({"h": HEADER_KEY, "q": QUERY_KEY}, security=[{"h": [], "q": []}, {"q": []}])
    assert operation_security(doc, {}, default_locations(doc)) == [
        frozenset({"h", "q"}),
        frozenset({"q"}),
    ]


def test_an_operation_without_declared_security_needs_a_key_in_any_place_the_policy_takes_one() -> (
    None
):
    doc = spec({"h": HEADER_KEY, "q": QUERY_KEY})
    assert operation_requirements(doc, {}, default_locations(doc)) == [{"h": []}, {"q": []}]
    passthrough = [
        KeyLocation("h", Location.HEADER, "X-Token", KeyRole.PASSTHROUGH),
        KeyLocation("q", Location.QUERY, "token", KeyRole.KEY),
    ]
    assert operation_requirements(doc, {}, passthrough) == [{"q": []}]
    assert operation_requirements(doc, {"security": []}, passthrough) == []


def test_a_policy_must_bind_every_api_key_scheme_as_declared() -> None:
    doc = spec({"h": HEADER_KEY, "q": QUERY_KEY})
    good = [
        KeyLocation("h", Location.HEADER, "X-Token", KeyRole.KEY),
        KeyLocation("q", Location.QUERY, "token", KeyRole.PASSTHROUGH),
    ]
    assert policy_problems(good, doc) == []
    moved = [KeyLocation("h", Location.QUERY, "X-Token", KeyRole.KEY), good[1]]
    assert any("declared in header" in p for p in policy_problems(moved, doc))
    assert any("needs a role" in p for p in policy_problems(good[:1], doc))
    passthrough_only = [KeyLocation("h", Location.HEADER, "X-Token", KeyRole.PASSTHROUGH), good[1]]
    assert any("role 'key'" in p for p in policy_problems(passthrough_only, doc))
    unknown = [*good, KeyLocation("nope", Location.HEADER, "X", KeyRole.KEY)]
    assert any("'nope' is not an apiKey scheme" in p for p in policy_problems(unknown, doc))


def test_without_api_key_schemes_one_location_anywhere_under_a_free_name() -> None:
    doc = spec({"oauth": OAUTH})
    cookie = KeyLocation("mykey", Location.COOKIE, "session_key", KeyRole.KEY, True)
    assert policy_problems([cookie], doc) == []
    clash = KeyLocation("oauth", Location.HEADER, "X", KeyRole.KEY, True)
    assert any("'keyward'" in p for p in policy_problems([clash], doc))
    assert policy_problems(
        [cookie, KeyLocation("other", Location.QUERY, "k", KeyRole.KEY, True)], doc
    )


def test_a_new_version_keeps_bindings_that_still_fit_and_binds_new_schemes() -> None:
    old = [
        KeyLocation("h", Location.HEADER, "X-Token", KeyRole.PASSTHROUGH),
        KeyLocation("q", Location.QUERY, "token", KeyRole.KEY),
    ]
    moved_query = {"type": "apiKey", "in": "query", "name": "access_token"}
    doc = spec(
        {"h": HEADER_KEY, "q": moved_query, "c": {"type": "apiKey", "in": "cookie", "name": "s"}}
    )
    assert rebind(old, doc) == [
        KeyLocation("h", Location.HEADER, "X-Token", KeyRole.PASSTHROUGH),
        KeyLocation("c", Location.COOKIE, "s", KeyRole.KEY),
        KeyLocation("q", Location.QUERY, "access_token", KeyRole.KEY),
    ]
    assert rebind(old, spec()) == default_locations(spec())
    custom = [KeyLocation(DEFAULT_SCHEME, Location.QUERY, "api_key", KeyRole.KEY, True)]
    renamed = rebind(custom, spec({DEFAULT_SCHEME: OAUTH}))
    assert renamed == [
        KeyLocation(f"{DEFAULT_SCHEME}2", Location.QUERY, "api_key", KeyRole.KEY, True)
    ]
