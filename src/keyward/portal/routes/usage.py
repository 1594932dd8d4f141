"""Usage: requests over time by status class, per key, acquisition, offering and API."""

from fastapi import APIRouter

from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
