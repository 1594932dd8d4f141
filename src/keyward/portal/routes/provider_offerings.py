"""An API's offerings, for its provider: create, edit and delete one (every operation or some,
by tag or operationId; how long acquisitions last; rate limits and quotas), and the
acquisitions each one has.

An offering is shown only under its own API's address: one of another API answers like one
that does not exist.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import Hidden, KeywardError
from keyward.db.engine import UnitOfWork
from keyward.domains import access
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiOut
from keyward.domains.offerings import service as offerings
from keyward.domains.offerings.schemas import (
    MAX_LIMITS,
    LimitScope,
    OfferingCreate,
    OfferingOut,
    OfferingUpdate,
)
from keyward.domains.pagination import PageRequest
from keyward.portal.context import (
    CheckedFormDep,
    Form,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.provider_forms import Amount, amount, duration, provided_api
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

ACQUISITIONS_PAGE_SIZE = 25
LIMIT_ROWS = 3
LONGEST_PERIOD = timedelta(days=36500)
LONGEST_LIMIT_PERIOD = timedelta(days=366)
PERIOD_UNITS = ("days", "hours")
LIMIT_UNITS = ("seconds", "minutes", "hours", "days")
SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
SCOPES = (
    (LimitScope.KEY.value, "per key"),
    (LimitScope.ACQUISITION.value, "per acquisition"),
)
FIELD_OF = {
    "name": "name",
    "offering_exists": "name",
    "description": "description",
    "acquisition_period": "period",
    "operations": "operations",
    "unknown_operations": "operations",
    "empty_selection": "operations",
    "limits": "limits",
    "duplicate_limit": "limits",
}
DONE = {
    "created": "The offering is published: acquirers find it in the catalogue.",
    "saved": "The offering is saved.",
}


@dataclass(slots=True)
class LimitRow:
    requests: str = ""
    count: str = ""
    unit: str = "minutes"
    scope: str = LimitScope.KEY.value


@dataclass(slots=True)
class OfferingForm:
    name: str = ""
    description: str = ""
    period: Amount = field(default_factory=lambda: Amount("30", "days"))
    some: bool = False
    tags: list[str] = field(default_factory=list)
    operation_ids: list[str] = field(default_factory=list)
    limits: list[LimitRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _limit_row(requests: int, per: timedelta, scope: str) -> LimitRow:
    seconds = int(per.total_seconds())
    unit = next(u for u in reversed(LIMIT_UNITS) if seconds % SECONDS[u] == 0)
    return LimitRow(str(requests), str(seconds // SECONDS[unit]), unit, scope)


def _shown(offering: OfferingOut) -> OfferingForm:
    selection = offering.operations
    return OfferingForm(
        name=offering.name,
        description=offering.description,
        period=amount(offering.acquisition_period),
        some=selection is not None,
        tags=list(selection.tags) if selection else [],
        operation_ids=list(selection.operation_ids) if selection else [],
        limits=[_limit_row(r.requests, r.per, r.scope.value) for r in offering.limits],
    )


def _padded(rows: list[LimitRow]) -> list[LimitRow]:
    """The limits given, then empty rows: at least one, and LIMIT_ROWS rows in all."""
    given = [row for row in rows if row.requests or row.count]
    return given + [LimitRow() for _ in range(max(1, LIMIT_ROWS - len(given)))]


def _read(form: Form) -> tuple[OfferingForm, dict[str, Any]]:
    """What the form asks for, and the body the offering services take (where it reads)."""
    typed = OfferingForm(
        name=form.one("name").strip(),
        description=form.one("description").strip(),
        period=Amount(form.one("period_count"), form.one("period_unit")),
        some=form.one("selection") == "some",
        tags=form.all("tag"),
        operation_ids=form.all("operation_id"),
    )
    body: dict[str, Any] = {"name": typed.name, "description": typed.description}
    try:
        period = duration(typed.period.count, typed.period.unit, largest=LONGEST_PERIOD)
        body["acquisition_period"] = period
    except ValueError as error:
        typed.errors["period"] = str(error)
    body["operations"] = (
        {"tags": typed.tags, "operation_ids": typed.operation_ids} if typed.some else None
    )
    if typed.some and not (typed.tags or typed.operation_ids):
        typed.errors["operations"] = "Tick the tags or operations to offer, or offer every one."
    limits = []
    for index in range(MAX_LIMITS + LIMIT_ROWS):
        row = LimitRow(
            form.one(f"limit-{index}-requests").strip(),
            form.one(f"limit-{index}-count").strip(),
            form.one(f"limit-{index}-unit") or "minutes",
            form.one(f"limit-{index}-scope") or LimitScope.KEY.value,
        )
        if f"limit-{index}-requests" not in form.fields:
            continue
        typed.limits.append(row)
        if not row.requests and not row.count:
            continue
        if not row.requests.isdigit() or not row.count.isdigit() or row.unit not in SECONDS:
            typed.errors["limits"] = (
                "Give each limit a whole number of requests and of a unit, or leave both empty."
            )
            continue
        per = timedelta(seconds=int(row.count) * SECONDS[row.unit])
        limits.append({"scope": row.scope, "requests": int(row.requests), "per": per})
    body["limits"] = limits
    return typed, body


def _offering(uow: UnitOfWork, member: Member, api: ApiOut, offering_id: str) -> OfferingOut:
    """The offering, if it is one of this API's."""
    offering = offerings.get_offering(uow, member.signed.actor, offering_id)
    if offering.api_id != api.id:
        raise access.OFFERINGS.not_found(offering_id, Hidden)
    return offering


@dataclass(frozen=True, slots=True)
class AcquisitionRow:
    id: str
    organization: str
    state: str
    valid_until: Any
    keys: int


def _acquisitions(
    uow: UnitOfWork, member: Member, offering: OfferingOut, cursor: str | None
) -> tuple[list[AcquisitionRow], str | None]:
    actor = member.signed.actor
    listed = acquisitions.list_acquisitions(
        uow, actor, PageRequest(ACQUISITIONS_PAGE_SIZE, cursor), offering_id=offering.id
    )
    names = offerings.acquirer_names(
        uow, actor, offering.id, [a.organization_id for a in listed.data]
    )
    counted = offerings.key_counts(uow, actor, offering.id, [a.id for a in listed.data])
    rows = []
    for acquisition in listed.data:
        rows.append(
            AcquisitionRow(
                acquisition.id,
                names.get(acquisition.organization_id, acquisition.organization_id),
                acquisition.state.value,
                acquisition.valid_until,
                counted.get(acquisition.id, 0),
            )
        )
    return rows, listed.next_cursor


def offering_page(
    portal: Portal,
    member: Member,
    api_id: str,
    offering_id: str | None = None,
    *,
    form: OfferingForm | None = None,
    cursor: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    rows: list[AcquisitionRow] = []
    next_cursor = None
    offering = None
    with portal.database.transaction(write=False) as uow:
        api = provided_api(uow, portal, member, api_id)
        names = apis.operation_names(uow, actor, api.id)
        if offering_id is not None:
            offering = _offering(uow, member, api, offering_id)
            rows, next_cursor = _acquisitions(uow, member, offering, cursor)
    shown = form or (_shown(offering) if offering else OfferingForm())
    shown.limits = _padded(shown.limits)
    return portal.pages.render(
        "offering.html",
        status,
        title=f"{api.name} · {offering.name if offering else 'new offering'}",
        member=member,
        current="/apis",
        api=api,
        offering=offering,
        form=shown,
        tags=names.tags,
        operation_ids=names.operation_ids,
        period_units=PERIOD_UNITS,
        limit_units=LIMIT_UNITS,
        scopes=[
            (LimitScope.KEY.value, "per key"),
            (LimitScope.ACQUISITION.value, "per acquisition"),
        ],
        acquisitions=rows,
        cursor=cursor,
        next_cursor=next_cursor,
        notice=notice,
    )


def _refused(request: Request, typed: OfferingForm, error: KeywardError) -> None:
    if error.status == 404:
        raise error
    if error.audited:
        audit_refusal(request, error)
    typed.errors[FIELD_OF.get(error.code, "form")] = error.message


def _invalid(typed: OfferingForm, error: ValidationError) -> None:
    for name, message in field_errors(error).items():
        typed.errors.setdefault(FIELD_OF.get(name, "form"), message)


@router.get("/apis/{api_id}/offerings/new", name="provider_offering_form")
def new_offering(portal: PortalDep, member: MemberDep, api_id: str) -> Response:
    return offering_page(portal, member, api_id)


@router.get("/apis/{api_id}/offerings", name="provider_offerings")
def offerings_page(portal: PortalDep, member: MemberDep, api_id: str) -> Response:
    """Where the new-offering form's address leads when opened: the API's offerings."""
    with portal.database.transaction(write=False) as uow:
        api = provided_api(uow, portal, member, api_id)
    return redirect(f"/apis/{api.id}#offerings")


@router.post("/apis/{api_id}/offerings", name="provider_offering_create")
def create_offering(
    request: Request, portal: PortalDep, member: MemberDep, api_id: str, form: CheckedFormDep
) -> Response:
    with portal.database.transaction(write=False) as uow:
        api = provided_api(uow, portal, member, api_id)
    typed, fields = _read(form)
    body = None
    try:
        body = OfferingCreate.model_validate({"api_id": api.id, **fields})
    except ValidationError as error:
        _invalid(typed, error)
    if typed.errors or body is None:
        return offering_page(portal, member, api_id, form=typed, status=422)
    try:
        with portal.database.transaction() as uow:
            made = offerings.create_offering(uow, member.signed.actor, body)
    except KeywardError as error:
        _refused(request, typed, error)
        return offering_page(portal, member, api_id, form=typed, status=error.status)
    return redirect(f"/apis/{api.id}/offerings/{made.id}?done=created")


@router.get("/apis/{api_id}/offerings/{offering_id}", name="provider_offering")
def show_offering(
    portal: PortalDep,
    member: MemberDep,
    api_id: str,
    offering_id: str,
    cursor: str | None = None,
    done: str | None = None,
) -> Response:
    return offering_page(
        portal, member, api_id, offering_id, cursor=cursor, notice=DONE.get(done or "")
    )


@router.post("/apis/{api_id}/offerings/{offering_id}", name="provider_offering_update")
def update_offering(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    api_id: str,
    offering_id: str,
    form: CheckedFormDep,
) -> Response:
    with portal.database.transaction(write=False) as uow:
        _offering(uow, member, provided_api(uow, portal, member, api_id), offering_id)
    typed, fields = _read(form)
    body = None
    try:
        body = OfferingUpdate.model_validate(fields)
    except ValidationError as error:
        _invalid(typed, error)
    if typed.errors or body is None:
        return offering_page(portal, member, api_id, offering_id, form=typed, status=422)
    try:
        with portal.database.transaction() as uow:
            _offering(uow, member, provided_api(uow, portal, member, api_id), offering_id)
            offerings.update_offering(uow, member.signed.actor, offering_id, body)
    except KeywardError as error:
        _refused(request, typed, error)
        return offering_page(portal, member, api_id, offering_id, form=typed, status=error.status)
    return redirect(f"/apis/{api_id}/offerings/{offering_id}?done=saved")


@router.post("/apis/{api_id}/offerings/{offering_id}/delete", name="provider_offering_delete")
def delete_offering(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    api_id: str,
    offering_id: str,
    _: CheckedFormDep,
) -> Response:
    try:
        with portal.database.transaction() as uow:
            _offering(uow, member, provided_api(uow, portal, member, api_id), offering_id)
            offerings.delete_offering(uow, member.signed.actor, offering_id)
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        typed = OfferingForm()
        with portal.database.transaction(write=False) as uow:
            api = provided_api(uow, portal, member, api_id)
            typed = _shown(_offering(uow, member, api, offering_id))
        typed.errors["delete"] = error.message
        return offering_page(portal, member, api_id, offering_id, form=typed, status=error.status)
    return redirect(f"/apis/{api_id}?done=offering-deleted#offerings")
