"""`/v1/acquisitions`: acquiring, reacquiring, named keys, and exporting the spec."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.runtime import DatabaseDep, SettingsDep
from keyward.core.ids import ID_REGEX
from keyward.core.keys import KeyState
from keyward.core.openapi.rendering import Format, render
from keyward.domains.acquisitions import service
from keyward.domains.acquisitions.schemas import (
    AcquisitionCreate,
    AcquisitionKeyCreate,
    AcquisitionOut,
    ExportVersion,
)
from keyward.domains.keys.schemas import KeyCreated, KeyOut
from keyward.domains.pagination import Page

router = APIRouter(tags=["acquisitions"])
IdFilter = Annotated[str | None, Query(pattern=ID_REGEX)]


@router.post(
    "/acquisitions",
    status_code=201,
    name="acquisition.create",
    responses=errors(404, 409, *WITH_BODY),
)
def acquire(body: AcquisitionCreate, actor: ActorDep, creation: CreationDep) -> AcquisitionOut:
    """Acquire an offering for an acquirer organization you belong to."""
    return creation.run(body, lambda uow: service.acquire(uow, actor, body))


@router.get("/acquisitions", name="acquisition.list", responses=errors())
def list_acquisitions(
    actor: ActorDep,
    database: DatabaseDep,
    page: PageDep,
    organization_id: IdFilter = None,
    offering_id: IdFilter = None,
    api_id: IdFilter = None,
) -> Page[AcquisitionOut]:
    with database.transaction(write=False) as uow:
        return service.list_acquisitions(
            uow,
            actor,
            page,
            organization_id=organization_id,
            offering_id=offering_id,
            api_id=api_id,
        )


@router.get("/acquisitions/{acquisition_id}", name="acquisition.read", responses=errors(404))
def read_acquisition(acquisition_id: str, actor: ActorDep, database: DatabaseDep) -> AcquisitionOut:
    with database.transaction(write=False) as uow:
        return service.get_acquisition(uow, actor, acquisition_id)


@router.post(
    "/acquisitions/{acquisition_id}/reacquire",
    name="acquisition.reacquire",
    responses=errors(404, 409),
)
def reacquire(acquisition_id: str, actor: ActorDep, database: DatabaseDep) -> AcquisitionOut:
    """Another period from now; the acquisition's keys (the same ones) work again."""
    with database.transaction() as uow:
        return service.reacquire(uow, actor, acquisition_id)


@router.post(
    "/acquisitions/{acquisition_id}/keys",
    status_code=201,
    name="acquisition.key.create",
    responses={
        **errors(404, 409, 429, *WITH_BODY),
        202: {
            "model": KeyCreated,
            "description": "The API's policy wants an approver: the key, with its secret, "
            "awaits the issuance request `pending_request_id` and works once it is approved.",
        },
    },
)
def create_key(
    acquisition_id: str,
    body: AcquisitionKeyCreate,
    actor: ActorDep,
    creation: CreationDep,
    settings: SettingsDep,
    response: Response,
) -> KeyCreated:
    """A named key for one person or partner, made by a member of the acquisition's
    organization. Its secret is in this response only: a retry with the same Idempotency-Key
    answers as the first time, with `key` null."""
    created = creation.run(
        body,
        lambda uow: service.create_key(
            uow, actor, acquisition_id, body, settings, allow_request=True
        ),
        status=lambda made: 202 if made.state is KeyState.PENDING else 201,
    )
    response.headers["Cache-Control"] = "no-store"
    return created


@router.get(
    "/acquisitions/{acquisition_id}/keys", name="acquisition.key.list", responses=errors(404)
)
def list_keys(
    acquisition_id: str, actor: ActorDep, database: DatabaseDep, page: PageDep
) -> Page[KeyOut]:
    with database.transaction(write=False) as uow:
        return service.list_keys(uow, actor, acquisition_id, page)


@router.get(
    "/acquisitions/{acquisition_id}/openapi",
    name="acquisition.export",
    responses={
        **errors(404),
        200: {
            "description": "The spec, as served by the gateway, with the key scheme injected.",
            "content": {"application/json": {}, "application/yaml": {}},
        },
    },
)
def export_spec(
    acquisition_id: str,
    actor: ActorDep,
    database: DatabaseDep,
    settings: SettingsDep,
    version: ExportVersion = ExportVersion.V3,
    format: Format = Format.JSON,
    strict: Annotated[
        bool, Query(description="Refuse instead of dropping what the version cannot express.")
    ] = False,
) -> Response:
    """Download the acquired API's spec in OpenAPI 2.0 or 3.0, JSON or YAML.

    What OpenAPI 2.0 cannot express is dropped and listed in `x-keyward-warnings` (with
    `strict=true`, the export is refused instead); a cookie key cannot be expressed at all.
    """
    with database.transaction(write=False) as uow:
        exported = service.export_spec(uow, actor, acquisition_id, version, settings, strict=strict)
    filename = f"{acquisition_id}-openapi-{version.value}.{format.value}"
    return Response(
        render(exported.document, format),
        media_type=format.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Keyward-Warnings": str(len(exported.warnings)),
        },
    )
