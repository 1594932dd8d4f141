"""Who may act on what: the ownership rule, over plain data, for every entry point.

Everything in a workspace has an owner. An API (its versions, key policy and offerings) belongs to
a provider organization; an acquisition (its keys and connectors) to an acquirer organization,
and is also the business of the provider whose API it acquires; an account key belongs to the
member who created it; a member and an organization are the business of the organizations they
are or belong to.

A member's rights come as grants, each with a reach:

- `workspace`: everything in the workspace (admins, auditors, the catalog acquirers choose from,
  and permissions granted to the member directly, which only a workspace-wide granter can give);
- `provider`: what the member's provider organizations own (the provider role);
- `acquirer`: what the member's acquirer organizations own (the acquirer role);
- `approver`: the keys and key requests of the APIs whose key policy names the member an
  approver (the approver role).

A right applies to a resource when a grant holding it reaches the resource, or when the resource
is the member's own. A key narrows each of its creator's grants to its own permissions and never
widens a reach. Above rights stand two rules: the secret of an acquisition's key goes only to
members of the acquisition's organization, and an account key's only to its owner; and a member
changes another member, or another member's key, only while holding every right that member
holds.

Lists follow the same rule through `audience`: the scopes through which a standing reaches a
kind of resource, which storage turns into one filter per scope.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from keyward.core.permissions import (
    CATALOG,
    EMPTY,
    WILDCARD,
    PermissionSet,
)


class Reach(StrEnum):
    WORKSPACE = "workspace"
    PROVIDER = "provider"
    ACQUIRER = "acquirer"
    APPROVER = "approver"


@dataclass(frozen=True, slots=True)
class Grant:
    """Rights that apply to what `reach` covers."""

    rights: PermissionSet
    reach: Reach


def _grant(reach: Reach, *permissions: str) -> Grant:
    return Grant(PermissionSet.parse(permissions), reach)


ROLES: dict[str, tuple[Grant, ...]] = {
    "admin": (_grant(Reach.WORKSPACE, "*:*"),),
    "auditor": (_grant(Reach.WORKSPACE, "*:read"),),
    "provider": (
        _grant(
            Reach.PROVIDER,
            "apis:*",
            "offerings:*",
            "acquisitions:read",
            "organizations:read",
            "members:read",
            "keys:read",
            "keys:create",
            "keys:revoke",
            "keys:delete",
            "keys:verify",
        ),
    ),
    "acquirer": (
        # The catalog: what the workspace offers, to choose what to acquire.
        _grant(Reach.WORKSPACE, "apis:read", "offerings:read"),
        _grant(
            Reach.ACQUIRER,
            "acquisitions:*",
            "connectors:*",
            "organizations:read",
            "keys:read",
            "keys:create",
            "keys:update",
            "keys:revoke",
            "keys:delete",
            "keys:renew",
            "keys:rotate",
        ),
    ),
    # `keys:create` with no reach of its own: approvers make account keys for themselves.
    "approver": (_grant(Reach.APPROVER, "keys:read", "keys:approve", "keys:create", "apis:read"),),
}


class UnknownRole(ValueError):
    """A role name that is not one of `ROLES`."""


def role_permissions(names: Iterable[str]) -> PermissionSet:
    """Every right the roles hold somewhere, whatever their reach."""
    result = EMPTY
    for name in names:
        if name not in ROLES:
            raise UnknownRole(f"unknown role {name!r}; known roles: {', '.join(sorted(ROLES))}")
        for grant in ROLES[name]:
            result = result.union(grant.rights)
    return result


@dataclass(frozen=True, slots=True)
class Standing:
    """Who a caller is to the ownership rule: their grants and their organizations."""

    member_id: str | None
    grants: tuple[Grant, ...]
    provider_organizations: frozenset[str] = frozenset()
    acquirer_organizations: frozenset[str] = frozenset()
    rights: PermissionSet = field(init=False, compare=False)
    """Every right held somewhere: what a key may be given, what refusals are measured by."""

    def __post_init__(self) -> None:
        rights = EMPTY
        for grant in self.grants:
            rights = rights.union(grant.rights)
        object.__setattr__(self, "rights", rights)

    def narrowed(self, permissions: PermissionSet) -> "Standing":
        """What a key holding `permissions` may do for this member: each grant ∩ the key's
        permissions, with the grant's reach."""
        grants = (Grant(g.rights.intersection(permissions), g.reach) for g in self.grants)
        return replace(self, grants=tuple(g for g in grants if len(g.rights)))

    @property
    def workspace_rights(self) -> PermissionSet:
        result = EMPTY
        for grant in self.grants:
            if grant.reach is Reach.WORKSPACE:
                result = result.union(grant.rights)
        return result

    @property
    def is_admin(self) -> bool:
        """Whether it may do anything anywhere in the workspace."""
        return self.workspace_rights.allows(WILDCARD, WILDCARD)


NOBODY = Standing(None, ())
SYSTEM = Standing(None, (_grant(Reach.WORKSPACE, "*:*"),))
"""keyward itself, setting up a workspace."""


def standing_of(
    member_id: str,
    direct: Iterable[str],
    roles: Iterable[str],
    provider_organizations: Iterable[str] = (),
    acquirer_organizations: Iterable[str] = (),
) -> Standing:
    """A member's standing from what storage holds. Fails closed: a stored permission or role
    this version does not know grants nothing."""
    grants = [Grant(PermissionSet.parse_stored(direct), Reach.WORKSPACE)]
    for role in sorted(set(roles)):
        grants.extend(ROLES.get(role, ()))
    return Standing(
        member_id,
        tuple(g for g in grants if len(g.rights)),
        frozenset(provider_organizations),
        frozenset(acquirer_organizations),
    )


@dataclass(frozen=True, slots=True)
class Resource:
    """Something acted on, with whoever it belongs to.

    `kind` is a resource of the permission catalog (`keys`, `apis`, ...). `providers` and
    `acquirers` are the organizations it belongs to on either side, `approvers` the members its
    API's policy names, `owner` the member it belongs to (an account key, a member), and
    `owner_rights` that member's rights, which another member must hold to change it.
    """

    kind: str
    id: str | None = None
    providers: frozenset[str] = frozenset()
    acquirers: frozenset[str] = frozenset()
    api_id: str | None = None
    approvers: frozenset[str] = frozenset()
    owner: str | None = None
    owner_rights: PermissionSet | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """One way a standing reaches resources of a kind for an action: through `reach` (None:
    the member's own resources), restricted to `ids` when the right is bound to resources."""

    reach: Reach | None
    ids: frozenset[str] | None = None


def _bound_ids(rights: PermissionSet, kind: str, action: str) -> frozenset[str] | None:
    """None when `rights` allow `kind:action` on every resource, else the ids they allow it on
    (empty: none)."""
    ids: set[str] = set()
    for permission in rights:
        if permission.resource in (WILDCARD, kind) and permission.action in (WILDCARD, action):
            if permission.resource_id is None:
                return None
            ids.add(permission.resource_id)
    return frozenset(ids)


def holds(standing: Standing, kind: str, action: str) -> bool:
    """Whether the standing holds `kind:action` on anything at all."""
    return _bound_ids(standing.rights, kind, action) != frozenset()


def audience(standing: Standing, kind: str, action: str) -> tuple[Scope, ...]:
    """Every scope through which the standing may `action` resources of `kind`. For
    `approve`, bound ids name APIs (`keys:approve@<api id>`)."""
    scopes = []
    for grant in standing.grants:
        ids = _bound_ids(grant.rights, kind, action)
        if ids != frozenset():
            scopes.append(Scope(grant.reach, ids))
    if standing.member_id is not None:
        ids = _bound_ids(standing.rights, kind, action)
        if ids != frozenset():
            scopes.append(Scope(None, ids))
    return tuple(scopes)


def reaches(standing: Standing, reach: Reach | None, resource: Resource) -> bool:
    if reach is None:
        return resource.owner is not None and resource.owner == standing.member_id
    if reach is Reach.WORKSPACE:
        return True
    if reach is Reach.PROVIDER:
        return not resource.providers.isdisjoint(standing.provider_organizations)
    if reach is Reach.ACQUIRER:
        return not resource.acquirers.isdisjoint(standing.acquirer_organizations)
    return standing.member_id is not None and standing.member_id in resource.approvers


def permits(standing: Standing, resource: Resource, action: str) -> bool:
    """Whether the standing's rights let it `action` the resource (before the rules on
    secrets and on other members, see `decide`)."""
    subject = resource.api_id if action == "approve" else resource.id
    return any(
        (scope.ids is None or subject in scope.ids) and reaches(standing, scope.reach, resource)
        for scope in audience(standing, resource.kind, action)
    )


def sees(standing: Standing, resource: Resource) -> bool:
    """Whether the standing may do anything at all with the resource: what it may not see
    answers exactly like what does not exist."""
    return any(permits(standing, resource, action) for action in CATALOG[resource.kind])


def may_receive_secret(standing: Standing, resource: Resource) -> bool:
    """Only an account key's owner receives its secret, and only members of an acquisition's
    organization a secret of the acquisition's keys (`resource`: the key or the acquisition)."""
    if resource.owner is not None:
        return resource.owner == standing.member_id
    return not resource.acquirers.isdisjoint(standing.acquirer_organizations)


class Outcome(StrEnum):
    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    HIDDEN = "hidden"


@dataclass(frozen=True, slots=True)
class Decision:
    """Allowed; forbidden, with a stable code (the caller may see the resource, so it may be
    told why not); or hidden, answered exactly like a resource that does not exist."""

    outcome: Outcome
    code: str = ""
    missing: tuple[str, ...] = ()


ALLOWED = Decision(Outcome.ALLOWED)
HIDDEN = Decision(Outcome.HIDDEN)


def decide(
    standing: Standing, resource: Resource, action: str, *, receives_secret: bool = False
) -> Decision:
    """Whether the standing may `action` the resource. `receives_secret`: the action hands
    the caller a secret of the resource's keys (creating or rotating one)."""
    if not permits(standing, resource, action):
        if not sees(standing, resource):
            return HIDDEN
        return Decision(Outcome.FORBIDDEN, "permission_denied")
    if receives_secret and not may_receive_secret(standing, resource):
        code = "not_key_owner" if resource.owner is not None else "not_organization_member"
        return Decision(Outcome.FORBIDDEN, code)
    changes_another = resource.owner is not None and resource.owner != standing.member_id
    if action != "read" and changes_another and resource.owner_rights is not None:
        missing = standing.rights.missing(resource.owner_rights)
        if missing:
            return Decision(
                Outcome.FORBIDDEN, "permission_escalation", tuple(str(p) for p in missing)
            )
    return ALLOWED
