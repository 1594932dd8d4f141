"""The rules for webhook endpoints: http(s) URLs only, known event names, a signing secret
shown once and kept sealed with the server secret (opened only to sign deliveries)."""

import secrets
from contextlib import suppress
from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from pydantic import TypeAdapter

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput, NotFound
from keyward.core.ids import new_id
from keyward.core.sealing import SealBroken, Sealer, place
from keyward.db.engine import UnitOfWork
from keyward.db.models import OutboxMessage, WebhookEndpoint
from keyward.domains import access, egress
from keyward.domains.audit import service as audit
from keyward.domains.caps import ensure_room
from keyward.domains.connectors.service import shown_url
from keyward.domains.fields import Grace
from keyward.domains.notifications.events import WEBHOOK
from keyward.domains.outbox import service as outbox
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.domains.webhooks import repository
from keyward.domains.webhooks.schemas import (
    DEFAULT_SECRET_GRACE,
    MAX_SECRET_GRACE,
    DeliveryStatus,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookSecretRotated,
)
from keyward.settings import Settings

NOTICE = (
    "The signing secret is shown only in this response; keyward keeps it sealed and uses it "
    "only to sign deliveries."
)


def _check_url(url: str, settings: Settings) -> None:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput("The webhook URL has an invalid port.", code="invalid_url") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput("A webhook URL is https://, with a host.", code="invalid_url")
    egress.check_destination(
        url, egress.tenant_policy(settings), plain_http=settings.egress_allow_http
    )


def _out(endpoint: WebhookEndpoint, now: datetime) -> WebhookEndpointOut:
    until = endpoint.previous_secret_until
    return WebhookEndpointOut(
        id=endpoint.id,
        url=shown_url(endpoint.url),
        description=endpoint.description,
        events=list(endpoint.events),
        active=endpoint.active,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
        previous_secret_until=until if until is not None and now < until else None,
    )


_graces: TypeAdapter[timedelta] = TypeAdapter(Grace)


def _iso(grace: timedelta) -> str:
    return str(_graces.dump_python(grace, mode="json"))


def find_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: str, action: str) -> WebhookEndpoint:
    """Endpoints are the workspace's: only rights across the whole workspace reach them."""
    return access.find(uow, actor, access.WEBHOOKS, endpoint_id, action)


def create_endpoint(
    uow: UnitOfWork,
    actor: Actor,
    body: WebhookEndpointCreate,
    *,
    sealer: Sealer,
    settings: Settings,
) -> WebhookEndpointCreated:
    """An endpoint that receives the workspace's notifications from now on."""
    access.gate(actor, "webhooks", "create", workspace_wide=True)
    _check_url(body.url, settings)
    ensure_room(
        repository.count_locked(uow.session, actor.workspace_id),
        settings.max_webhooks_per_workspace,
        what="webhook endpoints",
        of="workspace",
        code="webhook_limit_reached",
        setting="KEYWARD_MAX_WEBHOOKS_PER_WORKSPACE",
    )
    signing_secret = f"whsec_{secrets.token_urlsafe(32)}"
    now = uow.clock.now()
    endpoint_id = new_id("whk")
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        workspace_id=actor.workspace_id,
        url=body.url,
        description=body.description,
        events=[event.value for event in body.events],
        sealed_secret=sealer.seal(
            signing_secret, place("webhook_endpoints", endpoint_id, "sealed_secret")
        ),
        active=True,
        created_by=actor.member_id,
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, endpoint)
    audit.record(
        uow,
        actor,
        "webhook.create",
        target_type="webhook",
        target_id=endpoint.id,
        details={"url": shown_url(endpoint.url), "events": endpoint.events},
    )
    return WebhookEndpointCreated(
        **_out(endpoint, now).model_dump(), signing_secret=signing_secret, notice=NOTICE
    )


def get_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: str) -> WebhookEndpointOut:
    return _out(find_endpoint(uow, actor, endpoint_id, "read"), uow.clock.now())


def list_endpoints(uow: UnitOfWork, actor: Actor, page: PageRequest) -> Page[WebhookEndpointOut]:
    access.gate(actor, "webhooks", "read")
    rows = repository.list_endpoints(
        uow.session, actor.workspace_id, page, visible=access.visible(actor, access.WEBHOOKS)
    )
    kept, cursor = split_page(rows, page, lambda e: e.id)
    now = uow.clock.now()
    return Page[WebhookEndpointOut](data=[_out(e, now) for e in kept], next_cursor=cursor)


def delete_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: str) -> None:
    """Stop sending to it; deliveries still queued for it are dropped."""
    endpoint = find_endpoint(uow, actor, endpoint_id, "delete")
    repository.delete(uow.session, endpoint)
    audit.record(
        uow,
        actor,
        "webhook.delete",
        target_type="webhook",
        target_id=endpoint.id,
        details={"url": shown_url(endpoint.url)},
    )


# The event a test delivery carries: not a notification, so no endpoint's event list filters it.
TEST_EVENT = "webhook.test"
ROTATED_NOTICE = (
    "The new signing secret is shown only in this response. Every delivery from now on, "
    "including retries of earlier ones, is signed with it; the old secret signs them too until "
    "previous_secret_until (null: it stopped at once)."
)
_SETTLED = {outbox.DONE: DeliveryStatus.DELIVERED, outbox.FAILED: DeliveryStatus.FAILED}


def _delivery(message: OutboxMessage) -> WebhookDeliveryOut:
    payload = message.payload
    status = _SETTLED.get(message.status) or (
        DeliveryStatus.RETRYING if message.last_error else DeliveryStatus.PENDING
    )
    return WebhookDeliveryOut(
        id=message.id,
        endpoint_id=str(payload.get("endpoint_id", "")),
        event=str(payload.get("event", "")),
        event_id=str(payload.get("event_id", "")),
        status=status,
        attempts=message.attempts,
        last_error=message.last_error,
        created_at=message.created_at,
        next_attempt_at=None if message.status in _SETTLED else message.next_attempt_at,
        finished_at=message.finished_at,
        redelivery_of=payload.get("redelivery_of"),
    )


def list_deliveries(
    uow: UnitOfWork, actor: Actor, endpoint_id: str, page: PageRequest
) -> Page[WebhookDeliveryOut]:
    """The endpoint's delivery log, newest first: one entry per notification sent to it (each
    retried on its own), test events and redeliveries included."""
    endpoint = find_endpoint(uow, actor, endpoint_id, "read")
    rows = repository.list_deliveries(uow.session, actor.workspace_id, endpoint.id, page)
    kept, cursor = split_page(rows, page, lambda m: m.id)
    return Page[WebhookDeliveryOut](data=[_delivery(m) for m in kept], next_cursor=cursor)


def get_delivery(
    uow: UnitOfWork, actor: Actor, endpoint_id: str, delivery_id: str
) -> WebhookDeliveryOut:
    endpoint = find_endpoint(uow, actor, endpoint_id, "read")
    return _delivery(_find_delivery(uow, endpoint, delivery_id))


def _find_delivery(uow: UnitOfWork, endpoint: WebhookEndpoint, delivery_id: str) -> OutboxMessage:
    message = repository.get_delivery(uow.session, endpoint.workspace_id, endpoint.id, delivery_id)
    if message is None:
        raise NotFound(
            f"No delivery {quote(delivery_id)} to this webhook endpoint.",
            code="delivery_not_found",
        )
    return message


def send_test_event(uow: UnitOfWork, actor: Actor, endpoint_id: str) -> WebhookDeliveryOut:
    """Queue a `webhook.test` event for this endpoint alone, delivered and signed like any
    notification (sending one needs the right to create endpoints)."""
    endpoint = find_endpoint(uow, actor, endpoint_id, "create")
    now = uow.clock.now()
    message_id = outbox.enqueue(
        uow,
        actor.workspace_id,
        WEBHOOK,
        {
            "endpoint_id": endpoint.id,
            "event_id": new_id("ntf"),
            "event": TEST_EVENT,
            "occurred_at": now.isoformat(),
            "data": {"test": True, "endpoint_id": endpoint.id, "sent_by": actor.member_id},
        },
    )
    audit.record(
        uow,
        actor,
        "webhook.test",
        target_type="webhook",
        target_id=endpoint.id,
        details={"delivery_id": message_id},
    )
    return get_delivery(uow, actor, endpoint.id, message_id)


def redeliver(
    uow: UnitOfWork, actor: Actor, endpoint_id: str, delivery_id: str
) -> WebhookDeliveryOut:
    """Send a delivery's event again, now, as a new delivery (a new Keyward-Delivery id, the
    same `event_id`, so receivers that keep event ids can drop what they already handled).
    Any delivery can be sent again, delivered or failed; one still waiting is refused."""
    endpoint = find_endpoint(uow, actor, endpoint_id, "create")
    original = _find_delivery(uow, endpoint, delivery_id)
    if original.status == outbox.PENDING:
        raise Conflict(
            "This delivery is still being tried; redeliver it once it is delivered or failed.",
            code="delivery_pending",
            details={"delivery_id": original.id},
        )
    payload = {key: value for key, value in original.payload.items() if key != "redelivery_of"} | {
        "redelivery_of": original.id
    }
    message_id = outbox.enqueue(uow, actor.workspace_id, WEBHOOK, payload)
    audit.record(
        uow,
        actor,
        "webhook.redeliver",
        target_type="webhook",
        target_id=endpoint.id,
        details={"delivery_id": original.id, "redelivery_id": message_id},
    )
    return get_delivery(uow, actor, endpoint.id, message_id)


def rotate_secret(
    uow: UnitOfWork,
    actor: Actor,
    endpoint_id: str,
    *,
    sealer: Sealer,
    grace: timedelta = DEFAULT_SECRET_GRACE,
) -> WebhookSecretRotated:
    """Replace the endpoint's signing secret; the new one is shown once and signs every
    delivery from now on (also retries of deliveries queued before). The old one signs them
    too, after the new one, for `grace` (PT0S: it stops at once); a grace over
    MAX_SECRET_GRACE is refused. Only the secret current at the rotation is kept: rotating
    again during a grace ends the grace of the secret before."""
    # Locked: of two rotations at once, the second keeps the first one's secret as previous.
    endpoint = access.find(uow, actor, access.WEBHOOKS, endpoint_id, "create", for_update=True)
    if grace > MAX_SECRET_GRACE:
        raise InvalidInput(
            f"A webhook secret's grace is at most {MAX_SECRET_GRACE.days} days "
            f"({_iso(MAX_SECRET_GRACE)}); choose a shorter one, or PT0S to stop the old "
            "secret at once.",
            code="grace_too_long",
            details={"max_grace": _iso(MAX_SECRET_GRACE)},
        )
    now = uow.clock.now()
    previous: bytes | None = None
    # A secret no key opens could not sign deliveries anyway: then there is nothing to keep.
    with suppress(SealBroken):
        if grace > timedelta(0):
            previous = sealer.seal(
                sealer.open(
                    endpoint.sealed_secret, place("webhook_endpoints", endpoint.id, "sealed_secret")
                ),
                place("webhook_endpoints", endpoint.id, "previous_sealed_secret"),
            )
    endpoint.previous_sealed_secret = previous
    endpoint.previous_secret_until = None if previous is None else now + grace
    signing_secret = f"whsec_{secrets.token_urlsafe(32)}"
    endpoint.sealed_secret = sealer.seal(
        signing_secret, place("webhook_endpoints", endpoint.id, "sealed_secret")
    )
    endpoint.updated_at = now
    uow.session.flush()
    until = endpoint.previous_secret_until
    audit.record(
        uow,
        actor,
        "webhook.rotate_secret",
        target_type="webhook",
        target_id=endpoint.id,
        details={
            "grace": _iso(grace),
            "previous_secret_until": until.isoformat() if until else None,
        },
    )
    return WebhookSecretRotated(
        **_out(endpoint, now).model_dump(), signing_secret=signing_secret, notice=ROTATED_NOTICE
    )
