"""What an acquirer downloads: the provider's spec as served by keyward's gateway.

Servers point at the gateway; only the offering's operations remain; the key policy's schemes
are described where the gateway expects them, with AND/OR kept as the spec's DNF; every
operation that needs a keyward key documents the gateway's 401 with `WWW-Authenticate`, its
403 and its 429 (a client that sent too many unknown keys, and for an offering with limits, a
key or acquisition over them), each listing every error code the gateway can answer for that
operation.
"""

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keyward.core.openapi import Document
from keyward.core.openapi.conversion import Conversion, ConversionWarning
from keyward.core.openapi.documents import HTTP_METHODS, iter_operations, unique_name
from keyward.core.openapi.openapi3 import to_swagger2
from keyward.core.openapi.openapi31 import to_openapi30
from keyward.core.openapi.security import KeyLocation, KeyRole, operation_requirements

UNAUTHORIZED = "UnauthorizedError"
FORBIDDEN = "ForbiddenError"
RATE_LIMITED = "RateLimitedError"
# What the gateway answers an operation that takes a keyward key, by status (gateway/enforcement).
UNAUTHORIZED_CODES = (
    "key_missing",
    "key_invalid",
    "key_expired",
    "key_rotated",
    "key_revoked",
    "key_disabled",
)
FORBIDDEN_CODES = (
    "key_not_approved",
    "acquisition_expired",
    "insufficient_rights",
    "wrong_api",
    "operation_not_in_offering",
)
RATE_LIMITED_CODES = ("rate_limited", "too_many_failed_keys")
# Any keyed operation's: the client's address or network sent too many unknown keys.
FLOODING_CODES = ("too_many_failed_keys",)
_SAFE_METHODS = frozenset({"get", "head", "options"})
_SHARED = {
    "401": (UNAUTHORIZED, UNAUTHORIZED_CODES),
    "403": (FORBIDDEN, FORBIDDEN_CODES),
    "429": (RATE_LIMITED, RATE_LIMITED_CODES),
}
_VARIABLE = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True, slots=True)
class OperationFilter:
    """The operations an offering includes: those with one of the tags or operationIds.

    Both empty means every operation.
    """

    tags: frozenset[str] = frozenset()
    operation_ids: frozenset[str] = frozenset()

    def includes(self, operation: Mapping[str, Any]) -> bool:
        return self.offers(operation.get("operationId"), operation.get("tags") or ())

    def offers(self, operation_id: str | None, tags: Iterable[str]) -> bool:
        """Whether the operation with this operationId and these tags is included."""
        if not self.tags and not self.operation_ids:
            return True
        return operation_id in self.operation_ids or not self.tags.isdisjoint(tags)


def base_path(doc: Document) -> str:
    """The path part of the first server URL (variables at their defaults), without a
    trailing slash: the gateway serves the spec's paths below it."""
    servers = doc.get("servers") or [{"url": "/"}]
    server: dict[str, Any] = servers[0] if isinstance(servers[0], dict) else {"url": "/"}
    variables = server.get("variables") or {}

    def default(match: re.Match[str]) -> str:
        return str((variables.get(match.group(1)) or {}).get("default", ""))

    url = _VARIABLE.sub(default, str(server.get("url", "/")))
    return urlsplit(url).path.rstrip("/")


def _describe(location: KeyLocation, realm: str) -> dict[str, Any]:
    what = {
        KeyRole.KEY: f"Your keyward API key for {realm}.",
        KeyRole.ACQUISITION_ID: f"The id of your acquisition of {realm}.",
        KeyRole.PASSTHROUGH: "The provider's own credential, passed through unchanged.",
    }[location.role]
    return {
        "type": "apiKey",
        "in": location.location.value,
        "name": location.name,
        "description": what,
    }


def _unauthorized(
    realm: str, locations: Iterable[KeyLocation], codes: Iterable[str]
) -> dict[str, Any]:
    challenges = [
        f'ApiKey realm="{realm}", in="{loc.location.value}", name="{loc.name}"'
        for loc in locations
        if loc.role is KeyRole.KEY
    ]
    return {
        "description": "The API key is missing, unknown, expired, rotated away or revoked, or "
        "a credential the operation needs with it is missing or does not match.",
        "headers": {
            "WWW-Authenticate": {
                "description": "One challenge per place a key is accepted: "
                + "; ".join(challenges),
                "schema": {"type": "string"},
            }
        },
        **_error_content(codes),
    }


def _error(description: str, codes: Iterable[str]) -> dict[str, Any]:
    return {"description": description, **_error_content(codes)}


def _error_content(codes: Iterable[str]) -> dict[str, Any]:
    return {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string", "enum": list(codes)},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        }
                    },
                }
            }
        },
    }


def refusal_codes(
    requirements: list[dict[str, list[str]]],
    locations: Iterable[KeyLocation],
    method: str,
    *,
    limited: bool = False,
) -> dict[str, tuple[str, ...]]:
    """Every error code the gateway can answer, by status ("401", "403", "429"), for an
    operation with these security `requirements` (empty when it takes no keyward key)."""
    by_scheme = {location.scheme: location for location in locations}
    roles = [
        [by_scheme[scheme] for scheme in requirement if scheme in by_scheme]
        for requirement in requirements
    ]
    if not any(location.role is KeyRole.KEY for found in roles for location in found):
        return {}
    unauthorized = list(UNAUTHORIZED_CODES)
    if any(len(found) > 1 for found in roles):
        unauthorized.append("credential_missing")
    if any(loc.role is KeyRole.ACQUISITION_ID for found in roles for loc in found):
        unauthorized.append("acquisition_id_mismatch")
    forbidden = list(FORBIDDEN_CODES)
    if any(sum(loc.role is KeyRole.KEY for loc in found) > 1 for found in roles):
        forbidden.append("keys_of_different_acquisitions")
    if method not in _SAFE_METHODS and any(
        loc.role is KeyRole.KEY and loc.location.value == "cookie"
        for found in roles
        for loc in found
    ):
        forbidden.append("cross_site_request")
    codes = {"401": tuple(unauthorized), "403": tuple(forbidden)}
    codes["429"] = RATE_LIMITED_CODES if limited else FLOODING_CODES
    return codes


def export_document(
    doc: Document,
    locations: list[KeyLocation],
    *,
    server_url: str,
    realm: str,
    operations: OperationFilter | None = None,
    limited: bool = False,
) -> Document:
    """The exported OpenAPI 3 document (same minor version as `doc`; `doc` is not changed).
    `limited`: the offering has rate limits or quotas (its operations may answer 429)."""
    result = copy.deepcopy(doc)
    wanted = operations or OperationFilter()
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    for location in locations:
        schemes[location.scheme] = _describe(location, realm)

    responses = result["components"].setdefault("responses", {})
    named: dict[tuple[str, tuple[str, ...]], str] = {}

    def reference(status: str, codes: tuple[str, ...]) -> dict[str, str]:
        """One shared response per status and set of codes: the common sets keep their names."""
        name = named.get((status, codes))
        if name is None:
            base, common = _SHARED[status]
            # The common set under the plain name; one with more codes says which in its name.
            extra = [code for code in codes if code not in common]
            name = named[status, codes] = unique_name("_".join([base, *extra]), responses)
            if status == "401":
                responses[name] = _unauthorized(realm, locations, codes)
            elif status == "403":
                responses[name] = _error("The key may not call this operation.", codes)
            else:
                responses[name] = _error(
                    "Too many requests for this key or acquisition, or too many unknown keys "
                    "from this client; retry after Retry-After seconds.",
                    codes,
                )
        return {"$ref": f"#/components/responses/{name}"}

    for path, method, operation in list(iter_operations(result)):
        if not wanted.includes(operation):
            del result["paths"][path][method]
            continue
        requirements = operation_requirements(doc, operation, locations)
        operation["security"] = requirements
        refusals = refusal_codes(requirements, locations, method, limited=limited)
        for status, codes in refusals.items():
            operation.setdefault("responses", {})[status] = reference(status, codes)
    result.pop("security", None)
    result["paths"] = {
        path: item
        for path, item in result.get("paths", {}).items()
        if not isinstance(item, dict) or any(m in item for m in HTTP_METHODS)
    }
    result["servers"] = [{"url": server_url, "description": f"keyward gateway for {realm}"}]
    return result


def export_as(
    doc: Document,
    locations: list[KeyLocation],
    *,
    version: str,
    server_url: str,
    realm: str,
    operations: OperationFilter | None = None,
    strict: bool = False,
    limited: bool = False,
) -> Conversion:
    """The export in OpenAPI `version`, "3.0" or "2.0", and what that version could not say.

    A 3.1 spec is exported as 3.0. What a version cannot express is dropped with a warning,
    listed in the document's `x-keyward-warnings` too, or refused with `strict`; a refusal (a
    cookie key in 2.0) raises `ConversionError` with its problems.
    """
    document = export_document(
        doc,
        locations,
        server_url=server_url,
        realm=realm,
        operations=operations,
        limited=limited,
    )
    warnings: list[ConversionWarning] = []
    if str(document.get("openapi", "")).startswith("3.1"):
        converted = to_openapi30(document, strict=strict)
        document, warnings = converted.document, list(converted.warnings)
    if version == "2.0":
        converted = to_swagger2(document, strict=strict)
        document = converted.document
        warnings += converted.warnings
    if warnings:
        document["x-keyward-warnings"] = [warning.to_dict() for warning in warnings]
    return Conversion(document, tuple(warnings))
