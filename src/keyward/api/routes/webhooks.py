"""Webhook endpoints: `/v1/webhooks`, `/v1/webhooks/{id}`."""

from fastapi import APIRouter, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import RuntimeDep
from keyward.domains.pagination import Page
from keyward.domains.webhooks import service
from keyward.domains.webhooks.schemas import (
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
    WebhookSecretRotate,
    WebhookSecretRotated,
)

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks", status_code=201, name="webhook.create", responses=errors(409, *WITH_BODY))
def create_webhook(
    body: WebhookEndpointCreate,
    actor: ActorDep,
    runtime: RuntimeDep,
    creation: CreationDep,
    response: Response,
) -> WebhookEndpointCreated:
    """Send the workspace's notifications (all, or the `events` listed) to a URL, signed with
    a secret shown only in this response."""
    created = creation.run(
        body,
        lambda uow: service.create_endpoint(
            uow, actor, body, sealer=runtime.sealer, settings=runtime.settings
        ),
    )
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get("/webhooks", name="webhook.list", responses=errors())
def list_webhooks(actor: ActorDep, runtime: RuntimeDep, page: PageDep) -> Page[WebhookEndpointOut]:
    with runtime.database.transaction(write=False) as uow:
        return service.list_endpoints(uow, actor, page)


@router.get("/webhooks/{webhook_id}", name="webhook.read", responses=errors(404))
def read_webhook(webhook_id: str, actor: ActorDep, runtime: RuntimeDep) -> WebhookEndpointOut:
    with runtime.database.transaction(write=False) as uow:
        return service.get_endpoint(uow, actor, webhook_id)


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, name="webhook.delete", responses=errors(404)
)
def delete_webhook(webhook_id: str, actor: ActorDep, runtime: RuntimeDep) -> Response:
    """Stop sending to the endpoint; deliveries still queued for it are dropped."""
    with runtime.database.transaction() as uow:
        service.delete_endpoint(uow, actor, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", name="webhook.deliveries", responses=errors(404))
def list_deliveries(
    webhook_id: str, actor: ActorDep, runtime: RuntimeDep, page: PageDep
) -> Page[WebhookDeliveryOut]:
    """The endpoint's delivery log, newest first: event, status (`pending`, `retrying`,
    `delivered`, `failed`), attempts, last error and times."""
    with runtime.database.transaction(write=False) as uow:
        return service.list_deliveries(uow, actor, webhook_id, page)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    name="webhook.test",
    responses=errors(404),
)
def send_test_event(webhook_id: str, actor: ActorDep, creation: CreationDep) -> WebhookDeliveryOut:
    """Queue a signed `webhook.test` event for this endpoint; the answer is its delivery, whose
    status the delivery log shows once the worker has sent it."""
    return creation.run(None, lambda uow: service.send_test_event(uow, actor, webhook_id))


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    name="webhook.redeliver",
    responses=errors(404, 409),
)
def redeliver(
    webhook_id: str, delivery_id: str, actor: ActorDep, creation: CreationDep
) -> WebhookDeliveryOut:
    """Send a delivered or failed delivery's event again, as a new delivery with the same
    `event_id`; 409 `delivery_pending` while it is still being tried."""
    return creation.run(None, lambda uow: service.redeliver(uow, actor, webhook_id, delivery_id))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    name="webhook.rotate_secret",
    responses=errors(404, *WITH_BODY),
)
def rotate_secret(
    webhook_id: str,
    actor: ActorDep,
    runtime: RuntimeDep,
    response: Response,
    body: WebhookSecretRotate | None = None,
) -> WebhookSecretRotated:
    """A new signing secret, shown only in this response. The old one keeps signing
    deliveries, next to the new one, for `grace` (default PT24H, at most P7D; PT0S: it stops
    at once), until `previous_secret_until`; a longer grace is refused (422)."""
    body = body or WebhookSecretRotate()
    with runtime.database.transaction() as uow:
        rotated = service.rotate_secret(
            uow, actor, webhook_id, sealer=runtime.sealer, grace=body.grace
        )
    response.headers["Cache-Control"] = "no-store"
    return rotated
