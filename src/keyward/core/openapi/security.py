"""Which credentials an operation needs, as the spec says, bound to keyward's key policy.

An API's key policy binds each `apiKey` security scheme of the spec to a role: `key` (a keyward
secret the gateway verifies), `acquisition_id` (must equal the key's acquisition) or
`passthrough` (the provider's own credential, forwarded untouched). A spec without `apiKey`
schemes gets one synthetic scheme, keyward's default header `X-API-Key`.

An operation's effective security is its own `security` if present, else the document's;
`[]` means public and `[{}]` optional. It is kept in disjunctive normal form: a list of
alternatives, each the set of scheme names that must all be satisfied.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from keyward.core.openapi import Document
from keyward.core.openapi.documents import unique_name

DEFAULT_KEY_HEADER = "X-API-Key"
DEFAULT_SCHEME = "keyward"


class KeyRole(StrEnum):
    KEY = "key"
    ACQUISITION_ID = "acquisition_id"
    PASSTHROUGH = "passthrough"


class Location(StrEnum):
    HEADER = "header"
    QUERY = "query"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class KeyLocation:
    """Where one credential travels, which scheme of the spec describes it, and what it is.

    `synthetic` marks the scheme keyward adds when the spec has no apiKey scheme of its own;
    its name never collides with the spec's schemes.
    """

    scheme: str
    location: Location
    name: str
    role: KeyRole
    synthetic: bool = False


def synthetic_location(
    doc: Document, location: Location = Location.HEADER, name: str = DEFAULT_KEY_HEADER
) -> KeyLocation:
    scheme = unique_name(DEFAULT_SCHEME, security_schemes(doc))
    return KeyLocation(scheme, location, name, KeyRole.KEY, synthetic=True)


Alternative = frozenset[str]


def security_schemes(doc: Document) -> dict[str, dict[str, Any]]:
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    return {name: scheme for name, scheme in schemes.items() if isinstance(scheme, dict)}


def api_key_schemes(doc: Document) -> dict[str, tuple[Location, str]]:
    """The spec's `apiKey` schemes: name -> (where, parameter name)."""
    found = {}
    for name, scheme in security_schemes(doc).items():
        if scheme.get("type") == "apiKey" and scheme.get("in") in Location.__members__.values():
            found[name] = (Location(scheme["in"]), str(scheme.get("name", "")))
    return found


def default_locations(doc: Document) -> list[KeyLocation]:
    """The policy an API starts with: every apiKey scheme carries a keyward key, or, without
    any, keyward's default header."""
    schemes = api_key_schemes(doc)
    if not schemes:
        return [synthetic_location(doc)]
    return [
        KeyLocation(name, location, parameter, KeyRole.KEY)
        for name, (location, parameter) in sorted(schemes.items())
    ]


Requirement = dict[str, list[str]]


def effective_requirements(doc: Document, operation: Mapping[str, Any]) -> list[Requirement] | None:
    """The operation's requirements (scheme -> scopes, in DNF), or None when neither it nor
    the document declares any."""
    declared = operation["security"] if "security" in operation else doc.get("security")
    if declared is None:
        return None
    return [dict(requirement) for requirement in declared]


def operation_requirements(
    doc: Document, operation: Mapping[str, Any], locations: Iterable[KeyLocation]
) -> list[Requirement]:
    """The requirements the gateway enforces for an operation under a key policy.

    With the synthetic default scheme, keyward's key is added to every alternative the spec
    declares (its own schemes are the provider's and pass through). An operation without any
    declared security needs a key all the same, in any of the places the policy takes one:
    keyward fails closed, so a spec that defines schemes but forgets to apply them does not
    publish its API. Only `[]` makes an operation public; `{}` stays the anonymous alternative.
    """
    declared = effective_requirements(doc, operation)
    locations = list(locations)
    synthetic = [loc.scheme for loc in locations if loc.synthetic]
    if declared is None:
        if synthetic:
            return [{scheme: [] for scheme in synthetic}]
        return [{loc.scheme: []} for loc in locations if loc.role is KeyRole.KEY]
    if not synthetic:
        return declared
    return [
        {**requirement, **{scheme: [] for scheme in synthetic}} if requirement else requirement
        for requirement in declared
    ]


def operation_security(
    doc: Document, operation: Mapping[str, Any], locations: Iterable[KeyLocation]
) -> list[Alternative]:
    """`operation_requirements` as sets of scheme names: alternatives of conjunctions."""
    return [frozenset(r) for r in operation_requirements(doc, operation, locations)]


def rebind(locations: Iterable[KeyLocation], doc: Document) -> list[KeyLocation]:
    """A policy carried over to a new version of the spec: bindings of schemes that are still
    there (same place, same name) are kept, new apiKey schemes carry keys, vanished ones go.
    Without any key left, the policy starts over from the spec's defaults."""
    schemes = api_key_schemes(doc)
    current = list(locations)
    if not schemes:
        # Keep where the key travels; the scheme's name may have to change with the spec.
        return [
            synthetic_location(doc, loc.location, loc.name) for loc in current if loc.synthetic
        ] or default_locations(doc)
    kept = [
        loc
        for loc in current
        if not loc.synthetic and schemes.get(loc.scheme) == (loc.location, loc.name)
    ]
    bound = {loc.scheme for loc in kept}
    added = [
        KeyLocation(name, location, parameter, KeyRole.KEY)
        for name, (location, parameter) in sorted(schemes.items())
        if name not in bound
    ]
    result = kept + added
    if not any(loc.role is KeyRole.KEY for loc in result):
        return default_locations(doc)
    return result


def policy_problems(locations: list[KeyLocation], doc: Document) -> list[str]:
    """Why a key policy does not fit the spec (empty when it does)."""
    schemes = api_key_schemes(doc)
    problems = []
    names = [loc.scheme for loc in locations]
    if len(set(names)) != len(names):
        problems.append("each scheme may be bound only once")
    if not any(loc.role is KeyRole.KEY for loc in locations):
        problems.append("at least one location must carry the keyward key (role 'key')")
    if not schemes:
        taken = set(security_schemes(doc))
        if len(locations) != 1 or locations[0].scheme in taken:
            free = unique_name(DEFAULT_SCHEME, taken)
            problems.append(
                "the spec has no apiKey scheme: bind exactly one location, for keyward's key, "
                f"under a scheme name the spec does not use (such as {free!r})"
            )
        return problems
    for loc in locations:
        declared = schemes.get(loc.scheme)
        if declared is None:
            problems.append(f"{loc.scheme!r} is not an apiKey scheme of the spec")
        elif declared != (loc.location, loc.name):
            problems.append(
                f"{loc.scheme!r} is declared in {declared[0].value} {declared[1]!r} by the spec"
            )
    for missing in sorted(set(schemes) - set(names)):
        problems.append(f"the spec's apiKey scheme {missing!r} needs a role")
    return problems
