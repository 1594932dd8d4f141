"""The changes a member asks of one key, from whichever page lists it (an acquisition's, or
"API keys"): read the key as that page may show it, ask the key services for the change, and
turn a refusal into the problem the page shows next to the key.

Every decision is the services': whether the member may act on the key, whether its state
allows the change, whether an approver must decide. A page only narrows which keys it answers
for (its `Scope`): a key outside it answers like one that does not exist.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput, KeywardError
from keyward.core.sealing import Sealer
from keyward.db.engine import UnitOfWork
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.apis import service as apis
from keyward.domains.keys import requests
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import KeyCreated, KeyOut, KeyRequestOut
from keyward.portal.context import Member, Portal
from keyward.portal.routing import audit_refusal
from keyward.portal.wording import span

# Grace periods offered for a rotation, those within the policy's maximum (which is offered too).
GRACE_STEPS = (
    timedelta(0),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=7),
    timedelta(days=30),
)
NOTICES = {
    "deleted": "The key is deleted; its audit trail stays.",
    "renewed": "The key is renewed.",
    "renewal-requested": "Renewal requested: an approver of the API decides.",
    "revoked": "The key is revoked: it stopped working at once. You can delete it now.",
    "revocation-requested": "Revocation requested: an approver of the API decides. "
    "Once it is revoked, you can delete the key.",
    "request-cancelled": "The request is cancelled: the key stays as it was.",
}

# The key as a page may show it (raising the service's 404 for any other).
Scope = Callable[[UnitOfWork, Member, str], KeyOut]


@dataclass(frozen=True, slots=True)
class Problem:
    """A change the services refused for one key, said next to what can be done instead."""

    key: KeyOut
    message: str
    status: int
    offer_revocation_request: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """What a change did: a `NOTICES` name, and the new secret of a rotation."""

    done: str
    created: KeyCreated | None = None


Change = Callable[[UnitOfWork, Actor, KeyOut], Done]


def act(
    request: Request, portal: Portal, member: Member, key_id: str, scope: Scope, change: Change
) -> Done | Problem:
    """Ask `change` of the key the page may show. A refusal is audited (the change's
    transaction was rolled back) and returned as the problem to show; a key the member may not
    see raises the services' 404."""
    with portal.database.transaction(write=False) as uow:
        key = scope(uow, member, key_id)
    try:
        with portal.database.transaction() as uow:
            return change(uow, member.signed.actor, scope(uow, member, key_id))
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        return Problem(
            key,
            error.message,
            error.status,
            offer_revocation_request=error.code == "revocation_requires_approval",
        )


def delete(*, revoke: bool) -> Change:
    """Delete a revoked key; with `revoke`, revoke an active one first where no approver must."""

    def change(uow: UnitOfWork, actor: Actor, key: KeyOut) -> Done:
        keys.delete_key(uow, actor, key.id, revoke=revoke)
        return Done("deleted")

    return change


def revoke(reason: str) -> Change:
    """Revoke, or where the policy wants an approver, ask one to."""

    def change(uow: UnitOfWork, actor: Actor, key: KeyOut) -> Done:
        result = keys.revoke_key(
            uow, actor, key.id, reason.strip()[:2000] or "asked in the portal", allow_request=True
        )
        return Done("revocation-requested" if isinstance(result, KeyRequestOut) else "revoked")

    return change


def renew(uow: UnitOfWork, actor: Actor, key: KeyOut) -> Done:
    """Renew, or where the policy wants an approver, ask one to."""
    result = keys.renew_key(uow, actor, key.id, reason="asked in the portal", allow_request=True)
    return Done("renewal-requested" if isinstance(result, KeyRequestOut) else "renewed")


def cancel_request(uow: UnitOfWork, actor: Actor, key: KeyOut) -> Done:
    """Withdraw the key's pending request (only its requester may)."""
    if key.pending_request_id is None:
        raise InvalidInput(
            "This key has no pending request to cancel; reload the page.",
            code="no_pending_request",
        )
    requests.cancel(uow, actor, key.pending_request_id)
    return Done("request-cancelled")


def grace_choices(maximum: timedelta) -> list[tuple[str, str]]:
    """(ISO-8601, words) for every grace period the policy allows, its maximum included."""
    offered = [step for step in GRACE_STEPS if step < maximum] + [maximum]
    return [(keys.iso_duration(step) or "PT0S", span(step)) for step in offered]


def max_grace(uow: UnitOfWork, portal: Portal, member: Member, key: KeyOut) -> timedelta:
    """The longest grace the key's policy allows a rotation (account keys: the default)."""
    if key.acquisition_id is None:
        return keys.DEFAULT_MAX_GRACE
    actor = member.signed.actor
    try:
        acquisition = acquisitions.get_acquisition(uow, actor, key.acquisition_id)
        api = apis.get_api(uow, actor, acquisition.api_id, portal.settings)
    except KeywardError:
        return keys.DEFAULT_MAX_GRACE
    return api.policy.max_rotation_grace or keys.DEFAULT_MAX_GRACE


def rotate(portal: Portal, member: Member, chosen: str) -> Change:
    """A new secret, the old one working for `chosen`, one of the grace periods offered."""

    def change(uow: UnitOfWork, actor: Actor, key: KeyOut) -> Done:
        allowed = {value for value, _ in grace_choices(max_grace(uow, portal, member, key))}
        if chosen not in allowed:
            raise InvalidInput("Choose one of the grace periods offered.", code="grace_not_offered")
        grace = keys.parse_duration(chosen) or timedelta(0)
        sealer = Sealer(portal.settings.server_secrets())
        return Done("rotated", keys.rotate_key(uow, actor, key.id, grace, sealer=sealer))

    return change


def notice(
    portal: Portal,
    member: Member,
    scope: Scope,
    done: str | None,
    key_id: str | None,
    notices: dict[str, str] = NOTICES,
) -> str | None:
    """What the page says after a change it redirected from (`notices`, by name), naming the
    key if the page still shows it."""
    said = notices.get(done or "")
    if said is None or key_id is None:
        return said
    try:
        with portal.database.transaction(write=False) as uow:
            key = scope(uow, member, key_id)
    except KeywardError:
        return said
    if done == "renewed":
        until = key.expires_at.strftime("%Y-%m-%d %H:%M UTC") if key.expires_at else "never"
        return f"The key “{key.name}” is renewed: it now expires {until}."
    return f"“{key.name}”: {said}"
