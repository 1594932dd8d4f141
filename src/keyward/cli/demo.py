"""The demo `keyward init --demo` seeds: a provider with an API on offer, an acquirer using it."""

import secrets
from dataclasses import dataclass

from keyward.core.actors import Via
from keyward.db.engine import UnitOfWork
from keyward.domains.acquisitions.schemas import AcquisitionCreate, AcquisitionKeyCreate
from keyward.domains.acquisitions.service import acquire, create_key
from keyward.domains.apis.schemas import ApiImport
from keyward.domains.apis.service import import_api
from keyward.domains.members.schemas import MemberCreate, MemberUpdate
from keyward.domains.members.service import create_member, update_member
from keyward.domains.offerings.schemas import OfferingCreate
from keyward.domains.offerings.service import create_offering
from keyward.domains.organizations.schemas import OrganizationCreate, OrganizationKind
from keyward.domains.organizations.service import create_organization
from keyward.domains.workspaces.service import WorkspaceSetUp, actor_for_member, admin_actor
from keyward.settings import Settings

# A small API in OpenAPI 2.0 (the import converts it); it has no key scheme of its own, so
# keyward's default `X-API-Key` header applies.
PETSTORE = """\
swagger: "2.0"
info:
  title: Petstore
  version: "1.0"
  description: The demo API of keyward.
host: petstore.example.com
basePath: /v1
schemes: [https]
paths:
  /pets:
    get:
      operationId: listPets
      tags: [pets]
      parameters:
        - {name: limit, in: query, type: integer, maximum: 100}
      responses:
        "200":
          description: The pets.
          schema: {type: array, items: {$ref: "#/definitions/Pet"}}
    post:
      operationId: createPet
      tags: [pets]
      parameters:
        - {name: pet, in: body, required: true, schema: {$ref: "#/definitions/Pet"}}
      responses:
        "201": {description: Created.}
  /pets/{petId}:
    get:
      operationId: showPet
      tags: [pets]
      parameters:
        - {name: petId, in: path, required: true, type: string}
      responses:
        "200":
          description: The pet.
          schema: {$ref: "#/definitions/Pet"}
        "404": {description: No such pet.}
definitions:
  Pet:
    type: object
    required: [id, name]
    properties:
      id: {type: integer, format: int64}
      name: {type: string}
      tag: {type: string, x-nullable: true}
"""


@dataclass(frozen=True, slots=True)
class Demo:
    members: list[str]
    admin_email: str
    # The portal password of the admin and the demo's people, shown once.
    password: str
    api_id: str
    gateway_url: str
    acquisition_id: str
    acquisition_key: str


def seed_demo(uow: UnitOfWork, set_up: WorkspaceSetUp, settings: Settings) -> Demo:
    """Acme APIs offers the Petstore API; Globex acquired it and has a key named "mobile-app".
    The admin and the demo's people sign in to the portal with one new password."""
    password = secrets.token_urlsafe(12)
    admin = admin_actor(uow, set_up.workspace.id, set_up.admin_member_id)
    admin_email = update_member(
        uow, admin, set_up.admin_member_id, MemberUpdate.model_validate({"password": password})
    ).email
    provider = create_organization(
        uow, admin, OrganizationCreate(name="Acme APIs", kind=OrganizationKind.PROVIDER)
    )
    acquirer = create_organization(
        uow, admin, OrganizationCreate(name="Globex", kind=OrganizationKind.ACQUIRER)
    )
    people = [
        ("provider@example.com", "Pat Provider", "provider", [provider.id]),
        ("acquirer@example.com", "Alex Acquirer", "acquirer", [acquirer.id]),
        ("auditor@example.com", "Ada Auditor", "auditor", []),
    ]
    member_ids = [
        create_member(
            uow,
            admin,
            MemberCreate.model_validate(
                {
                    "email": email,
                    "name": name,
                    "roles": [role],
                    "organization_ids": organizations,
                    "password": password,
                }
            ),
        ).id
        for email, name, role, organizations in people
    ]
    pat = actor_for_member(uow, set_up.workspace.id, member_ids[0], Via.SYSTEM)
    alex = actor_for_member(uow, set_up.workspace.id, member_ids[1], Via.SYSTEM)
    # The demo's upstream is served by keyward itself, on loopback (`KEYWARD_DEMO_UPSTREAM`).
    api = import_api(
        uow,
        pat,
        ApiImport.model_validate(
            {
                "name": "Petstore",
                "description": "The demo API.",
                # The management API serves it when KEYWARD_DEMO_UPSTREAM is on (`make run`).
                "upstream_url": f"http://{settings.host}:{settings.port}/demo/petstore/v1",
                "mount_path": "petstore",
                "provider_organization_id": provider.id,
                "spec": PETSTORE,
            }
        ),
        settings.model_copy(update={"demo_upstream": True}),
    )
    offering = create_offering(
        uow,
        pat,
        OfferingCreate.model_validate(
            {"api_id": api.id, "name": "Petstore, a year", "acquisition_period": "P1Y"}
        ),
    )
    acquisition = acquire(
        uow, alex, AcquisitionCreate(offering_id=offering.id, organization_id=acquirer.id)
    )
    key = create_key(uow, alex, acquisition.id, AcquisitionKeyCreate(name="mobile-app"), settings)
    if key.key is None:
        raise RuntimeError("an acquisition key was created without its secret")
    return Demo(
        [email for email, *_ in people],
        admin_email,
        password,
        api.id,
        api.gateway_url,
        acquisition.id,
        key.key,
    )
