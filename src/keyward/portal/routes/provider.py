"""APIs, for providers: import and update specs, versions, key policy, offerings."""

from fastapi import APIRouter

from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
