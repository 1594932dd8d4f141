"""An acquisition's spec for the acquirer: downloading it once, or connectors that deliver it
again after every provider update (create one, see its deliveries, delete it).

The connector and export services decide everything, as for REST and the CLI; a connector of
another acquisition than the one in the address answers like one that does not exist.
"""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from keyward.core.errors import Hidden, KeywardError
from keyward.core.openapi.rendering import Format, render
from keyward.core.sealing import Sealer
from keyward.db.engine import UnitOfWork
from keyward.domains import access
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import ExportVersion
from keyward.domains.connectors import service as connectors
from keyward.domains.connectors.schemas import ConnectorCreate, ConnectorOut
from keyward.domains.pagination import PageRequest
from keyward.portal.context import (
    CheckedFormDep,
    Form,
    Member,
    MemberDep,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.acquisitions import ConnectorForm, acquisition_page
from keyward.portal.routing import PortalRoute, audit_refusal, redirect
from keyward.verifier import Verifier

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25
# Service refusals that concern one field of the connector form.
FIELD_OF_CODE = {
    "invalid_destination": "url",
    "invalid_url": "url",
    "insecure_destination": "url",
    "destination_not_allowed": "url",
    "unknown_destination": "destination",
    "invalid_path": "path",
    "key_not_of_acquisition": "key",
    "cookie_api_key": "version",
}


@router.get("/acquisitions/{acquisition_id}/openapi", name="acquisition_export")
def download(
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    version: Annotated[ExportVersion, Query()] = ExportVersion.V3,
    format: Annotated[Format, Query()] = Format.JSON,
) -> Response:
    """The spec as this acquisition reaches it through the gateway, as a file."""
    with portal.database.transaction(write=False) as uow:
        exported = acquisitions.export_spec(
            uow, member.signed.actor, acquisition_id, version, portal.settings
        )
    filename = f"{acquisition_id}-openapi-{version.value}.{format.value}"
    return Response(
        render(exported.document, format),
        media_type=format.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Keyward-Warnings": str(len(exported.warnings)),
        },
    )


def _read_connector_form(fields: Form) -> tuple[ConnectorForm, ConnectorCreate | None]:
    sent = ConnectorForm(
        kind=fields.one("kind"),
        url=fields.one("url").strip(),
        destination=fields.one("destination"),
        path=fields.one("path").strip(),
        version=fields.one("version"),
        format=fields.one("format"),
        key_source=fields.one("key_source"),
        key_name=fields.one("key_name").strip(),
    )
    key = fields.one("key").strip()
    if sent.kind == "webhook" and not sent.url:
        sent.errors["url"] = "Enter the https:// address to deliver to."
    if sent.kind == "storage" and not sent.path:
        sent.errors["path"] = "Enter where to write the spec, such as globex/petstore.json."
    if sent.key_source not in ("generate", "existing"):
        sent.errors["key_source"] = "Choose a key to send."
    if sent.key_source == "existing" and not key:
        sent.errors["key"] = "Paste the key to send, or choose to generate one."
    if sent.errors:
        return sent, None
    webhook = sent.kind == "webhook"
    try:
        body = ConnectorCreate.model_validate(
            {
                "kind": sent.kind,
                "url": sent.url if webhook else None,
                "destination": None if webhook else sent.destination or None,
                "path": None if webhook else sent.path,
                "version": sent.version,
                "format": sent.format,
                "key": key if sent.key_source == "existing" else None,
                "key_name": sent.key_name
                if sent.key_source == "generate" and sent.key_name
                else None,
            }
        )
    except ValidationError as error:
        sent.errors.update(field_errors(error))
        return sent, None
    return sent, body


@router.get("/acquisitions/{acquisition_id}/connectors", name="connectors")
def connectors_page(acquisition_id: str) -> Response:
    """Where the form's address leads when opened: the acquisition's page."""
    return redirect(f"/acquisitions/{quote(acquisition_id, safe='')}#connectors")


@router.post("/acquisitions/{acquisition_id}/connectors", name="connector_create")
def create_connector(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    form: CheckedFormDep,
) -> Response:
    sent, body = _read_connector_form(form)
    if body is None:
        return acquisition_page(
            request, portal, member, acquisition_id, connector_form=sent, status=422
        )
    actor = member.signed.actor
    verifier = Verifier(portal.database)
    try:
        with portal.database.transaction() as uow:
            created = connectors.create_connector(
                uow,
                actor,
                acquisition_id,
                body,
                verify=lambda key: verifier.verify(key, actor.workspace_id),
                sealer=Sealer(portal.settings.server_secrets()),
                settings=portal.settings,
            )
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return acquisition_page(
            request, portal, member, acquisition_id, connector_form=sent, status=error.status
        )
    return acquisition_page(
        request, portal, member, acquisition_id, connector_created=created, status=201
    )


def acquisition_connector(
    uow: UnitOfWork, member: Member, acquisition_id: str, connector_id: str
) -> ConnectorOut:
    """One connector of the acquisition, as the member may read it; a connector of another
    acquisition answers like one that does not exist."""
    actor = member.signed.actor
    acquisition = acquisitions.get_acquisition(uow, actor, acquisition_id)
    connector = connectors.get_connector(uow, actor, connector_id)
    if connector.acquisition_id != acquisition.id:
        raise access.CONNECTORS.not_found(connector_id, Hidden)
    return connector


@router.get("/acquisitions/{acquisition_id}/connectors/{connector_id}", name="connector")
def show_connector(
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    connector_id: str,
    cursor: str | None = None,
) -> Response:
    with portal.database.transaction(write=False) as uow:
        connector = acquisition_connector(uow, member, acquisition_id, connector_id)
        deliveries = connectors.list_deliveries(
            uow, member.signed.actor, connector.id, PageRequest(PAGE_SIZE, cursor)
        )
    return portal.pages.render(
        "connector.html",
        title=f"Connector {connector.id}",
        member=member,
        current="/acquisitions",
        acquisition_id=acquisition_id,
        connector=connector,
        deliveries=deliveries.data,
        cursor=cursor,
        next_cursor=deliveries.next_cursor,
    )


@router.get(
    "/acquisitions/{acquisition_id}/connectors/{connector_id}/delete", name="connector_ask_delete"
)
def delete_form(
    portal: PortalDep, member: MemberDep, acquisition_id: str, connector_id: str
) -> Response:
    """The confirmation a browser without scripts gets (with them, a dialog asks)."""
    with portal.database.transaction(write=False) as uow:
        connector = acquisition_connector(uow, member, acquisition_id, connector_id)
    return portal.pages.render(
        "acquisition_confirm.html",
        title=f"Delete connector {connector.id}?",
        member=member,
        current="/acquisitions",
        heading=f"Delete connector {connector.id}?",
        text="It stops delivering the spec.",
        action=f"/acquisitions/{acquisition_id}/connectors/{connector.id}/delete",
        back=f"/acquisitions/{acquisition_id}/connectors/{connector.id}",
        button="Delete connector",
        choices=None,
        key_choice=connector.key_id,
    )


# The choice the delete form offers for the connector's key; none: it has no key that works.
REVOKE_KEY_CHOICES = {"revoke": True, "keep": False}


@router.post(
    "/acquisitions/{acquisition_id}/connectors/{connector_id}/delete", name="connector_delete"
)
def delete_connector(
    portal: PortalDep,
    member: MemberDep,
    acquisition_id: str,
    connector_id: str,
    form: CheckedFormDep,
) -> Response:
    """Delete the connector and revoke or keep its key, as the form chose (the service asks
    when the key still works and no choice was made)."""
    with portal.database.transaction() as uow:
        acquisition_connector(uow, member, acquisition_id, connector_id)
        deleted = connectors.delete_connector(
            uow,
            member.signed.actor,
            connector_id,
            revoke_key=REVOKE_KEY_CHOICES.get(form.one("key")),
        )
    done = "connector-deleted-key-revoked" if deleted.key_revoked else "connector-deleted"
    return redirect(f"/acquisitions/{acquisition_id}?done={done}#connectors")
