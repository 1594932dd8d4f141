"""APIs, for providers: import and update specs, versions, key policy, offerings."""

from fastapi import APIRouter

from keyward.portal.routes import provider_apis, provider_offerings, provider_policy
from keyward.portal.routing import PortalRoute

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
# `/apis/import` before `/apis/{api_id}`, the offerings' fixed paths before their ids.
router.include_router(provider_apis.router)
router.include_router(provider_policy.router)
router.include_router(provider_offerings.router)
