"""Admin → Webhook endpoints: where the workspace's notifications are POSTed, signed; making
one (its signing secret shown once), its delivery log, a test event, redelivering, a new
secret (shown once), deleting it. The webhook services decide, as for REST and the CLI."""

from dataclasses import dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import InvalidInput, KeywardError
from keyward.core.ownership import holds
from keyward.core.sealing import Sealer
from keyward.domains.notifications.events import Event
from keyward.domains.pagination import PageRequest
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookSecretRotate,
    WebhookSecretRotated,
)
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.admin_shared import ADMIN, PAGE_SIZE, require_admin
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

FIELD_OF_CODE = {
    "invalid_url": "url",
    "insecure_destination": "url",
    "destination_not_allowed": "url",
}
SHOWN_ONCE = (
    "Copy this signing secret now: it will not be shown again. Check each delivery's "
    "Keyward-Signature header with it."
)
# The grace periods the rotate form offers (ISO-8601, words); the default is preselected.
GRACES = (
    ("PT0S", "None: it stops at once"),
    ("PT1H", "1 hour"),
    ("PT24H", "24 hours"),
    ("P7D", "7 days"),
)
DEFAULT_GRACE = "PT24H"
NOTICES = {
    "test": "Test event queued: the worker sends it within seconds; reload to see it delivered.",
    "redelivered": "Sent again as a new delivery, shown first below.",
    "deleted": "Webhook endpoint deleted; deliveries still queued for it are dropped.",
}


@dataclass(slots=True)
class EndpointForm:
    url: str = ""
    description: str = ""
    events: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _sealer(portal: Portal) -> Sealer:
    return Sealer(portal.settings.server_secrets())


def _list_page(
    portal: Portal,
    member: Member,
    *,
    cursor: str | None = None,
    form: EndpointForm | None = None,
    created: WebhookEndpointCreated | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        listed = webhooks.list_endpoints(uow, actor, PageRequest(PAGE_SIZE, cursor))
    return portal.pages.render(
        "admin_webhooks.html",
        status,
        title="Webhook endpoints",
        member=member,
        current=ADMIN,
        endpoints=listed.data,
        next_cursor=listed.next_cursor,
        cursor=cursor,
        form=form or EndpointForm(),
        events=[event.value for event in Event],
        may_create=actor.standing.workspace_rights.allows("webhooks", "create"),
        created=created,
        shown_once=SHOWN_ONCE,
        notice=notice,
    )


@router.get("/admin/webhooks", name="admin_webhooks")
def endpoint_list(
    portal: PortalDep, member: MemberDep, cursor: str | None = None, done: str | None = None
) -> Response:
    require_admin(member)
    return _list_page(portal, member, cursor=cursor, notice=NOTICES.get(done or ""))


@router.post("/admin/webhooks", name="admin_webhook_create")
def create(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    require_admin(member)
    sent = EndpointForm(
        url=form.one("url").strip(),
        description=form.one("description").strip(),
        events=form.all("event"),
    )
    try:
        body = WebhookEndpointCreate.model_validate(
            {"url": sent.url, "description": sent.description, "events": sent.events}
        )
    except ValidationError as error:
        sent.errors.update(field_errors(error))
        return _list_page(portal, member, form=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            created = webhooks.create_endpoint(
                uow,
                member.signed.actor,
                body,
                sealer=_sealer(portal),
                settings=portal.settings,
            )
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return _list_page(portal, member, form=sent, status=error.status)
    return _list_page(portal, member, created=created, status=201)


def _page(
    portal: Portal,
    member: Member,
    endpoint_id: str,
    *,
    cursor: str | None = None,
    rotated: WebhookSecretRotated | None = None,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        endpoint = webhooks.get_endpoint(uow, actor, endpoint_id)
        log = webhooks.list_deliveries(uow, actor, endpoint.id, PageRequest(PAGE_SIZE, cursor))
    standing = actor.standing
    return portal.pages.render(
        "admin_webhook.html",
        status,
        title="Webhook endpoint",
        member=member,
        current=ADMIN,
        endpoint=endpoint,
        deliveries=log.data,
        next_cursor=log.next_cursor,
        cursor=cursor,
        may_send=standing.workspace_rights.allows("webhooks", "create"),
        may_delete=holds(standing, "webhooks", "delete"),
        rotated=rotated,
        shown_once=SHOWN_ONCE,
        notice=notice,
        error=error,
    )


@router.get("/admin/webhooks/{endpoint_id}", name="admin_webhook")
def endpoint_page(
    portal: PortalDep,
    member: MemberDep,
    endpoint_id: str,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    require_admin(member)
    return _page(portal, member, endpoint_id, cursor=cursor, notice=NOTICES.get(done or ""))


@router.post("/admin/webhooks/{endpoint_id}/test", name="admin_webhook_test")
def send_test_event(
    portal: PortalDep, member: MemberDep, endpoint_id: str, _: CheckedFormDep
) -> Response:
    require_admin(member)
    with portal.database.transaction() as uow:
        webhooks.send_test_event(uow, member.signed.actor, endpoint_id)
    return redirect(f"/admin/webhooks/{endpoint_id}?done=test")


@router.post(
    "/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    name="admin_webhook_redeliver",
)
def redeliver(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    endpoint_id: str,
    delivery_id: str,
    _: CheckedFormDep,
) -> Response:
    require_admin(member)
    try:
        with portal.database.transaction() as uow:
            webhooks.redeliver(uow, member.signed.actor, endpoint_id, delivery_id)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        return _page(portal, member, endpoint_id, error=error.message, status=error.status)
    return redirect(f"/admin/webhooks/{endpoint_id}?done=redelivered")


@router.get("/admin/webhooks/{endpoint_id}/rotate-secret", name="admin_webhook_rotate_form")
def rotate_form(portal: PortalDep, member: MemberDep, endpoint_id: str) -> Response:
    require_admin(member)
    with portal.database.transaction(write=False) as uow:
        endpoint = webhooks.get_endpoint(uow, member.signed.actor, endpoint_id)
    return portal.pages.render(
        "admin_webhook_confirm.html",
        title="Rotate the signing secret",
        member=member,
        current=ADMIN,
        endpoint=endpoint,
        action="rotate-secret",
        question="Give this endpoint a new signing secret?",
        consequence=(
            "The new secret is shown once. It signs every delivery from the moment you "
            "confirm, retries of earlier ones included; the old secret signs them too for the "
            "grace period you choose, then stops, so update the receiver within it."
        ),
        graces=GRACES,
        default_grace=DEFAULT_GRACE,
        button="Rotate secret",
    )


@router.post("/admin/webhooks/{endpoint_id}/rotate-secret", name="admin_webhook_rotate")
def rotate_secret(
    portal: PortalDep, member: MemberDep, endpoint_id: str, form: CheckedFormDep
) -> Response:
    require_admin(member)
    chosen = form.one("grace") or DEFAULT_GRACE
    try:
        if chosen not in dict(GRACES):
            raise InvalidInput("Choose one of the grace periods offered.", code="grace_not_offered")
        grace = WebhookSecretRotate.model_validate({"grace": chosen}).grace
        with portal.database.transaction() as uow:
            rotated = webhooks.rotate_secret(
                uow, member.signed.actor, endpoint_id, sealer=_sealer(portal), grace=grace
            )
    except InvalidInput as error:
        return _page(portal, member, endpoint_id, error=error.message, status=error.status)
    return _page(portal, member, endpoint_id, rotated=rotated)


@router.get("/admin/webhooks/{endpoint_id}/delete", name="admin_webhook_delete_form")
def delete_form(portal: PortalDep, member: MemberDep, endpoint_id: str) -> Response:
    require_admin(member)
    with portal.database.transaction(write=False) as uow:
        endpoint = webhooks.get_endpoint(uow, member.signed.actor, endpoint_id)
    return portal.pages.render(
        "admin_webhook_confirm.html",
        title="Delete the webhook endpoint",
        member=member,
        current=ADMIN,
        endpoint=endpoint,
        action="delete",
        question="Delete this webhook endpoint?",
        consequence="Nothing more is sent to it; deliveries still queued for it are dropped.",
        button="Delete endpoint",
    )


@router.post("/admin/webhooks/{endpoint_id}/delete", name="admin_webhook_delete")
def delete(portal: PortalDep, member: MemberDep, endpoint_id: str, _: CheckedFormDep) -> Response:
    require_admin(member)
    with portal.database.transaction() as uow:
        webhooks.delete_endpoint(uow, member.signed.actor, endpoint_id)
    return redirect("/admin/webhooks?done=deleted")
