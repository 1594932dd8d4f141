"""The ownership rule where services meet storage: find what the caller may act on, or answer as
if it did not exist; check an action on something about to be made; keep lists to what the
caller may see.

Every lookup of a resource by id goes through `find`. A caller holding the right nowhere is told
so (403) before anything is read; a resource it may not see is answered exactly like one that
does not exist (404, audited as the refusal it is); a resource it may see but not act on is
refused with a code that says why (403).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement

from keyward.core.actors import Actor
from keyward.core.errors import Hidden, KeywardError, NotFound, PermissionDenied
from keyward.core.ids import is_id, looks_like_id, quote
from keyward.core.ownership import Outcome, Resource, audience, decide, holds
from keyward.db.engine import UnitOfWork
from keyward.db.models import (
    Acquisition,
    Api,
    ApiKey,
    Connector,
    KeyRequest,
    Member,
    Offering,
    Organization,
    WebhookEndpoint,
)
from keyward.db.models.base import Base
from keyward.domains.access import repository

Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True, slots=True)
class Kind(Generic[Row]):
    """A kind of resource: its permission resource, table, id prefix, and how it is named."""

    permission: str
    model: type[Row]
    prefix: str
    code: str
    noun: str

    def not_found(self, ident: str, error: type[NotFound] = NotFound) -> NotFound:
        return error(f"No {self.noun} {quote(ident)} in this workspace.", code=self.code)


APIS = Kind("apis", Api, "api", "api_not_found", "API")
OFFERINGS = Kind("offerings", Offering, "off", "offering_not_found", "offering")
ACQUISITIONS = Kind("acquisitions", Acquisition, "acq", "acquisition_not_found", "acquisition")
KEYS = Kind("keys", ApiKey, "key", "key_not_found", "key")
KEY_REQUESTS = Kind("keys", KeyRequest, "kreq", "key_request_not_found", "key request")
CONNECTORS = Kind("connectors", Connector, "con", "connector_not_found", "connector")
MEMBERS = Kind("members", Member, "mem", "member_not_found", "member")
ORGANIZATIONS = Kind("organizations", Organization, "org", "organization_not_found", "organization")
WEBHOOKS = Kind("webhooks", WebhookEndpoint, "whk", "webhook_not_found", "webhook endpoint")


def gate(actor: Actor, permission: str, action: str, *, workspace_wide: bool = False) -> None:
    """Refuse with 403 `permission_denied` unless the actor holds `permission:action` on
    anything at all (with `workspace_wide`: on the whole workspace, for what belongs to the
    workspace itself); says nothing about any one resource."""
    held = (
        actor.standing.workspace_rights.allows(permission, action)
        if workspace_wide
        else holds(actor.standing, permission, action)
    )
    if not held:
        needed = f"{permission}:{action}"
        raise PermissionDenied(
            f"This needs the permission {needed!r}"
            + (" across the workspace" if workspace_wide else "")
            + ", which the caller does not hold.",
            details={"required": needed, "resource_id": None},
        )


def _refusal(
    resource: Resource, action: str, code: str, missing: tuple[str, ...]
) -> PermissionDenied:
    shown = resource.id if resource.id and looks_like_id(resource.id) else None
    if code == "permission_escalation":
        return PermissionDenied(
            f"Cannot {action} this: it belongs to a member holding permissions the caller does "
            f"not hold: {', '.join(missing)}.",
            code=code,
            details={"missing": list(missing)},
        )
    if code == "not_key_owner":
        return PermissionDenied(
            "Only the member who owns an account key receives its secret; revoke it instead.",
            code=code,
            details={"key_id": shown},
        )
    if code == "not_organization_member":
        return PermissionDenied(
            "Only members of the acquisition's organization receive secrets of its keys: act "
            "as one of them.",
            code=code,
            details={"resource_id": shown},
        )
    needed = f"{resource.kind}:{action}"
    return PermissionDenied(
        f"This needs the permission {needed!r}"
        + (f" on {shown}" if shown else "")
        + ", which the caller does not hold.",
        code=code,
        details={"required": needed, "resource_id": shown},
    )


def check(
    actor: Actor,
    resource: Resource,
    action: str,
    *,
    hidden: Callable[[], KeywardError],
    receives_secret: bool = False,
) -> None:
    """Refuse unless the actor may `action` the resource; `hidden` is what the caller gets
    when it may not even see it (the answer to a resource that does not exist)."""
    decision = decide(actor.standing, resource, action, receives_secret=receives_secret)
    if decision.outcome is Outcome.HIDDEN:
        raise hidden()
    if decision.outcome is Outcome.FORBIDDEN:
        raise _refusal(resource, action, decision.code, decision.missing)


def find(
    uow: UnitOfWork,
    actor: Actor,
    kind: Kind[Row],
    ident: str,
    action: str | Callable[[Row], str],
    *,
    for_update: bool = False,
    receives_secret: bool = False,
) -> Row:
    """The resource of the actor's workspace, if the actor may `action` it (an action that
    depends on the resource: a function of it); locked for the rest of the transaction with
    `for_update`."""
    if isinstance(action, str):
        gate(actor, kind.permission, action)
    row = (
        repository.get(uow.session, kind.model, actor.workspace_id, ident, for_update=for_update)
        if is_id(ident, kind.prefix)
        else None
    )
    if row is None:
        raise kind.not_found(ident)
    check(
        actor,
        repository.resource(uow.session, row),
        action if isinstance(action, str) else action(row),
        hidden=lambda: kind.not_found(ident, Hidden),
        receives_secret=receives_secret,
    )
    return row


def get(uow: UnitOfWork, kind: Kind[Row], workspace_id: str, ident: str) -> Row | None:
    """The row, whoever asks: for keyward's own work (jobs, notifications), never a caller's."""
    if not is_id(ident, kind.prefix):
        return None
    return repository.get(uow.session, kind.model, workspace_id, ident, for_update=False)


_KINDS: tuple[Kind[Any], ...] = (
    APIS,
    OFFERINGS,
    ACQUISITIONS,
    KEYS,
    KEY_REQUESTS,
    CONNECTORS,
    MEMBERS,
    ORGANIZATIONS,
)


def name_of(uow: UnitOfWork, workspace_id: str, ident: str) -> str | None:
    """The name of the resource with this id, if it has one: how a right bound to it (one
    the member holds) is shown to them."""
    for kind in _KINDS:
        if is_id(ident, kind.prefix):
            row = get(uow, kind, workspace_id, ident)
            name = getattr(row, "name", None) or getattr(row, "key_name", None)
            return name if isinstance(name, str) else None
    return None


def resource_of(uow: UnitOfWork, row: Base) -> Resource:
    return repository.resource(uow.session, row)


def approvers_of(uow: UnitOfWork, api_id: str) -> frozenset[str]:
    """The members the API's key policy names to decide its key requests."""
    return repository.approvers(uow.session, api_id)


def visible(actor: Actor, kind: Kind[Row], action: str = "read") -> ColumnElement[bool]:
    """A WHERE clause keeping the rows of `kind` the actor may `action`: what lists show."""
    standing = actor.standing
    return repository.reached(
        kind.model,
        audience(standing, kind.permission, action),
        standing.member_id,
        standing.provider_organizations,
        standing.acquirer_organizations,
        bound_to_api=action == "approve",
    )
