"""The catalogue: the workspace's offerings the member may see, and acquiring one for one of
their acquirer organizations.

The offering and acquisition services decide what is listed and who may acquire for which
organization, as for REST and the CLI.
"""

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.ownership import holds
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionCreate
from keyward.domains.apis import service as apis
from keyward.domains.offerings import service as offerings
from keyward.domains.organizations import service as organizations
from keyward.domains.organizations.schemas import OrganizationKind
from keyward.domains.pagination import PageRequest
from keyward.portal.context import CheckedFormDep, Member, MemberDep, Portal, PortalDep
from keyward.portal.routing import PortalRoute, audit_refusal, redirect
from keyward.portal.wording import includes, span

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why acquiring an offering did not happen, shown beside that offering."""

    offering_id: str
    message: str
    acquisition_id: str | None = None


def _page(
    portal: Portal,
    member: Member,
    *,
    cursor: str | None = None,
    refusal: Refusal | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    entries = []
    with portal.database.transaction(write=False) as uow:
        listed = offerings.list_offerings(uow, actor, PageRequest(PAGE_SIZE, cursor))
        names: dict[str, str] = {}
        for offering in listed.data:
            if offering.api_id not in names:
                try:
                    names[offering.api_id] = apis.get_api(
                        uow, actor, offering.api_id, portal.settings
                    ).name
                except KeywardError:
                    names[offering.api_id] = offering.api_id
            entries.append(
                {
                    "offering": offering,
                    "api_name": names[offering.api_id],
                    "includes": includes(offering),
                    "period": span(offering.acquisition_period),
                    "closed": offering.available_until is not None
                    and offering.available_until <= uow.clock.now(),
                }
            )
        may_acquire = holds(actor.standing, "acquisitions", "create")
        organized = (
            sorted(
                organizations.list_organizations(
                    uow, actor, PageRequest(200), kind=OrganizationKind.ACQUIRER
                ).data,
                key=lambda organization: organization.name.casefold(),
            )
            if may_acquire and holds(actor.standing, "organizations", "read")
            else []
        )
    return portal.pages.render(
        "catalogue.html",
        status,
        title="Catalogue",
        member=member,
        current="/catalogue",
        entries=entries,
        cursor=cursor,
        next_cursor=listed.next_cursor,
        may_acquire=may_acquire,
        organizations=organized,
        refusal=refusal,
    )


@router.get("/catalogue", name="catalogue")
def catalogue(portal: PortalDep, member: MemberDep, cursor: str | None = None) -> Response:
    return _page(portal, member, cursor=cursor)


@router.post("/catalogue/acquire", name="catalogue_acquire")
def acquire(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    offering_id = form.one("offering_id")
    try:
        body = AcquisitionCreate.model_validate(
            {"offering_id": offering_id, "organization_id": form.one("organization_id")}
        )
    except ValidationError:
        refusal = Refusal(offering_id, "Choose the organization to acquire this offering for.")
        return _page(portal, member, refusal=refusal, status=422)
    try:
        with portal.database.transaction() as uow:
            acquired = acquisitions.acquire(uow, member.signed.actor, body)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        earlier = error.details.get("acquisition_id")
        refusal = Refusal(offering_id, error.message, earlier if isinstance(earlier, str) else None)
        return _page(portal, member, refusal=refusal, status=error.status)
    return redirect(f"/acquisitions/{acquired.id}?done=acquired")
