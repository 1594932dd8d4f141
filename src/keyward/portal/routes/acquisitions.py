"""Acquisitions: the list, one acquisition with its named keys (create, delete, renew, rotate,
request revocation), reacquiring an expired one.

Every decision is the services': which acquisitions and keys the member sees, who may make or
change a key, when a change needs an approver. The page only narrows a key to the acquisition
in its address: a key of another acquisition answers like one that does not exist.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import Hidden, KeywardError
from keyward.core.keys import KeyState
from keyward.core.ownership import holds
from keyward.db.engine import UnitOfWork
from keyward.domains import access
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import (
    AcquisitionKeyCreate,
    AcquisitionOut,
    AcquisitionState,
    ExportVersion,
)
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiOut, ApiVersionOut
from keyward.domains.connectors import service as connectors
from keyward.domains.connectors.schemas import ConnectorCreated, ConnectorOut
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import KeyCreated, KeyOut
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingOut
from keyward.domains.organizations import service as organizations
from keyward.domains.pagination import PageRequest
from keyward.portal import key_actions
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routing import PortalRoute, audit_refusal, redirect
from keyward.portal.wording import includes, span

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25
CONNECTORS_PAGE_SIZE = 10
SHOWN_ONCE = "Copy this key now: it will not be shown again. keyward keeps only its hash."
KEY_NAME_HINT = "Who will use it: a colleague's name or a partner's organization."
DONE = {
    **key_actions.NOTICES,
    "acquired": "Acquired. Create a key for each person or partner who will call the API.",
    "reacquired": "Reacquired: the acquisition is valid again, and so are its keys.",
    "deleted": "The key is revoked and deleted: it stopped working at once.",
    "connector-deleted": "The connector is deleted: it delivers nothing more. The key it "
    "delivered, if it still works, keeps working until you revoke it.",
    "connector-deleted-key-revoked": "The connector is deleted: it delivers nothing more. The "
    "key it delivered is revoked: it stopped working at once.",
}


@dataclass(slots=True)
class KeyForm:
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ConnectorForm:
    """What the connector form shows: the values sent back, the errors next to their fields."""

    kind: str = "storage"
    url: str = ""
    destination: str = ""
    path: str = ""
    version: str = ExportVersion.V3.value
    format: str = "json"
    key_source: str = "generate"
    key_name: str = ""
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Export:
    warnings: list[str]
    refused: str | None


Found = TypeVar("Found")
Looked = ParamSpec("Looked")


def _optional(
    find: Callable[Looked, Found], *args: Looked.args, **kwargs: Looked.kwargs
) -> Found | None:
    """What a lookup finds, or None where the member may not see it."""
    try:
        return find(*args, **kwargs)
    except KeywardError:
        return None


def organization_names(uow: UnitOfWork, member: Member) -> dict[str, str]:
    listed = _optional(organizations.list_organizations, uow, member.signed.actor, PageRequest(200))
    return {o.id: o.name for o in listed.data} if listed else {}


def acquisition_key(
    uow: UnitOfWork, member: Member, acquisition_id: str, key_id: str
) -> tuple[AcquisitionOut, KeyOut]:
    """The acquisition and one of its keys, as the member may read them; a key of another
    acquisition answers like one that does not exist."""
    actor = member.signed.actor
    acquisition = acquisitions.get_acquisition(uow, actor, acquisition_id)
    key = keys.get_key(uow, actor, key_id)
    if key.acquisition_id != acquisition.id:
        raise access.KEYS.not_found(key_id, Hidden)
    return acquisition, key


def _last_version(uow: UnitOfWork, member: Member, api_id: str) -> ApiVersionOut | None:
    listed = _optional(apis.list_versions, uow, member.signed.actor, api_id, PageRequest(1))
    return listed.data[0] if listed and listed.data else None


def _export(uow: UnitOfWork, portal: Portal, member: Member, acquisition_id: str) -> Export:
    """What OpenAPI 2.0 cannot say of this acquisition's spec, or why it cannot be had in 2.0."""
    try:
        exported = acquisitions.export_spec(
            uow, member.signed.actor, acquisition_id, ExportVersion.V2, portal.settings
        )
    except KeywardError as error:
        return Export([], error.message)
    return Export([f"{w.message} ({w.pointer})" for w in exported.warnings], None)


def acquisition_page(
    request: Request,
    portal: Portal,
    member: Member,
    acquisition_id: str,
    *,
    cursor: str | None = None,
    connectors_cursor: str | None = None,
    key_form: KeyForm | None = None,
    created: KeyCreated | None = None,
    created_title: str = "",
    problem: key_actions.Problem | None = None,
    connector_form: ConnectorForm | None = None,
    connector_created: ConnectorCreated | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        acquisition = acquisitions.get_acquisition(uow, actor, acquisition_id)
        listed = acquisitions.list_keys(uow, actor, acquisition.id, PageRequest(PAGE_SIZE, cursor))
        offering: OfferingOut | None = _optional(
            offerings.get_offering, uow, actor, acquisition.offering_id
        )
        api: ApiOut | None = _optional(
            apis.get_api, uow, actor, acquisition.api_id, portal.settings
        )
        last_version = _last_version(uow, member, acquisition.api_id)
        names = organization_names(uow, member)
        connected = _optional(
            connectors.list_connectors,
            uow,
            actor,
            acquisition.id,
            PageRequest(CONNECTORS_PAGE_SIZE, connectors_cursor),
        )
        export = _export(uow, portal, member, acquisition.id)
    policy = api.policy if api else None
    max_grace = (policy.max_rotation_grace if policy else None) or keys.DEFAULT_MAX_GRACE
    connector_list: list[ConnectorOut] = connected.data if connected else []
    return portal.pages.render(
        "acquisition.html",
        status,
        title=f"{api.name if api else 'Acquisition'} · {acquisition.id}",
        member=member,
        current="/acquisitions",
        acquisition=acquisition,
        expired=acquisition.state is AcquisitionState.EXPIRED,
        offering=offering,
        includes=includes(offering) if offering else [],
        api=api,
        policy=policy,
        lifetime=span(policy.key_lifetime, "Never expire") if policy else None,
        last_version=last_version,
        organization=names.get(acquisition.organization_id, acquisition.organization_id),
        keys=listed.data,
        key_names={key.id: key.name for key in listed.data},
        next_cursor=listed.next_cursor,
        cursor=cursor,
        connectors_cursor=connectors_cursor,
        may_create=holds(actor.standing, "keys", "create"),
        key_form=key_form or KeyForm(),
        key_name_hint=KEY_NAME_HINT,
        created=created,
        created_title=created_title,
        shown_once=SHOWN_ONCE,
        problem=problem,
        grace_choices=key_actions.grace_choices(max_grace),
        revoked_state=KeyState.REVOKED,
        export=export,
        connectors=connector_list,
        connectors_next=connected.next_cursor if connected else None,
        may_connect=connected is not None and holds(actor.standing, "connectors", "create"),
        connector_form=connector_form or ConnectorForm(),
        connector_created=connector_created,
        destinations=sorted(portal.settings.destinations()),
        notice=notice,
        request_path=request.url.path,
    )


@router.get("/acquisitions", name="acquisitions")
def list_acquisitions(portal: PortalDep, member: MemberDep, cursor: str | None = None) -> Response:
    actor = member.signed.actor
    rows = []
    with portal.database.transaction(write=False) as uow:
        listed = acquisitions.list_acquisitions(uow, actor, PageRequest(PAGE_SIZE, cursor))
        names = organization_names(uow, member)
        offered: dict[str, OfferingOut | None] = {}
        acquired: dict[str, ApiOut | None] = {}
        for acquisition in listed.data:
            if acquisition.offering_id not in offered:
                offered[acquisition.offering_id] = _optional(
                    offerings.get_offering, uow, actor, acquisition.offering_id
                )
            if acquisition.api_id not in acquired:
                acquired[acquisition.api_id] = _optional(
                    apis.get_api, uow, actor, acquisition.api_id, portal.settings
                )
            rows.append(
                {
                    "acquisition": acquisition,
                    "offering": offered[acquisition.offering_id],
                    "api": acquired[acquisition.api_id],
                    "organization": names.get(
                        acquisition.organization_id, acquisition.organization_id
                    ),
                }
            )
    return portal.pages.render(
        "acquisitions.html",
        title="Acquisitions",
        member=member,
        current="/acquisitions",
        rows=rows,
        cursor=cursor,
        next_cursor=listed.next_cursor,
    )


def _in_acquisition(acquisition_id: str) -> key_actions.Scope:
    """The keys the acquisition's page answers for: its own."""

    def scope(uow: UnitOfWork, member: Member, key_id: str) -> KeyOut:
        return acquisition_key(uow, member, acquisition_id, key_id)[1]

    return scope


@router.get("/acquisitions/{acquisition_id}", name="acquisition")
def show_acquisition(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    cursor: str | None = None,
    connectors_cursor: str | None = None,
    done: str | None = None,
    key: str | None = None,
) -> Response:
    return acquisition_page(
        request,
        portal,
        member,
        acquisition_id,
        cursor=cursor,
        connectors_cursor=connectors_cursor,
        notice=key_actions.notice(portal, member, _in_acquisition(acquisition_id), done, key, DONE),
    )


@router.post("/acquisitions/{acquisition_id}/reacquire", name="acquisition_reacquire")
def reacquire(
    portal: PortalDep, member: MemberDep, acquisition_id: str, _: CheckedFormDep
) -> Response:
    with portal.database.transaction() as uow:
        acquisitions.reacquire(uow, member.signed.actor, acquisition_id)
    return redirect(f"/acquisitions/{acquisition_id}?done=reacquired")


@router.get("/acquisitions/{acquisition_id}/keys", name="acquisition_keys")
def keys_page(acquisition_id: str) -> Response:
    """Where a form's address leads when opened: the acquisition's page."""
    return redirect(f"/acquisitions/{quote(acquisition_id, safe='')}#keys")


@router.post("/acquisitions/{acquisition_id}/keys", name="acquisition_key_create")
def create_key(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    form: CheckedFormDep,
) -> Response:
    sent = KeyForm(name=form.one("name"))
    body = None
    if not sent.name.strip():
        sent.errors["name"] = "Name the key after who will use it."
    else:
        try:
            body = AcquisitionKeyCreate.model_validate({"name": sent.name})
        except ValidationError as error:
            sent.errors.update(field_errors(error))
    if body is None:
        return acquisition_page(request, portal, member, acquisition_id, key_form=sent, status=422)
    try:
        with portal.database.transaction() as uow:
            created = acquisitions.create_key(
                uow, member.signed.actor, acquisition_id, body, portal.settings, allow_request=True
            )
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        sent.errors["name" if error.code == "key_name_taken" else "form"] = error.message
        return acquisition_page(
            request, portal, member, acquisition_id, key_form=sent, status=error.status
        )
    return acquisition_page(
        request,
        portal,
        member,
        acquisition_id,
        created=created,
        created_title=f"New key “{created.name}”",
        status=201 if created.state is not KeyState.PENDING else 202,
    )


def _confirm(
    portal: Portal,
    member: Member,
    acquisition_id: str,
    key: KeyOut,
    *,
    action: str,
    title: str,
    text: str,
    button: str,
    choices: list[tuple[str, str]] | None = None,
) -> Response:
    """The confirmation a browser without scripts gets (with them, a dialog asks)."""
    return portal.pages.render(
        "acquisition_confirm.html",
        title=title,
        member=member,
        current="/acquisitions",
        heading=title,
        text=text,
        action=f"/acquisitions/{acquisition_id}/keys/{key.id}/{action}",
        back=f"/acquisitions/{acquisition_id}",
        button=button,
        choices=choices,
    )


@router.get("/acquisitions/{acquisition_id}/keys/{key_id}/delete", name="acquisition_key_ask")
def delete_form(portal: PortalDep, member: MemberDep, acquisition_id: str, key_id: str) -> Response:
    with portal.database.transaction(write=False) as uow:
        _, key = acquisition_key(uow, member, acquisition_id, key_id)
    return _confirm(
        portal,
        member,
        acquisition_id,
        key,
        action="delete",
        title=f"Delete “{key.name}”?",
        text=f"Whatever uses the key {key.start}… stops working at once. This cannot be undone.",
        button="Delete key",
    )


def _answer(
    request: Request,
    portal: Portal,
    member: Member,
    acquisition_id: str,
    key_id: str,
    change: key_actions.Change,
) -> Response:
    """Ask the change of one of the acquisition's keys; the page says what came of it."""
    outcome = key_actions.act(
        request, portal, member, key_id, _in_acquisition(acquisition_id), change
    )
    if isinstance(outcome, key_actions.Problem):
        return acquisition_page(
            request, portal, member, acquisition_id, problem=outcome, status=outcome.status
        )
    if outcome.created is not None:
        return acquisition_page(
            request,
            portal,
            member,
            acquisition_id,
            created=outcome.created,
            created_title=f"New secret for “{outcome.created.name}”",
        )
    if outcome.done == "deleted":
        return redirect(f"/acquisitions/{acquisition_id}?done=deleted")
    return redirect(f"/acquisitions/{acquisition_id}?done={outcome.done}&key={key_id}")


@router.post("/acquisitions/{acquisition_id}/keys/{key_id}/delete", name="acquisition_key_delete")
def delete_key(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    key_id: str,
    _: CheckedFormDep,
) -> Response:
    """Delete at any time: a revoked key is deleted, an active one revoked and deleted in one
    step where the policy lets this member revoke it without an approver."""
    return _answer(request, portal, member, acquisition_id, key_id, key_actions.delete(revoke=True))


@router.post("/acquisitions/{acquisition_id}/keys/{key_id}/revoke", name="acquisition_key_revoke")
def revoke_key(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    key_id: str,
    form: CheckedFormDep,
) -> Response:
    """Revoke, or where the policy wants an approver, ask one to."""
    return _answer(
        request, portal, member, acquisition_id, key_id, key_actions.revoke(form.one("reason"))
    )


@router.post("/acquisitions/{acquisition_id}/keys/{key_id}/renew", name="acquisition_key_renew")
def renew_key(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    key_id: str,
    _: CheckedFormDep,
) -> Response:
    return _answer(request, portal, member, acquisition_id, key_id, key_actions.renew)


@router.get(
    "/acquisitions/{acquisition_id}/keys/{key_id}/rotate", name="acquisition_key_ask_rotate"
)
def rotate_form(portal: PortalDep, member: MemberDep, acquisition_id: str, key_id: str) -> Response:
    with portal.database.transaction(write=False) as uow:
        _, key = acquisition_key(uow, member, acquisition_id, key_id)
        grace = key_actions.max_grace(uow, portal, member, key)
    return _confirm(
        portal,
        member,
        acquisition_id,
        key,
        action="rotate",
        title=f"Rotate “{key.name}”?",
        text="A new secret replaces this key's secret; the old one keeps working for the grace "
        "period chosen, then stops.",
        button="Rotate key",
        choices=key_actions.grace_choices(grace),
    )


@router.post("/acquisitions/{acquisition_id}/keys/{key_id}/rotate", name="acquisition_key_rotate")
def rotate_key(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    key_id: str,
    form: CheckedFormDep,
) -> Response:
    change = key_actions.rotate(portal, member, form.one("grace"))
    return _answer(request, portal, member, acquisition_id, key_id, change)
