"""The rules for provider APIs: import, update, versions (immutable), key policy.

A spec is checked whole before anything is stored; a refused upload leaves nothing behind. An
update adds a version and reports which operations were added, removed or changed, and every
version which operations are public; a version that weakens an existing operation's security
needs the uploader's confirmation. The key policy follows the spec's apiKey schemes from
version to version.
"""

from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput, NotFound, TooLarge
from keyward.core.ids import new_id, quote
from keyward.core.openapi import Document
from keyward.core.openapi.diff import diff
from keyward.core.openapi.documents import iter_operations
from keyward.core.openapi.export import base_path
from keyward.core.openapi.intake import Spec, read_spec
from keyward.core.openapi.operations import operations
from keyward.core.openapi.problems import SpecError
from keyward.core.openapi.security import (
    KeyLocation,
    KeyRole,
    Location,
    api_key_schemes,
    default_locations,
    policy_problems,
    rebind,
)
from keyward.core.openapi.validation import OverBudget
from keyward.core.ownership import Resource, holds, sees
from keyward.core.routing import (
    compile_routes,
    mounts_nest,
    public_operations,
    weakened_by_policy,
    weakened_operations,
)
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Api, ApiVersion
from keyward.db.rights import PROVIDER, standings
from keyward.domains import access, egress
from keyward.domains.apis import repository
from keyward.domains.apis.schemas import (
    ApiImport,
    ApiImported,
    ApiOut,
    ApiUpdate,
    ApiVersionOut,
    KeyLocationOut,
    KeyPolicy,
    KeyPolicyOut,
    OperationChanges,
    OperationNames,
    SpecUpload,
)
from keyward.domains.audit import service as audit
from keyward.domains.connectors.updates import announce_version, reexport
from keyward.domains.keys import service as keys
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.settings import Settings

_durations = TypeAdapter(timedelta)


def _iso(value: timedelta | None) -> str | None:
    return None if value is None else str(_durations.dump_python(value, mode="json"))


def _duration(value: str | None) -> timedelta | None:
    return None if value is None else _durations.validate_python(value)


def policy_lifetime(api: Api) -> timedelta | None:
    """How long new keys of this API live; None: they never expire."""
    return _duration(api.key_lifetime)


def stored_locations(api: Api) -> list[KeyLocation]:
    return [
        KeyLocation(
            loc["scheme"],
            Location(loc["in"]),
            loc["name"],
            KeyRole(loc["role"]),
            synthetic=bool(loc.get("synthetic")),
        )
        for loc in api.key_locations
    ]


def _store_locations(locations: list[KeyLocation]) -> list[dict[str, Any]]:
    return [
        {
            "scheme": loc.scheme,
            "in": loc.location.value,
            "name": loc.name,
            "role": loc.role.value,
            "synthetic": loc.synthetic,
        }
        for loc in locations
    ]


def _policy_out(uow: UnitOfWork, api: Api) -> KeyPolicyOut:
    return KeyPolicyOut(
        key_locations=[KeyLocationOut.model_validate(loc) for loc in api.key_locations],
        key_lifetime=_duration(api.key_lifetime),
        max_rotation_grace=_duration(api.max_rotation_grace),
        renewal_requires_approval=api.renewal_requires_approval,
        revocation_requires_approval=api.revocation_requires_approval,
        issuance_requires_approval=api.issuance_requires_approval,
        approvers=repository.approvers(uow.session, api.id),
    )


def gateway_url(api: Api, settings: Settings) -> str:
    return f"{settings.gateway_url.rstrip('/')}/{api.mount_path}{api.base_path}"


def _out(uow: UnitOfWork, api: Api, settings: Settings, *, provider_view: bool) -> ApiOut:
    """The API as shown; its upstream only to whoever may update the API (`provider_view`):
    acquirers call it through the gateway."""
    return ApiOut(
        id=api.id,
        name=api.name,
        description=api.description,
        provider_organization_id=api.provider_organization_id,
        upstream_url=api.upstream_url if provider_view else None,
        mount_path=api.mount_path,
        gateway_url=gateway_url(api, settings),
        allowed_origins=api.allowed_origins or [],
        current_version=api.current_version,
        policy=_policy_out(uow, api),
        created_at=api.created_at,
        updated_at=api.updated_at,
    )


def _version_out(version: ApiVersion, api: Api) -> ApiVersionOut:
    public = version.public_operations
    if public is None:  # stored before it was recorded: as the current policy reads it
        public = public_operations(compile_routes(version.normalized, stored_locations(api)))
    return ApiVersionOut(
        id=version.id,
        api_id=version.api_id,
        number=version.number,
        source_version=version.source_version,
        media_type=version.media_type,
        operation_count=version.operation_count,
        changes=OperationChanges.model_validate(version.changes),
        public_operations=public,
        created_by=version.created_by,
        created_at=version.created_at,
    )


def find_api(uow: UnitOfWork, actor: Actor, api_id: str, action: str = "read") -> Api:
    """The API, if the actor may `action` it."""
    return access.find(uow, actor, access.APIS, api_id, action)


def api_of(uow: UnitOfWork, workspace_id: str, api_id: str) -> Api:
    """The API behind something the caller may already act on (an offering, an
    acquisition): no right to the API itself is needed."""
    api = access.get(uow, access.APIS, workspace_id, api_id)
    if api is None:
        raise NotFound(f"No API {quote(api_id)} in this workspace.", code="api_not_found")
    return api


def current_document(uow: UnitOfWork, api: Api) -> Document:
    return document_of(uow, api, api.current_version)


def document_of(uow: UnitOfWork, api: Api, number: int) -> Document:
    """The normalised spec of one version of the API."""
    version = repository.version(uow.session, api.id, number)
    if version is None:
        raise NotFound(f"API {api.id} has no version {number}.", code="api_version_not_found")
    return version.normalized


def _read(spec_text: str, settings: Settings) -> Spec:
    raw = spec_text.encode("utf-8", "surrogatepass")
    try:
        return read_spec(raw, max_bytes=settings.max_spec_bytes, budget=settings.spec_check_seconds)
    except OverBudget:
        raise InvalidInput(
            f"Checking the spec took longer than the budget of {settings.spec_check_seconds:g} s "
            "(KEYWARD_SPEC_CHECK_SECONDS); nothing was stored. Split the API into smaller "
            "ones, or ask the operator for a larger budget.",
            code="spec_too_costly",
            details={"budget_seconds": settings.spec_check_seconds},
        ) from None
    except SpecError as error:
        problems = [
            {"pointer": p.pointer, "message": p.message, "code": p.code} for p in error.problems
        ]
        if error.too_large:
            raise TooLarge(
                f"The spec is larger than the limit of {settings.max_spec_bytes} bytes.",
                code="spec_too_large",
                details={"limit": settings.max_spec_bytes},
            ) from None
        raise InvalidInput(
            f"The spec has {len(problems)} problem(s); nothing was stored. "
            "See details.problems, each with a JSON pointer into the document.",
            code="invalid_spec",
            details={"problems": problems},
        ) from None


def check_spec(spec_text: str, settings: Settings) -> None:
    """Refuse `spec_text` as importing it would (`invalid_spec` with every problem and its JSON
    pointer, `spec_too_large`, `spec_too_costly`), storing nothing."""
    _read(spec_text, settings)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _check_name_free(uow: UnitOfWork, actor: Actor, name: str) -> None:
    if repository.by_name(uow.session, actor.workspace_id, name):
        raise Conflict(f"An API named {name!r} already exists.", code="api_exists")


def _check_mount(uow: UnitOfWork, mount_path: str, *, but: str | None = None) -> None:
    """No API's mount may equal, contain or lie inside another's, in any workspace: so no
    public prefix (mount and base path) does either, and every path is one API's."""
    if any(mounts_nest(mount_path, other) for other in repository.mounts(uow.session, but=but)):
        raise Conflict(
            f"The mount path {mount_path!r} equals, contains or lies inside another API's; "
            "choose another.",
            code="mount_conflict",
            details={"mount_path": mount_path},
        )


def _check_upstream(url: str, settings: Settings) -> None:
    """An upstream is an address the gateway may reach: private ones are, loopback and
    link-local ones only where the operator allows them (`KEYWARD_UPSTREAM_ALLOW`)."""
    egress.check_destination(url, egress.upstream_policy(settings), plain_http=True)


def _owner(uow: UnitOfWork, actor: Actor, organization_id: str | None) -> str | None:
    """The provider organization an API is published for, which the actor must be allowed to
    publish for. Left out: the actor's one provider organization; none, for an admin."""
    if organization_id is None:
        own = actor.standing.provider_organizations
        if len(own) == 1:
            (organization_id,) = own
        elif actor.standing.is_admin:
            return None
        else:
            raise InvalidInput(
                "Name the provider organization the API belongs to (provider_organization_id).",
                code="provider_organization_required",
            )
    wanted = organization_id

    def unknown() -> InvalidInput:
        return InvalidInput(
            f"No organization {quote(wanted)} in this workspace.", code="organization_not_found"
        )

    organization = repository.organization(uow.session, actor.workspace_id, organization_id)
    if organization is None or not sees(actor.standing, access.resource_of(uow, organization)):
        raise unknown()
    if organization.kind != PROVIDER:
        raise InvalidInput(
            f"{organization.name!r} is an acquirer organization; APIs belong to provider "
            "organizations.",
            code="organization_not_provider",
        )
    access.check(
        actor, Resource("apis", providers=frozenset({organization.id})), "create", hidden=unknown
    )
    return organization.id


def _new_version(
    uow: UnitOfWork,
    actor: Actor,
    api: Api,
    spec: Spec,
    original: bytes,
    changes: dict[str, list[str]],
    public: list[str],
    operation_count: int,
) -> ApiVersion:
    version = ApiVersion(
        id=new_id("ver"),
        workspace_id=api.workspace_id,
        api_id=api.id,
        number=api.current_version,
        source_version=spec.source_version,
        media_type=spec.media_type,
        original=original,
        normalized=spec.normalized,
        operation_count=operation_count,
        changes=changes,
        public_operations=public,
        created_by=actor.member_id,
        created_at=uow.clock.now(),
    )
    repository.add(uow.session, version)
    return version


def import_api(uow: UnitOfWork, actor: Actor, body: ApiImport, settings: Settings) -> ApiImported:
    """Import an API from its spec: version 1, with the default key policy."""
    access.gate(actor, "apis", "create")
    owner = _owner(uow, actor, body.provider_organization_id)
    _check_upstream(str(body.upstream_url), settings)
    spec = _read(body.spec, settings)
    _check_name_free(uow, actor, body.name)
    _check_mount(uow, body.mount_path)
    now = uow.clock.now()
    api = Api(
        id=new_id("api"),
        workspace_id=actor.workspace_id,
        name=body.name,
        description=body.description,
        provider_organization_id=owner,
        upstream_url=str(body.upstream_url),
        mount_path=body.mount_path,
        base_path=base_path(spec.normalized),
        current_version=1,
        key_locations=_store_locations(default_locations(spec.normalized)),
        key_lifetime=None,
        max_rotation_grace=None,
        renewal_requires_approval=False,
        revocation_requires_approval=False,
        issuance_requires_approval=False,
        allowed_origins=_unique(body.allowed_origins),
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, api)
    added = sorted(f"{o.method.upper()} {o.path}" for o in operations(spec.normalized))
    routes = compile_routes(spec.normalized, stored_locations(api))
    version = _new_version(
        uow,
        actor,
        api,
        spec,
        body.spec.encode("utf-8", "surrogatepass"),
        {"added": added, "removed": [], "changed": []},
        public_operations(routes),
        len(added),
    )
    uow.record_change(Change(api.workspace_id, Entity.API, api.id))
    audit.record(
        uow,
        actor,
        "api.create",
        target_type="api",
        target_id=api.id,
        details={
            "name": api.name,
            "mount_path": api.mount_path,
            "source_version": spec.source_version,
            "operations": version.operation_count,
            "public_operations": version.public_operations,
        },
    )
    return ApiImported(
        **_out(uow, api, settings, provider_view=True).model_dump(),
        version=_version_out(version, api),
    )


def add_version(
    uow: UnitOfWork, actor: Actor, api_id: str, body: SpecUpload, settings: Settings
) -> ApiVersionOut:
    """Store a new immutable version and report what changed; the key policy follows along.

    A version that lets existing operations through with less security is stored only when
    the upload confirms it (`confirm_weaker_security`), else `409 security_weakened`."""
    api = find_api(uow, actor, api_id, "update")
    spec = _read(body.spec, settings)
    current = current_document(uow, api)
    changes = diff(current, spec.normalized)
    locations = rebind(stored_locations(api), spec.normalized)
    routes = compile_routes(spec.normalized, locations)
    weakened = weakened_operations(compile_routes(current, stored_locations(api)), routes)
    if weakened and not body.confirm_weaker_security:
        raise Conflict(
            f"This version lets {len(weakened)} existing operation(s) through with less "
            "security (public now, a scheme removed or an alternative added); nothing was "
            "stored. Upload it again with confirm_weaker_security if that is intended.",
            code="security_weakened",
            details={"operations": weakened},
        )
    api.current_version += 1
    api.base_path = base_path(spec.normalized)
    api.key_locations = _store_locations(locations)
    api.updated_at = uow.clock.now()
    version = _new_version(
        uow,
        actor,
        api,
        spec,
        body.spec.encode("utf-8", "surrogatepass"),
        {
            "added": list(changes.added),
            "removed": list(changes.removed),
            "changed": list(changes.changed),
            "weakened": weakened,
        },
        public_operations(routes),
        len(operations(spec.normalized)),
    )
    uow.record_change(Change(api.workspace_id, Entity.API, api.id))
    announce_version(uow, api.workspace_id, api.id, version.number, version.changes)
    audit.record(
        uow,
        actor,
        "api.version.create",
        target_type="api",
        target_id=api.id,
        details={
            "number": version.number,
            **version.changes,
            "public_operations": version.public_operations,
        },
    )
    return _version_out(version, api)


def get_api(uow: UnitOfWork, actor: Actor, api_id: str, settings: Settings) -> ApiOut:
    api = find_api(uow, actor, api_id)
    provider_view = bool(repository.among(uow.session, [api.id], _updatable(actor)))
    return _out(uow, api, settings, provider_view=provider_view)


def _updatable(actor: Actor) -> ColumnElement[bool]:
    return access.visible(actor, access.APIS, "update")


def list_apis(
    uow: UnitOfWork, actor: Actor, page: PageRequest, settings: Settings, *, action: str = "read"
) -> Page[ApiOut]:
    """The APIs the actor may `action` (`read`: see; `update`: those it provides), newest
    first."""
    access.gate(actor, "apis", action)
    rows = repository.list_apis(
        uow.session, actor.workspace_id, page, visible=access.visible(actor, access.APIS, action)
    )
    kept, cursor = split_page(rows, page, lambda a: a.id)
    updatable = repository.among(uow.session, [a.id for a in kept], _updatable(actor))
    return Page[ApiOut](
        data=[_out(uow, a, settings, provider_view=a.id in updatable) for a in kept],
        next_cursor=cursor,
    )


def update_api(
    uow: UnitOfWork, actor: Actor, api_id: str, body: ApiUpdate, settings: Settings
) -> ApiOut:
    api = find_api(uow, actor, api_id, "update")
    changed: dict[str, Any] = {}
    if body.name is not None and body.name != api.name:
        _check_name_free(uow, actor, body.name)
        changed["name"] = body.name
    if body.mount_path is not None and body.mount_path != api.mount_path:
        _check_mount(uow, body.mount_path, but=api.id)
        changed["mount_path"] = body.mount_path
    if body.upstream_url is not None and str(body.upstream_url) != api.upstream_url:
        _check_upstream(str(body.upstream_url), settings)
        changed["upstream_url"] = str(body.upstream_url)
    if body.description is not None and body.description != api.description:
        changed["description"] = body.description
    if body.allowed_origins is not None:
        origins = _unique(body.allowed_origins)
        if origins != (api.allowed_origins or []):
            changed["allowed_origins"] = origins
    if (
        "provider_organization_id" in body.model_fields_set
        and body.provider_organization_id != api.provider_organization_id
    ):
        if body.provider_organization_id is None and not actor.standing.is_admin:
            raise InvalidInput(
                "Only a workspace admin may leave an API without a provider organization.",
                code="provider_organization_required",
            )
        changed["provider_organization_id"] = (
            _owner(uow, actor, body.provider_organization_id)
            if body.provider_organization_id is not None
            else None
        )
    if changed:
        for field, value in changed.items():
            setattr(api, field, value)
        api.updated_at = uow.clock.now()
        uow.session.flush()
        uow.record_change(Change(api.workspace_id, Entity.API, api.id))
        audit.record(uow, actor, "api.update", target_type="api", target_id=api.id, details=changed)
    return _out(uow, api, settings, provider_view=True)


def delete_api(uow: UnitOfWork, actor: Actor, api_id: str) -> None:
    api = find_api(uow, actor, api_id, "delete")
    if repository.has_offerings(uow.session, api.id):
        raise Conflict("The API still has offerings; delete them first.", code="api_has_offerings")
    repository.delete(uow.session, api)
    uow.record_change(Change(api.workspace_id, Entity.API, api.id))
    audit.record(
        uow, actor, "api.delete", target_type="api", target_id=api.id, details={"name": api.name}
    )


def list_versions(
    uow: UnitOfWork, actor: Actor, api_id: str, page: PageRequest
) -> Page[ApiVersionOut]:
    api = find_api(uow, actor, api_id)
    rows = repository.list_versions(uow.session, api.id, page)
    kept, cursor = split_page(rows, page, lambda v: v.id)
    return Page[ApiVersionOut](data=[_version_out(v, api) for v in kept], next_cursor=cursor)


def get_policy(uow: UnitOfWork, actor: Actor, api_id: str) -> KeyPolicyOut:
    return _policy_out(uow, find_api(uow, actor, api_id))


def approver_candidates(uow: UnitOfWork, actor: Actor, member_ids: list[str]) -> set[str]:
    """Those of `member_ids` a key policy may name as approvers: active members of the
    actor's workspace holding `keys:approve`."""
    return _may_approve(uow, actor.workspace_id, member_ids)


def _may_approve(uow: UnitOfWork, workspace_id: str, member_ids: list[str]) -> set[str]:
    active = repository.active_members(uow.session, workspace_id, member_ids)
    rights = standings(uow.session, active)
    return {member_id for member_id, held in rights.items() if holds(held, "keys", "approve")}


def operation_names(uow: UnitOfWork, actor: Actor, api_id: str) -> OperationNames:
    """The tags and operationIds of the API's current version, sorted: what an offering of
    it may select. Only for whoever may update the API."""
    api = find_api(uow, actor, api_id, "update")
    tags: set[str] = set()
    ids: set[str] = set()
    for _, _, operation in iter_operations(current_document(uow, api)):
        tags.update(str(tag) for tag in operation.get("tags") or ())
        if operation.get("operationId"):
            ids.add(str(operation["operationId"]))
    return OperationNames(tags=sorted(tags), operation_ids=sorted(ids))


def _check_approvers(uow: UnitOfWork, api: Api, wanted: list[str]) -> None:
    """Approvers are active members of the workspace who may approve key requests."""
    refused = sorted(set(wanted) - _may_approve(uow, api.workspace_id, wanted))
    if refused:
        raise InvalidInput(
            "Approvers must be active members of the workspace holding keys:approve (the "
            f"approver role): {', '.join(refused)} is not.",
            code="invalid_approvers",
            details={"member_ids": refused},
        )


def set_policy(uow: UnitOfWork, actor: Actor, api_id: str, body: KeyPolicy) -> KeyPolicyOut:
    """Replace the key policy. Existing keys keep their expiry unless the provider applies the
    new lifetime to them."""
    api = find_api(uow, actor, api_id, "update")
    document = current_document(uow, api)
    # Without apiKey schemes in the spec, the one location is keyward's own scheme.
    synthetic = not api_key_schemes(document)
    locations = [
        KeyLocation(loc.scheme, loc.location, loc.name, loc.role, synthetic)
        for loc in body.key_locations
    ]
    problems = policy_problems(locations, document)
    if problems:
        raise InvalidInput(
            "The key policy does not fit the API's spec: " + "; ".join(problems) + ".",
            code="invalid_policy",
            details={"problems": problems},
        )
    weakened = weakened_by_policy(
        compile_routes(document, stored_locations(api)), compile_routes(document, locations)
    )
    if weakened and not body.confirm_weaker_security:
        raise Conflict(
            f"This policy checks {len(weakened)} operation(s) less than the current one (a "
            "credential no longer verified as a key, or no longer checked); nothing was "
            "changed. Send it again with confirm_weaker_security if that is intended.",
            code="security_weakened",
            details={"operations": weakened},
        )
    moved = api.key_locations != _store_locations(locations)
    api.key_locations = _store_locations(locations)
    api.key_lifetime = _iso(body.key_lifetime)
    api.max_rotation_grace = _iso(body.max_rotation_grace)
    api.renewal_requires_approval = body.renewal_requires_approval
    api.revocation_requires_approval = body.revocation_requires_approval
    api.issuance_requires_approval = (
        body.renewal_requires_approval
        if body.issuance_requires_approval is None
        else body.issuance_requires_approval
    )
    if body.approvers is not None:
        _check_approvers(uow, api, body.approvers)
        repository.set_approvers(uow.session, api, body.approvers)
    api.updated_at = uow.clock.now()
    uow.session.flush()
    uow.record_change(Change(api.workspace_id, Entity.API, api.id))
    if moved:  # connectors deliver a spec that says where the key goes
        reexport(uow, api.workspace_id, api.id, api.current_version)
    policy = _policy_out(uow, api)
    applied = (
        keys.apply_lifetime(uow, api, body.key_lifetime)
        if body.apply_lifetime_to_existing_keys
        else None
    )
    audit.record(
        uow,
        actor,
        "api.policy.update",
        target_type="api",
        target_id=api.id,
        details={**policy.model_dump(mode="json"), "keys_given_new_lifetime": applied},
    )
    return policy
