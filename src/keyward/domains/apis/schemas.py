"""APIs, their versions and key policy as the API takes and shows them."""

from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StrictBool,
    StringConstraints,
)

from keyward.core.openapi.security import KeyRole, Location
from keyward.core.routing import RESERVED_SEGMENTS
from keyward.domains.fields import Description, Duration, Id, Input, Name, Output, Patch
from keyward.domains.gateways.schemas import Enforcement


def _without_leading_slash(value: object) -> object:
    return value.removeprefix("/") if isinstance(value, str) else value


def _not_reserved(value: str) -> str:
    if value.split("/", 1)[0] in RESERVED_SEGMENTS:
        raise ValueError(
            f"must not begin with {value.split('/', 1)[0]!r}, which the gateway keeps for itself"
        )
    return value


MountPath = Annotated[
    str,
    BeforeValidator(_without_leading_slash),
    StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,62}(/[a-z0-9][a-z0-9._-]{0,62}){0,3}$", max_length=200
    ),
    AfterValidator(_not_reserved),
    Field(
        description="Where the gateway serves the API: http://<gateway>/<mount_path>/... "
        "(a leading / is dropped). It may not equal, contain or lie inside another API's."
    ),
]
MAX_APPROVERS = 50
MAX_ALLOWED_ORIGINS = 50
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> str:
    """An origin as browsers send it: scheme://host[:port], lower-case, no default port."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("must be an origin such as https://app.example.com") from None
    scheme = parts.scheme.lower()
    if (
        scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or value.endswith(("?", "#"))
    ):
        raise ValueError(
            "must be an origin: http:// or https://, a host and an optional port, no path "
            "(such as https://app.example.com)"
        )
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + ("" if port in (None, _DEFAULT_PORTS[scheme]) else f":{port}")


AllowedOrigin = Annotated[str, StringConstraints(max_length=300), AfterValidator(_origin)]
AllowedOrigins = Annotated[
    list[AllowedOrigin],
    Field(
        max_length=MAX_ALLOWED_ORIGINS,
        description="Sites (origins such as https://app.example.com) whose pages may send "
        "state-changing requests carrying a key in a cookie; the gateway refuses such requests "
        "from any other site (403 cross_site_request). Same-origin requests always pass.",
    ),
]
SchemeName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ParameterName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$")]


class ApiImport(Input):
    name: Name
    description: Description = ""
    upstream_url: HttpUrl = Field(description="Where the gateway forwards requests.")
    mount_path: MountPath
    provider_organization_id: Id | None = None
    allowed_origins: AllowedOrigins = Field(default_factory=list)
    spec: str = Field(description="The OpenAPI 2.0, 3.0 or 3.1 document, as JSON or YAML text.")


class ApiUpdate(Patch):
    name: Name | None = None
    description: Description | None = None
    upstream_url: HttpUrl | None = None
    mount_path: MountPath | None = None
    provider_organization_id: Id | None = None
    allowed_origins: AllowedOrigins | None = None


class SpecUpload(Input):
    spec: str = Field(description="The new OpenAPI document, as JSON or YAML text.")
    confirm_weaker_security: bool = Field(
        default=False,
        description="Store the version even though it lets some existing operations through "
        "with less (public now, a scheme removed, an alternative added); without it such a "
        "version is refused with 409 security_weakened naming them.",
    )


class KeyLocationPolicy(Input):
    """One place a credential travels: a security scheme of the spec and its role."""

    scheme: SchemeName
    location: Location = Field(alias="in")
    name: ParameterName
    role: KeyRole

    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)


class KeyLocationOut(KeyLocationPolicy):
    synthetic: bool = Field(
        description="Keyward's own scheme, for a spec without apiKey schemes of its own."
    )

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True, from_attributes=True)


class KeyPolicy(Input):
    key_locations: Annotated[list[KeyLocationPolicy], Field(min_length=1, max_length=20)]
    key_lifetime: Duration | None = Field(
        default=None, description="How long new keys live (ISO-8601); null: they never expire."
    )
    max_rotation_grace: Duration | None = Field(
        default=None,
        description="Longest grace an old secret keeps after a rotation; null: P7D.",
    )
    renewal_requires_approval: StrictBool = False
    revocation_requires_approval: StrictBool = False
    issuance_requires_approval: StrictBool | None = Field(
        default=None,
        description="Whether a new key of an acquisition waits for an approver; left out: as "
        "renewal_requires_approval, so that a renewal refused cannot be had as a new key.",
    )
    approvers: Annotated[list[Id], Field(max_length=MAX_APPROVERS)] | None = Field(
        default=None,
        description="Members who decide this API's key requests (they need `keys:approve`); "
        "left out: the current ones stay. Workspace admins decide too.",
    )
    apply_lifetime_to_existing_keys: StrictBool = Field(
        default=False,
        description="Give the API's keys in use the new lifetime from now, as if renewed; "
        "otherwise they keep their expiry. Expired and revoked keys are left alone.",
    )
    confirm_weaker_security: StrictBool = Field(
        default=False,
        description="Set it even if operations are then checked less (a credential no longer "
        "verified as a key, or no longer checked); otherwise 409 security_weakened names them.",
    )


class KeyPolicyOut(Output):
    key_locations: list[KeyLocationOut]
    key_lifetime: timedelta | None
    max_rotation_grace: timedelta | None
    renewal_requires_approval: bool
    revocation_requires_approval: bool
    issuance_requires_approval: bool
    approvers: list[str]


class OperationChanges(Output):
    added: list[str]
    removed: list[str]
    changed: list[str]
    weakened: list[str] = Field(
        default=[],
        description="Changed operations this version lets through with less security, "
        "confirmed with confirm_weaker_security.",
    )


class OperationNames(Output):
    """What an offering of an API may select: the tags and operationIds of its current spec."""

    tags: list[str]
    operation_ids: list[str]


class ApiVersionOut(Output):
    id: str
    api_id: str
    number: int
    source_version: str
    media_type: str
    operation_count: int
    changes: OperationChanges
    public_operations: list[str] = Field(
        description="Operations anyone may call through the gateway without a key "
        "(`security: []` or an empty alternative `{}`)."
    )
    created_by: str | None
    created_at: datetime


class ApiOut(Output):
    id: str
    name: str
    description: str
    provider_organization_id: str | None
    upstream_url: str | None = Field(
        description="Where the gateway forwards requests; shown only to those who may update "
        "the API."
    )
    mount_path: str
    gateway_url: str = Field(description="Where acquirers call this API through the gateway.")
    allowed_origins: list[str]
    current_version: int
    policy: KeyPolicyOut
    created_at: datetime
    updated_at: datetime


class ApiImported(ApiOut):
    version: ApiVersionOut


class KeyPolicyChanged(KeyPolicyOut):
    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the new policy before this answer."
    )
