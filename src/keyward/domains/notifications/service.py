"""Writing notifications to the outbox, in the transaction of the change that causes them.

`data` is what templates and webhook receivers see: names, ids and times, never a secret.
"""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from keyward.core.ids import new_id
from keyward.db.engine import UnitOfWork
from keyward.db.models import Api, ApiKey, Member, WebhookEndpoint
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
    members = uow.session.scalars(
        select(Member).where(
            Member.workspace_id == workspace_id, Member.id.in_(wanted), Member.active.is_(True)
        )
    ).all()
    for member in sorted(members, key=lambda m: m.id):
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
    endpoints = uow.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    for endpoint in endpoints:
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
