"""Admin: members, organizations, webhook endpoints and the audit log."""

from fastapi import APIRouter

from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
