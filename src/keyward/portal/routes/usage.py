"""Usage: requests over time by status class, per key, acquisition, offering and API.

Each page asks the usage services, which decide who may see what exactly as the REST API does:
a key's or an acquisition's usage for whoever may read it, an offering's or an API's for its
provider; anything else answers like what does not exist (or 403 where the caller may see the
resource but not its traffic). The chart is SVG drawn on the server, with the same numbers in
a table.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Response

from keyward.core.keys import KeyKind
from keyward.db.engine import UnitOfWork
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.apis import service as apis
from keyward.domains.keys import service as keys
from keyward.domains.offerings import service as offerings
from keyward.domains.usage import service as usage
from keyward.domains.usage.schemas import Granularity, UsageOut
from keyward.portal.context import Member, MemberDep, Portal, PortalDep
from keyward.portal.routing import PortalRoute
from keyward.portal.usage_chart import chart

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


class Span(StrEnum):
    """The ranges a chart offers: how far back from now, and by what."""

    DAY_BY_HOUR = "24h"
    WEEK_BY_HOUR = "7d-hourly"
    WEEK_BY_DAY = "7d"
    MONTH_BY_DAY = "30d"
    MONTH_BY_HOUR = "30d-hourly"


@dataclass(frozen=True, slots=True)
class SpanChoice:
    span: Span
    label: str
    length: timedelta
    granularity: Granularity


SPANS = (
    SpanChoice(Span.DAY_BY_HOUR, "24 hours, by hour", timedelta(hours=24), Granularity.HOUR),
    SpanChoice(Span.WEEK_BY_HOUR, "7 days, by hour", timedelta(days=7), Granularity.HOUR),
    SpanChoice(Span.WEEK_BY_DAY, "7 days, by day", timedelta(days=7), Granularity.DAY),
    SpanChoice(Span.MONTH_BY_DAY, "30 days, by day", timedelta(days=30), Granularity.DAY),
    SpanChoice(Span.MONTH_BY_HOUR, "30 days, by hour", timedelta(days=30), Granularity.HOUR),
)
_SPANS = {choice.span: choice for choice in SPANS}


@dataclass(frozen=True, slots=True)
class Subject:
    """What a chart is of, as the page names it."""

    kind: str
    name: str
    back: tuple[str, str] | None = None  # (address, label) of the page it belongs to
    section: str | None = None  # the navigation's section it is shown under, if not the page's


def _page(
    portal: Portal,
    member: Member,
    span: Span,
    here: str,
    read: Callable[[UnitOfWork, Any], UsageOut],
    describe: Callable[[UnitOfWork, UsageOut], Subject],
    current: str | None,
) -> Response:
    choice = _SPANS[span]
    with portal.database.transaction(write=False) as uow:
        until = uow.clock.now()
        shown = read(
            uow, {"since": until - choice.length, "until": until, "granularity": choice.granularity}
        )
        subject = describe(uow, shown)
    return portal.pages.render(
        "usage.html",
        title=f"Usage of {subject.name}",
        member=member,
        current=subject.section or current,
        subject=subject,
        usage=shown,
        chart=chart(shown),
        spans=SPANS,
        span=choice,
        here=here,
    )


@router.get("/usage/keys/{key_id}", name="usage_key")
def key_usage(
    portal: PortalDep, member: MemberDep, key_id: str, span: Span = Span.DAY_BY_HOUR
) -> Response:
    actor = member.signed.actor

    def describe(uow: UnitOfWork, _: UsageOut) -> Subject:
        key = keys.get_key(uow, actor, key_id)
        if key.kind is KeyKind.ACCOUNT or key.acquisition_id is None:
            return Subject(
                "account key", f"“{key.name}”", ("/account/keys", "Account keys"), "/account/keys"
            )
        return Subject(
            "key",
            f"“{key.name}”",
            (f"/acquisitions/{key.acquisition_id}", "its acquisition"),
        )

    return _page(
        portal,
        member,
        span,
        f"/usage/keys/{key_id}",
        lambda uow, range_: usage.key_usage(uow, actor, key_id, **range_),
        describe,
        "/keys",
    )


@router.get("/usage/acquisitions/{acquisition_id}", name="usage_acquisition")
def acquisition_usage(
    portal: PortalDep, member: MemberDep, acquisition_id: str, span: Span = Span.DAY_BY_HOUR
) -> Response:
    actor = member.signed.actor

    def describe(uow: UnitOfWork, _: UsageOut) -> Subject:
        acquisition = acquisitions.get_acquisition(uow, actor, acquisition_id)
        offering = offerings.offering_of(uow, actor.workspace_id, acquisition.offering_id)
        api = apis.api_of(uow, actor.workspace_id, acquisition.api_id)
        return Subject(
            "acquisition",
            f"{api.name} · {offering.name}",
            (f"/acquisitions/{acquisition.id}", "the acquisition"),
        )

    return _page(
        portal,
        member,
        span,
        f"/usage/acquisitions/{acquisition_id}",
        lambda uow, range_: usage.acquisition_usage(uow, actor, acquisition_id, **range_),
        describe,
        "/acquisitions",
    )


@router.get("/usage/offerings/{offering_id}", name="usage_offering")
def offering_usage(
    portal: PortalDep, member: MemberDep, offering_id: str, span: Span = Span.DAY_BY_HOUR
) -> Response:
    actor = member.signed.actor

    def describe(uow: UnitOfWork, _: UsageOut) -> Subject:
        offering = offerings.find_offering(uow, actor, offering_id, "update")
        api = apis.api_of(uow, actor.workspace_id, offering.api_id)
        return Subject("offering", f"{api.name} · {offering.name}", (f"/apis/{api.id}", api.name))

    return _page(
        portal,
        member,
        span,
        f"/usage/offerings/{offering_id}",
        lambda uow, range_: usage.offering_usage(uow, actor, offering_id, **range_),
        describe,
        "/apis",
    )


@router.get("/usage/apis/{api_id}", name="usage_api")
def api_usage(
    portal: PortalDep, member: MemberDep, api_id: str, span: Span = Span.DAY_BY_HOUR
) -> Response:
    actor = member.signed.actor

    def describe(uow: UnitOfWork, _: UsageOut) -> Subject:
        api = apis.find_api(uow, actor, api_id, "update")
        return Subject("API", api.name, (f"/apis/{api.id}", api.name))

    return _page(
        portal,
        member,
        span,
        f"/usage/apis/{api_id}",
        lambda uow, range_: usage.api_usage(uow, actor, api_id, **range_),
        describe,
        "/apis",
    )
