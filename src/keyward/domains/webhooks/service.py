"""The rules for webhook endpoints: http(s) URLs only, known event names, a signing secret
shown once and kept sealed with the server secret (opened only to sign deliveries)."""

import secrets
from urllib.parse import urlsplit

from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.core.ids import new_id
from keyward.core.sealing import Sealer, place
from keyward.db.engine import UnitOfWork
from keyward.db.models import WebhookEndpoint
from keyward.domains import access, egress
from keyward.domains.audit import service as audit
from keyward.domains.caps import ensure_room
from keyward.domains.connectors.service import shown_url
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.domains.webhooks import repository
from keyward.domains.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointOut,
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


def _out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=endpoint.id,
        url=shown_url(endpoint.url),
        description=endpoint.description,
        events=list(endpoint.events),
        active=endpoint.active,
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
    )


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
        **_out(endpoint).model_dump(), signing_secret=signing_secret, notice=NOTICE
    )


def get_endpoint(uow: UnitOfWork, actor: Actor, endpoint_id: str) -> WebhookEndpointOut:
    return _out(find_endpoint(uow, actor, endpoint_id, "read"))


def list_endpoints(uow: UnitOfWork, actor: Actor, page: PageRequest) -> Page[WebhookEndpointOut]:
    access.gate(actor, "webhooks", "read")
    rows = repository.list_endpoints(
        uow.session, actor.workspace_id, page, visible=access.visible(actor, access.WEBHOOKS)
    )
    kept, cursor = split_page(rows, page, lambda e: e.id)
    return Page[WebhookEndpointOut](data=[_out(e) for e in kept], next_cursor=cursor)


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
