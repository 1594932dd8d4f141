"""Writing notifications to the outbox, in the transaction of the change that causes them.

`data` is what templates and webhook receivers see: names, ids and times, never a secret.
"""

from collections.abc import Iterable
from typing import Any

from keyward.core.ids import new_id
from keyward.db.engine import UnitOfWork
from keyward.db.models import Api, ApiKey
from keyward.domains.notifications import repository
from keyward.domains.notifications.events import EMAIL, WEBHOOK, Event
from keyward.domains.outbox import service as outbox


def key_data(key: ApiKey, api: Api | None) -> dict[str, Any]:
    """What a notification about a key says of it and of its API."""
    return {
        "key": {
            "id": key.id,
            "name": key.name,
            "kind": key.kind,
            "start": key.start,
            "acquisition_id": key.acquisition_id,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
        "api": {"id": api.id, "name": api.name} if api else None,
    }


def organization_members(uow: UnitOfWork, organization_id: str) -> list[str]:
    """The members an organization's notifications go to."""
    return repository.organization_member_ids(uow.session, organization_id)


def notify(
    uow: UnitOfWork,
    workspace_id: str,
    event: Event,
    data: dict[str, Any],
    recipients: Iterable[str | None] = (),
) -> str:
    """Queue `event` for each recipient member (by id; inactive ones and repeats are skipped)
    and each of the workspace's webhook endpoints that takes it. Returns the event's id."""
    event_id = new_id("ntf")
    occurred_at = uow.clock.now().isoformat()
    wanted = sorted({member_id for member_id in recipients if member_id})
    for member in repository.active_members(uow.session, workspace_id, wanted):
        outbox.enqueue(
            uow,
            workspace_id,
            EMAIL,
            {
                "event_id": event_id,
                "event": event.value,
                "occurred_at": occurred_at,
                "to": {"member_id": member.id, "email": member.email, "name": member.name},
                "data": data,
            },
        )
    for endpoint in repository.active_endpoints(uow.session, workspace_id):
        if endpoint.events and event.value not in endpoint.events:
            continue
        outbox.enqueue(
            uow,
            workspace_id,
            WEBHOOK,
            {
                "endpoint_id": endpoint.id,
                "event_id": event_id,
                "event": event.value,
                "occurred_at": occurred_at,
                "data": data,
            },
        )
    return event_id
