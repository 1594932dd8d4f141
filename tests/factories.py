"""Small typed factories for test data. Each opens its own unit of work and commits it."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from keyward.core.actors import Actor, Via
from keyward.db.engine import Database
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import (
    AcquisitionCreate,
    AcquisitionKeyCreate,
    AcquisitionOut,
)
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiImport, ApiImported, KeyPolicy
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import AccountKeyCreate, KeyCreated
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberCreate, MemberOut
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import OfferingCreate, OfferingOut
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import (
    OrganizationCreate,
    OrganizationKind,
    OrganizationOut,
)
from keyward.domains.workspaces import service as workspaces
from keyward.domains.workspaces.schemas import WorkspaceCreate
from keyward.domains.workspaces.service import WorkspaceSetUp
from keyward.settings import Settings

_serial = itertools.count(1)


def make_workspace(
    db: Database, *, name: str | None = None, key_prefix: str = "kw"
) -> WorkspaceSetUp:
    n = next(_serial)
    with db.transaction() as uow:
        return workspaces.set_up_workspace(
            uow,
            WorkspaceCreate(
                name=name or f"workspace {n}",
                key_prefix=key_prefix,
                admin_email=f"admin{n}@example.com",
            ),
        )


def actor_for(db: Database, workspace_id: str, member_id: str, via: Via = Via.CLI) -> Actor:
    """Act as a member with all their current rights."""
    with db.transaction(write=False) as uow:
        return workspaces.actor_for_member(uow, workspace_id, member_id, via)


def admin(db: Database, set_up: WorkspaceSetUp) -> Actor:
    return actor_for(db, set_up.workspace.id, set_up.admin_member_id)


def make_member(
    db: Database,
    actor: Actor,
    *,
    email: str | None = None,
    name: str = "A Member",
    roles: Sequence[str] = (),
    permissions: Sequence[str] = (),
    organization_ids: Sequence[str] = (),
) -> MemberOut:
    body = MemberCreate(
        email=email or f"member{next(_serial)}@example.com",
        name=name,
        roles=list(roles),
        permissions=list(permissions),
        organization_ids=list(organization_ids),
    )
    with db.transaction() as uow:
        return members.create_member(uow, actor, body)


def make_key(
    db: Database,
    actor: Actor,
    *,
    name: str = "a key",
    permissions: Sequence[str] = ("keys:read",),
    expires_in: timedelta | None = None,
) -> KeyCreated:
    body = AccountKeyCreate(name=name, permissions=list(permissions), expires_in=expires_in)
    with db.transaction() as uow:
        return keys.issue_account_key(uow, actor, body)


def make_organization(
    db: Database,
    actor: Actor,
    *,
    name: str | None = None,
    kind: OrganizationKind = OrganizationKind.ACQUIRER,
) -> OrganizationOut:
    body = OrganizationCreate(name=name or f"Organization {next(_serial)}", kind=kind)
    with db.transaction() as uow:
        return organizations.create_organization(uow, actor, body)


@dataclass(frozen=True, slots=True)
class Party:
    """A member of an organization, with the role of its side, and the organization."""

    organization_id: str
    member_id: str
    actor: Actor


def make_party(
    db: Database,
    actor: Actor,
    *,
    kind: OrganizationKind = OrganizationKind.ACQUIRER,
    organization_id: str | None = None,
) -> Party:
    """A member with the acquirer (or provider) role in an organization of that kind, a new
    one unless given."""
    if organization_id is None:
        organization_id = make_organization(db, actor, kind=kind).id
    member = make_member(db, actor, roles=[kind.value], organization_ids=[organization_id])
    return Party(organization_id, member.id, actor_for(db, actor.workspace_id, member.id))


def full_key(db: Database, actor: Actor) -> KeyCreated:
    """An account key holding every right of its creator."""
    return make_key(db, actor, name="everything", permissions=actor.permissions.strings())


def secret(created: KeyCreated) -> str:
    assert created.key is not None
    return created.key


def bearer(created: KeyCreated | str) -> dict[str, str]:
    value = created if isinstance(created, str) else secret(created)
    return {"Authorization": f"Bearer {value}"}


PETSTORE_30 = """\
openapi: 3.0.3
info: {title: Petstore, version: "1.0"}
servers:
  - url: https://petstore.example.com/v1
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      parameters:
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200":
          description: the pets
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Pet"}}
    post:
      operationId: createPet
      tags: [admin]
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses:
        "201": {description: created}
  /pets/{petId}:
    get:
      operationId: showPet
      tags: [pets]
      parameters:
        - {name: petId, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: a pet}
  /health:
    get:
      operationId: health
      security: []
      responses:
        "200": {description: fine}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
"""

PETSTORE_20 = """{
  "swagger": "2.0",
  "info": {"title": "Petstore 2", "version": "1.0"},
  "host": "petstore.example.com",
  "basePath": "/v2",
  "schemes": ["https"],
  "securityDefinitions": {
    "api_key": {"type": "apiKey", "in": "header", "name": "X-Pet-Key"}
  },
  "security": [{"api_key": []}],
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets",
        "produces": ["application/json"],
        "responses": {
          "200": {"description": "ok", "schema": {"type": "array", "items": {"type": "string"}}}
        }
      }
    }
  }
}
"""


def make_api(
    db: Database,
    actor: Actor,
    *,
    spec: str = PETSTORE_30,
    name: str | None = None,
    mount_path: str | None = None,
    provider_organization_id: str | None = None,
) -> ApiImported:
    n = next(_serial)
    body = ApiImport.model_validate(
        {
            "name": name or f"API {n}",
            "upstream_url": "https://upstream.example.com",
            "mount_path": mount_path or f"api{n}",
            "provider_organization_id": provider_organization_id,
            "spec": spec,
        }
    )
    with db.transaction() as uow:
        return apis.import_api(uow, actor, body, Settings())


def make_offering(
    db: Database,
    actor: Actor,
    api_id: str,
    *,
    period: str | None = "P30D",
    tags: Sequence[str] = (),
    operation_ids: Sequence[str] = (),
) -> OfferingOut:
    selection = {"tags": list(tags), "operation_ids": list(operation_ids)}
    body = OfferingCreate.model_validate(
        {
            "api_id": api_id,
            "name": f"Offering {next(_serial)}",
            "acquisition_period": period,
            "operations": selection if tags or operation_ids else None,
        }
    )
    with db.transaction() as uow:
        return offerings.create_offering(uow, actor, body)


def make_acquisition(
    db: Database, actor: Actor, offering_id: str, organization_id: str
) -> AcquisitionOut:
    body = AcquisitionCreate(offering_id=offering_id, organization_id=organization_id)
    with db.transaction() as uow:
        return acquisitions.acquire(uow, actor, body)


def make_acquisition_key(
    db: Database, actor: Actor, acquisition_id: str, *, name: str | None = None
) -> KeyCreated:
    body = AcquisitionKeyCreate(name=name or f"key {next(_serial)}")
    with db.transaction() as uow:
        return acquisitions.create_key(uow, actor, acquisition_id, body, Settings())


def set_key_policy(db: Database, actor: Actor, api_id: str, **changes: object) -> None:
    """Replace an API's key policy with its current one plus `changes` (key_lifetime="P30D",
    renewal_requires_approval=True, ...)."""
    with db.transaction() as uow:
        current = apis.get_policy(uow, actor, api_id).model_dump(mode="json")
        for location in current["key_locations"]:
            location.pop("synthetic", None)
        apis.set_policy(uow, actor, api_id, KeyPolicy.model_validate({**current, **changes}))
