"""`/v1/apis`: importing OpenAPI documents, versions and the key policy."""

from fastapi import APIRouter, Response

from keyward.api.auth import ActorDep
from keyward.api.idempotency import CreationDep
from keyward.api.routes.common import WITH_BODY, PageDep, errors
from keyward.api.routes.gateways import enforcement
from keyward.api.runtime import DatabaseDep, RuntimeDep, SettingsDep
from keyward.domains.apis import service
from keyward.domains.apis.schemas import (
    ApiImport,
    ApiImported,
    ApiOut,
    ApiUpdate,
    ApiVersionOut,
    KeyPolicy,
    KeyPolicyChanged,
    KeyPolicyOut,
    SpecUpload,
)
from keyward.domains.pagination import Page

router = APIRouter(tags=["apis"])


@router.post("/apis", status_code=201, name="api.create", responses=errors(404, 409, *WITH_BODY))
def import_api(
    body: ApiImport, actor: ActorDep, creation: CreationDep, settings: SettingsDep
) -> ApiImported:
    """Import an API from an OpenAPI 2.0, 3.0 or 3.1 document (JSON or YAML, in `spec`).

    The document is checked whole first: every problem comes back in `details.problems`, each
    with a JSON pointer, and nothing is stored. Remote `$ref`s are refused, never fetched.
    """
    return creation.run(body, lambda uow: service.import_api(uow, actor, body, settings))


@router.get("/apis", name="api.list", responses=errors())
def list_apis(
    actor: ActorDep, database: DatabaseDep, settings: SettingsDep, page: PageDep
) -> Page[ApiOut]:
    with database.transaction(write=False) as uow:
        return service.list_apis(uow, actor, page, settings)


@router.get("/apis/{api_id}", name="api.read", responses=errors(404))
def read_api(api_id: str, actor: ActorDep, database: DatabaseDep, settings: SettingsDep) -> ApiOut:
    with database.transaction(write=False) as uow:
        return service.get_api(uow, actor, api_id, settings)


@router.patch("/apis/{api_id}", name="api.update", responses=errors(404, 409, *WITH_BODY))
def update_api(
    api_id: str, body: ApiUpdate, actor: ActorDep, database: DatabaseDep, settings: SettingsDep
) -> ApiOut:
    with database.transaction() as uow:
        return service.update_api(uow, actor, api_id, body, settings)


@router.delete("/apis/{api_id}", status_code=204, name="api.delete", responses=errors(404, 409))
def delete_api(api_id: str, actor: ActorDep, database: DatabaseDep) -> Response:
    """Delete an API with all its versions. Refused while offerings of it exist."""
    with database.transaction() as uow:
        service.delete_api(uow, actor, api_id)
    return Response(status_code=204)


@router.post(
    "/apis/{api_id}/versions",
    status_code=201,
    name="api.version.create",
    responses=errors(404, *WITH_BODY),
)
def add_version(
    api_id: str, body: SpecUpload, actor: ActorDep, creation: CreationDep, settings: SettingsDep
) -> ApiVersionOut:
    """Upload the provider's updated spec: a new immutable version, with the operations that
    were added, removed or changed."""
    return creation.run(body, lambda uow: service.add_version(uow, actor, api_id, body, settings))


@router.get("/apis/{api_id}/versions", name="api.version.list", responses=errors(404))
def list_versions(
    api_id: str, actor: ActorDep, database: DatabaseDep, page: PageDep
) -> Page[ApiVersionOut]:
    with database.transaction(write=False) as uow:
        return service.list_versions(uow, actor, api_id, page)


@router.get("/apis/{api_id}/policy", name="api.policy.read", responses=errors(404))
def read_policy(api_id: str, actor: ActorDep, database: DatabaseDep) -> KeyPolicyOut:
    with database.transaction(write=False) as uow:
        return service.get_policy(uow, actor, api_id)


@router.put("/apis/{api_id}/policy", name="api.policy.update", responses=errors(404, *WITH_BODY))
def replace_policy(
    api_id: str, body: KeyPolicy, actor: ActorDep, runtime: RuntimeDep
) -> KeyPolicyChanged:
    """Where keys travel and in which role, how long new keys live, which changes need
    approval. Existing keys keep their expiry. Answered once every live gateway applied the
    new policy (`enforcement`)."""
    with runtime.database.transaction() as uow:
        replaced = service.set_policy(uow, actor, api_id, body)
    return KeyPolicyChanged(**dict(replaced), enforcement=enforcement(runtime, uow))
