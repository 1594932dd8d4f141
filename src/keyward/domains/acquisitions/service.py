"""The rules for acquisitions: acquiring an offering for an organization, reacquiring it,
its named keys, and the spec acquirers export.

Keys of an acquisition carry one permission, `acquisitions:use@<acquisition>`, so they can
never do more than their creator: the verifier checks the creator still holds it on every use.
While the acquisition is not valid, its keys are kept and listed but answer
`acquisition_expired`; reacquiring makes the same keys work again.
"""

from dataclasses import dataclass
from datetime import datetime

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput
from keyward.core.ids import new_id, quote
from keyward.core.keys import KeyKind
from keyward.core.lifecycle import Change as KeyChange
from keyward.core.lifecycle import Step
from keyward.core.openapi import Document
from keyward.core.openapi.conversion import ConversionWarning
from keyward.core.openapi.export import export_as
from keyward.core.ownership import Resource, sees
from keyward.core.permissions import PermissionSet
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Acquisition, Offering
from keyward.domains import access
from keyward.domains.acquisitions import repository
from keyward.domains.acquisitions.schemas import (
    AcquisitionCreate,
    AcquisitionKeyCreate,
    AcquisitionOut,
    AcquisitionState,
    ExportVersion,
)
from keyward.domains.apis.service import (
    api_of,
    document_of,
    gateway_url,
    policy_lifetime,
    stored_locations,
)
from keyward.domains.audit import service as audit
from keyward.domains.caps import ensure_room
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import KeyCreated, KeyFilter, KeyOut
from keyward.domains.offerings.service import (
    acquisition_period,
    find_offering,
    limits,
    offering_of,
    operation_filter,
)
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.settings import Settings


def state(acquisition: Acquisition, now: datetime) -> AcquisitionState:
    if now < acquisition.valid_from:
        return AcquisitionState.SCHEDULED
    if acquisition.valid_until is not None and now >= acquisition.valid_until:
        return AcquisitionState.EXPIRED
    return AcquisitionState.ACTIVE


def _out(uow: UnitOfWork, acquisition: Acquisition, api_id: str) -> AcquisitionOut:
    return AcquisitionOut(
        id=acquisition.id,
        offering_id=acquisition.offering_id,
        api_id=api_id,
        organization_id=acquisition.organization_id,
        state=state(acquisition, uow.clock.now()),
        valid_from=acquisition.valid_from,
        valid_until=acquisition.valid_until,
        created_by=acquisition.created_by,
        created_at=acquisition.created_at,
        updated_at=acquisition.updated_at,
    )


def find_acquisition(
    uow: UnitOfWork,
    actor: Actor,
    acquisition_id: str,
    action: str,
    *,
    receives_secret: bool = False,
    for_update: bool = False,
) -> tuple[Acquisition, Offering]:
    """The acquisition, if the actor may `action` it (and, with `receives_secret`, hold
    secrets of its keys); its offering too. Locked for the transaction with `for_update`."""
    acquisition = access.find(
        uow,
        actor,
        access.ACQUISITIONS,
        acquisition_id,
        action,
        receives_secret=receives_secret,
        for_update=for_update,
    )
    return acquisition, offering_of(uow, acquisition.workspace_id, acquisition.offering_id)


def _check_available(offering: Offering, now: datetime) -> None:
    if offering.available_until is not None and now >= offering.available_until:
        raise Conflict(
            f"The offering {offering.name!r} can no longer be acquired "
            f"(it closed at {offering.available_until.isoformat()}).",
            code="offering_closed",
        )


def _until(offering: Offering, start: datetime) -> datetime | None:
    period = acquisition_period(offering)
    return start + period if period is not None else None


def _changed(uow: UnitOfWork, acquisition: Acquisition) -> None:
    uow.record_change(Change(acquisition.workspace_id, Entity.ACQUISITION, acquisition.id))


def acquire(uow: UnitOfWork, actor: Actor, body: AcquisitionCreate) -> AcquisitionOut:
    """Acquire an offering for an acquirer organization the actor may acquire for (its own,
    or any for a workspace admin)."""
    access.gate(actor, "acquisitions", "create")
    offering = find_offering(uow, actor, body.offering_id)
    now = uow.clock.now()
    _check_available(offering, now)
    organization = repository.organization(uow.session, actor.workspace_id, body.organization_id)

    def unknown() -> InvalidInput:
        return InvalidInput(
            f"No organization {quote(body.organization_id)} in this workspace.",
            code="organization_not_found",
        )

    if organization is None or not sees(actor.standing, access.resource_of(uow, organization)):
        raise unknown()
    if organization.kind != OrganizationKind.ACQUIRER:
        raise InvalidInput(
            f"{organization.name!r} is a {organization.kind} organization; only acquirer "
            "organizations acquire offerings.",
            code="organization_not_acquirer",
        )
    api = api_of(uow, offering.workspace_id, offering.api_id)
    access.check(
        actor,
        Resource(
            "acquisitions",
            providers=frozenset(filter(None, [api.provider_organization_id])),
            acquirers=frozenset({organization.id}),
            api_id=api.id,
        ),
        "create",
        hidden=unknown,
    )
    earlier = repository.existing(uow.session, offering.id, organization.id)
    if earlier is not None:
        raise Conflict(
            f"{organization.name!r} already acquired this offering as {earlier.id}; "
            "reacquire that one instead.",
            code="already_acquired",
            details={"acquisition_id": earlier.id},
        )
    valid_from = body.valid_from or now
    longest = _until(offering, valid_from)
    valid_until = body.valid_until or longest
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidInput("valid_until must be after valid_from.", code="invalid_period")
    if longest is not None and valid_until is not None and valid_until > longest:
        raise InvalidInput(
            f"The offering's acquisitions last at most until {longest.isoformat()}.",
            code="beyond_acquisition_period",
        )
    acquisition = Acquisition(
        id=new_id("acq"),
        workspace_id=actor.workspace_id,
        offering_id=offering.id,
        organization_id=organization.id,
        valid_from=valid_from,
        valid_until=valid_until,
        created_by=actor.member_id,
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, acquisition)
    _changed(uow, acquisition)
    audit.record(
        uow,
        actor,
        "acquisition.create",
        target_type="acquisition",
        target_id=acquisition.id,
        details={
            "offering_id": offering.id,
            "organization_id": organization.id,
            "valid_until": valid_until.isoformat() if valid_until else None,
        },
    )
    return _out(uow, acquisition, offering.api_id)


def get_acquisition(uow: UnitOfWork, actor: Actor, acquisition_id: str) -> AcquisitionOut:
    acquisition, offering = find_acquisition(uow, actor, acquisition_id, "read")
    return _out(uow, acquisition, offering.api_id)


def list_acquisitions(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    organization_id: str | None = None,
    offering_id: str | None = None,
    api_id: str | None = None,
) -> Page[AcquisitionOut]:
    access.gate(actor, "acquisitions", "read")
    rows = repository.list_acquisitions(
        uow.session,
        actor.workspace_id,
        page,
        visible=access.visible(actor, access.ACQUISITIONS),
        organization_id=organization_id,
        offering_id=offering_id,
        api_id=api_id,
    )
    kept, cursor = split_page(rows, page, lambda row: row[0].id)
    return Page[AcquisitionOut](
        data=[_out(uow, acquisition, api) for acquisition, api in kept], next_cursor=cursor
    )


def reacquire(uow: UnitOfWork, actor: Actor, acquisition_id: str) -> AcquisitionOut:
    """Renew an acquisition for another period from now: its keys (the same ones) work again."""
    acquisition, offering = find_acquisition(uow, actor, acquisition_id, "update")
    now = uow.clock.now()
    _check_available(offering, now)
    extended = _until(offering, now)
    current = acquisition.valid_until
    acquisition.valid_from = min(acquisition.valid_from, now)
    acquisition.valid_until = (
        None if extended is None else max(extended, current) if current else extended
    )
    acquisition.updated_at = now
    uow.session.flush()
    _changed(uow, acquisition)
    audit.record(
        uow,
        actor,
        "acquisition.reacquire",
        target_type="acquisition",
        target_id=acquisition.id,
        details={
            "valid_until": acquisition.valid_until.isoformat() if acquisition.valid_until else None
        },
    )
    return _out(uow, acquisition, offering.api_id)


def create_key(
    uow: UnitOfWork,
    actor: Actor,
    acquisition_id: str,
    body: AcquisitionKeyCreate,
    settings: Settings,
    *,
    allow_request: bool = False,
) -> KeyCreated:
    """A named key of the acquisition, for a member of its organization. The secret is in
    this answer only. Where the API's policy wants an approver for issuance, the key awaits
    one (with `allow_request`; else 409 `issuance_requires_approval`). At most
    `max_keys_per_acquisition` keys, revoked ones included (409 `key_limit_reached`)."""
    acquisition, offering = find_acquisition(
        uow, actor, acquisition_id, "use", receives_secret=True, for_update=True
    )
    now = uow.clock.now()
    if state(acquisition, now) is not AcquisitionState.ACTIVE:
        raise Conflict(
            "The acquisition is not valid now; reacquire it before making keys.",
            code="acquisition_expired",
        )
    if repository.key_named(uow.session, acquisition.id, body.name) is not None:
        raise Conflict(
            f"This acquisition already has a key named {body.name!r}.", code="key_name_taken"
        )
    ensure_room(
        repository.key_count(uow.session, acquisition.id),
        settings.max_keys_per_acquisition,
        what="keys",
        of="acquisition",
        code="key_limit_reached",
        setting="KEYWARD_MAX_KEYS_PER_ACQUISITION",
    )
    api = api_of(uow, acquisition.workspace_id, offering.api_id)
    step = keys.plan_issuance(actor, access.resource_of(uow, acquisition), api, allow_request)
    key, created = keys.issue_key(
        uow,
        actor,
        kind=KeyKind.ACQUISITION,
        name=body.name,
        permissions=PermissionSet.parse([f"acquisitions:use@{acquisition.id}"]),
        lifetime=keys.capped_lifetime(policy_lifetime(api), body.expires_in),
        metadata=body.metadata,
        acquisition_id=acquisition.id,
        api=api,
        awaiting_approval=step is Step.REQUEST,
    )
    if step is Step.REQUEST:
        request = keys.open_request(
            uow, actor, key, keys.policy_of_api(api), KeyChange.ISSUE, body.reason
        )
        created = created.model_copy(update={"pending_request_id": request.id})
    return created


def list_keys(
    uow: UnitOfWork, actor: Actor, acquisition_id: str, page: PageRequest
) -> Page[KeyOut]:
    acquisition, _ = find_acquisition(uow, actor, acquisition_id, "read")
    return keys.list_keys(uow, actor, KeyFilter(acquisition_id=acquisition.id), page)


@dataclass(frozen=True, slots=True)
class Export:
    document: Document
    warnings: tuple[ConversionWarning, ...]
    api_id: str
    api_version: int


def export_spec(
    uow: UnitOfWork,
    actor: Actor,
    acquisition_id: str,
    version: ExportVersion,
    settings: Settings,
    *,
    strict: bool = False,
    api_version: int | None = None,
) -> Export:
    """The API's spec (current, or version `api_version`) as this acquisition reaches it
    through the gateway."""
    _, offering = find_acquisition(uow, actor, acquisition_id, "read")
    api = api_of(uow, offering.workspace_id, offering.api_id)
    number = api_version or api.current_version
    exported = export_as(
        document_of(uow, api, number),
        stored_locations(api),
        version=version.value,
        server_url=gateway_url(api, settings),
        realm=api.name,
        operations=operation_filter(offering),
        strict=strict,
        limited=bool(limits(offering)),
    )
    return Export(exported.document, exported.warnings, api.id, number)
