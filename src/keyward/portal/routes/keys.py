"""API keys: every key the member may act on, across acquisitions and account keys, with
filters, per-key actions and bulk delete."""

from fastapi import APIRouter

from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
