"""Delivering notifications from the outbox: one e-mail per recipient, one signed POST per
webhook endpoint. Each raises DeliveryFailed (retry later) or PermanentFailure (give up)."""

import json

from keyward.core.sealing import SealBroken, Sealer, place
from keyward.db.engine import Database
from keyward.db.models import OutboxMessage
from keyward.domains import access
from keyward.domains.connectors.updates import tell_acquirers
from keyward.domains.egress import tenant_policy
from keyward.jobs import mail
from keyward.jobs.transports import PermanentFailure, post_webhook
from keyward.settings import Settings


def deliver_email(settings: Settings, message: OutboxMessage) -> None:
    payload = message.payload
    if not mail.has_template(payload["event"]):
        raise PermanentFailure(f"no e-mail template for the event {payload['event']!r}")
    mail.send(settings, mail.compose(settings, payload, message.workspace_id))


def webhook_body(message: OutboxMessage) -> bytes:
    """The JSON a webhook endpoint receives; its `id` is the Keyward-Delivery id, the same on
    every retry, so receivers can drop repeats."""
    payload = message.payload
    return json.dumps(
        {
            "id": message.id,
            "type": payload["event"],
            "occurred_at": payload["occurred_at"],
            "workspace_id": message.workspace_id,
            "event_id": payload["event_id"],
            "data": payload["data"],
        },
        separators=(",", ":"),
    ).encode()


def deliver_webhook(database: Database, settings: Settings, message: OutboxMessage) -> None:
    with database.transaction(write=False) as uow:
        endpoint = access.get(
            uow, access.WEBHOOKS, message.workspace_id, message.payload["endpoint_id"]
        )
        now = uow.clock.now()
    if endpoint is None or not endpoint.active:
        return  # deleted or turned off since: nothing left to deliver
    until = endpoint.previous_secret_until
    previous: str | None = None
    try:
        sealer = Sealer(settings.server_secrets())  # as it is now: it may have rotated
        secret = sealer.open(
            endpoint.sealed_secret, place("webhook_endpoints", endpoint.id, "sealed_secret")
        )
        # The secret a rotation replaced signs too while its grace runs, after the new one.
        if endpoint.previous_sealed_secret is not None and until is not None and now < until:
            previous = sealer.open(
                endpoint.previous_sealed_secret,
                place("webhook_endpoints", endpoint.id, "previous_sealed_secret"),
            )
    except SealBroken as broken:
        raise PermanentFailure(str(broken)) from None
    post_webhook(
        endpoint.url,
        webhook_body(message),
        secret=secret,
        previous_secret=previous,
        delivery_id=message.id,
        policy=tenant_policy(settings),
        user_agent="keyward-webhook",
        deadline=settings.delivery_deadline,
    )


def reannounce_spec_update(database: Database, message: OutboxMessage) -> None:
    """A `notification.spec_updated` message from before notifications: notify it now."""
    payload = message.payload
    with database.transaction() as uow:
        acquisition = access.get(
            uow, access.ACQUISITIONS, message.workspace_id, payload["acquisition_id"]
        )
        if acquisition is not None:
            tell_acquirers(
                uow, acquisition, payload["api_id"], payload["api_version"], payload["changes"]
            )
