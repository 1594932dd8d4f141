"""The rules for offerings: an API, how long acquisitions last, which operations are offered,
and the rate limits and quotas on each key and acquisition.

An operation selection must name tags and operationIds the API's current spec has, so an
offering never silently offers nothing. Limits are stored as `{"scope", "requests", "per"}` with
`per` as ISO-8601, the form gateways read; every change to them goes out on the change feed.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, Hidden, InvalidInput, NotFound
from keyward.core.ids import new_id, quote
from keyward.core.openapi import Document
from keyward.core.openapi.documents import iter_operations
from keyward.core.openapi.export import OperationFilter
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Api, Offering
from keyward.domains import access
from keyward.domains.apis.service import api_of, current_document
from keyward.domains.audit import service as audit
from keyward.domains.offerings import repository
from keyward.domains.offerings.schemas import (
    OfferingCreate,
    OfferingLimit,
    OfferingOut,
    OfferingUpdate,
    OperationSelection,
)
from keyward.domains.pagination import Page, PageRequest, split_page

_durations = TypeAdapter(timedelta)


def operation_filter(offering: Offering) -> OperationFilter:
    return OperationFilter(frozenset(offering.operation_tags), frozenset(offering.operation_ids))


def acquisition_period(offering: Offering) -> timedelta | None:
    if offering.acquisition_period is None:
        return None
    return _durations.validate_python(offering.acquisition_period)


def limits(offering: Offering) -> list[OfferingLimit]:
    return [OfferingLimit.model_validate(item) for item in offering.limits]


def _stored_limits(wanted: list[OfferingLimit]) -> list[dict[str, Any]]:
    """The limits as stored, refusing two limits with the same scope and period."""
    seen: set[tuple[str, timedelta]] = set()
    for limit in wanted:
        if (limit.scope, limit.per) in seen:
            per = _durations.dump_python(limit.per, mode="json")
            raise InvalidInput(
                f"Two limits per {limit.scope.value} over {per}: keep one, with the number of "
                "requests wanted.",
                code="duplicate_limit",
                details={"scope": limit.scope.value, "per": per},
            )
        seen.add((limit.scope, limit.per))
    return [limit.model_dump(mode="json") for limit in wanted]


def _out(offering: Offering) -> OfferingOut:
    selected = offering.operation_tags or offering.operation_ids
    return OfferingOut(
        id=offering.id,
        api_id=offering.api_id,
        name=offering.name,
        description=offering.description,
        available_until=offering.available_until,
        acquisition_period=acquisition_period(offering),
        operations=OperationSelection(
            tags=offering.operation_tags, operation_ids=offering.operation_ids
        )
        if selected
        else None,
        limits=limits(offering),
        created_at=offering.created_at,
        updated_at=offering.updated_at,
    )


def find_offering(
    uow: UnitOfWork, actor: Actor, offering_id: str, action: str = "read"
) -> Offering:
    """The offering, if the actor may `action` it."""
    return access.find(uow, actor, access.OFFERINGS, offering_id, action)


def offering_of(uow: UnitOfWork, workspace_id: str, offering_id: str) -> Offering:
    """The offering behind something the caller may already act on (an acquisition)."""
    offering = access.get(uow, access.OFFERINGS, workspace_id, offering_id)
    if offering is None:
        raise NotFound(
            f"No offering {quote(offering_id)} in this workspace.", code="offering_not_found"
        )
    return offering


def _api_to_offer(uow: UnitOfWork, actor: Actor, api_id: str) -> Api:
    """The API an offering is created for, if the actor may offer it; an API it may not see
    is answered like one that does not exist."""
    api = access.get(uow, access.APIS, actor.workspace_id, api_id)
    if api is None:
        raise access.APIS.not_found(api_id)
    offering = replace(access.resource_of(uow, api), kind="offerings", id=None)
    access.check(actor, offering, "create", hidden=lambda: access.APIS.not_found(api_id, Hidden))
    return api


def _check_selection(doc: Document, selection: OperationSelection | None) -> None:
    if selection is None:
        return
    tags: set[str] = set()
    ids: set[str] = set()
    for _, _, operation in iter_operations(doc):
        tags.update(operation.get("tags") or ())
        if operation.get("operationId"):
            ids.add(operation["operationId"])
    unknown_tags = sorted(set(selection.tags) - tags)
    unknown_ids = sorted(set(selection.operation_ids) - ids)
    if unknown_tags or unknown_ids:
        raise InvalidInput(
            "The selection names operations the API does not have.",
            code="unknown_operations",
            details={"tags": unknown_tags, "operation_ids": unknown_ids},
        )
    if not selection.tags and not selection.operation_ids:
        raise InvalidInput(
            "An empty selection offers nothing: leave `operations` out to offer every operation.",
            code="empty_selection",
        )


def _check_name_free(uow: UnitOfWork, actor: Actor, name: str) -> None:
    if repository.by_name(uow.session, actor.workspace_id, name) is not None:
        raise Conflict(f"An offering named {name!r} already exists.", code="offering_exists")


def _changed(uow: UnitOfWork, offering: Offering) -> None:
    uow.record_change(Change(offering.workspace_id, Entity.OFFERING, offering.id))


def create_offering(uow: UnitOfWork, actor: Actor, body: OfferingCreate) -> OfferingOut:
    access.gate(actor, "offerings", "create")
    api = _api_to_offer(uow, actor, body.api_id)
    _check_selection(current_document(uow, api), body.operations)
    _check_name_free(uow, actor, body.name)
    now = uow.clock.now()
    offering = Offering(
        id=new_id("off"),
        workspace_id=actor.workspace_id,
        api_id=api.id,
        name=body.name,
        description=body.description,
        available_until=body.available_until,
        acquisition_period=(
            _durations.dump_python(body.acquisition_period, mode="json")
            if body.acquisition_period
            else None
        ),
        operation_tags=sorted(set(body.operations.tags)) if body.operations else [],
        operation_ids=sorted(set(body.operations.operation_ids)) if body.operations else [],
        limits=_stored_limits(body.limits),
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, offering)
    _changed(uow, offering)
    out = _out(offering)
    audit.record(
        uow,
        actor,
        "offering.create",
        target_type="offering",
        target_id=offering.id,
        details=out.model_dump(
            mode="json", include={"api_id", "name", "acquisition_period", "limits"}
        ),
    )
    return out


def get_offering(uow: UnitOfWork, actor: Actor, offering_id: str) -> OfferingOut:
    return _out(find_offering(uow, actor, offering_id))


def acquirer_names(
    uow: UnitOfWork, actor: Actor, offering_id: str, organization_ids: list[str]
) -> dict[str, str]:
    """The names of the organizations (among `organization_ids`) that acquired the offering,
    for whoever may update it: a provider sees who acquired what it offers, though not the
    acquirer organizations themselves."""
    offering = find_offering(uow, actor, offering_id, "update")
    return repository.acquirer_names(uow.session, offering.id, organization_ids)


def offering_counts(uow: UnitOfWork, actor: Actor, api_ids: list[str]) -> dict[str, int]:
    """How many offerings the actor sees of each API (those without any are left out)."""
    access.gate(actor, "offerings", "read")
    return repository.offering_counts(
        uow.session, api_ids, visible=access.visible(actor, access.OFFERINGS)
    )


def key_counts(
    uow: UnitOfWork, actor: Actor, offering_id: str, acquisition_ids: list[str]
) -> dict[str, int]:
    """How many keys each acquisition (among `acquisition_ids`) of the offering has, for
    whoever may update the offering; acquisitions without keys are left out."""
    offering = find_offering(uow, actor, offering_id, "update")
    return repository.key_counts(uow.session, offering.id, acquisition_ids)


def list_offerings(
    uow: UnitOfWork, actor: Actor, page: PageRequest, *, api_id: str | None = None
) -> Page[OfferingOut]:
    """The offerings the actor may see (acquirers: the whole catalog), newest first."""
    access.gate(actor, "offerings", "read")
    rows = repository.list_offerings(
        uow.session,
        actor.workspace_id,
        page,
        visible=access.visible(actor, access.OFFERINGS),
        api_id=api_id,
    )
    kept, cursor = split_page(rows, page, lambda o: o.id)
    return Page[OfferingOut](data=[_out(o) for o in kept], next_cursor=cursor)


def update_offering(
    uow: UnitOfWork, actor: Actor, offering_id: str, body: OfferingUpdate
) -> OfferingOut:
    offering = find_offering(uow, actor, offering_id, "update")
    fields = body.model_fields_set
    changed: dict[str, Any] = {}
    if body.name is not None and body.name != offering.name:
        _check_name_free(uow, actor, body.name)
        offering.name = changed["name"] = body.name
    if body.description is not None:
        offering.description = body.description
        changed["description"] = True
    if "available_until" in fields:
        until = offering.available_until = body.available_until
        changed["available_until"] = until.isoformat() if until else None
    if "acquisition_period" in fields:
        period = body.acquisition_period
        offering.acquisition_period = (
            _durations.dump_python(period, mode="json") if period else None
        )
        changed["acquisition_period"] = offering.acquisition_period
    if "operations" in fields:
        api = api_of(uow, offering.workspace_id, offering.api_id)
        _check_selection(current_document(uow, api), body.operations)
        offering.operation_tags = sorted(set(body.operations.tags)) if body.operations else []
        offering.operation_ids = (
            sorted(set(body.operations.operation_ids)) if body.operations else []
        )
        changed["operations"] = True
    if body.limits is not None:
        stored = _stored_limits(body.limits)
        if stored != offering.limits:
            offering.limits = changed["limits"] = stored
    if changed:
        offering.updated_at = uow.clock.now()
        uow.session.flush()
        _changed(uow, offering)
        audit.record(
            uow,
            actor,
            "offering.update",
            target_type="offering",
            target_id=offering.id,
            details=changed,
        )
    return _out(offering)


def delete_offering(uow: UnitOfWork, actor: Actor, offering_id: str) -> None:
    offering = find_offering(uow, actor, offering_id, "delete")
    if repository.has_acquisitions(uow.session, offering.id):
        raise Conflict(
            "The offering has acquisitions; it can no longer be deleted. Set available_until "
            "to stop new acquisitions.",
            code="offering_has_acquisitions",
        )
    repository.delete(uow.session, offering)
    _changed(uow, offering)
    audit.record(
        uow,
        actor,
        "offering.delete",
        target_type="offering",
        target_id=offering.id,
        details={"name": offering.name},
    )
