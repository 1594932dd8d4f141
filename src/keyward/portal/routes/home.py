"""The portal's home: who is signed in and where to go."""

from fastapi import APIRouter, Response

from keyward.portal.context import MemberDep, PortalDep
from keyward.portal.routes.invitations import may_invite
from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


@router.get("/", name="home")
def home(portal: PortalDep, member: MemberDep) -> Response:
    return portal.pages.render(
        "home.html", title="Home", member=member, current="/", may_invite=may_invite(member)
    )
