"""Approvals: the key requests an approver decides, and those decided."""

from fastapi import APIRouter

from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
