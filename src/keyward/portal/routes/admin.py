"""Admin: members, organizations, webhook endpoints and the audit log.

Every page is the services': they decide what the member sees and may change, and refuse the
rest. A member the Admin section is not shown to (no `members:create`, `members:update`,
`audit:read` or `webhooks:read`) gets "not found" for every admin page, as for a page that
does not exist.
"""

from fastapi import APIRouter, Response

from keyward.core.errors import NotFound
from keyward.core.ownership import holds
from keyward.domains.workspaces import policies
from keyward.portal.context import Member, MemberDep, PortalDep
from keyward.portal.routes import admin_audit, admin_members, admin_organizations, admin_webhooks
from keyward.portal.routes.admin_shared import ADMIN, require_admin
from keyward.portal.routing import PortalRoute
from keyward.portal.wording import span

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _parts(member: Member) -> list[tuple[str, str, str]]:
    standing = member.signed.actor.standing
    parts = []
    if holds(standing, "members", "read"):
        parts.append(
            (
                "/admin/members",
                "Members",
                "Find people, change their roles, permissions and organizations, deactivate "
                "them, invite someone.",
            )
        )
    if holds(standing, "organizations", "read"):
        parts.append(
            (
                "/admin/organizations",
                "Organizations",
                "Provider and acquirer organizations, and who belongs to them.",
            )
        )
    if holds(standing, "webhooks", "read"):
        parts.append(
            (
                "/admin/webhooks",
                "Webhook endpoints",
                "Where notifications are POSTed, signed; their delivery log.",
            )
        )
    if standing.workspace_rights.allows("audit", "read"):
        parts.append(
            (
                "/admin/audit",
                "Audit log",
                "Every change and refused attempt, filtered and exported as CSV.",
            )
        )
    return parts


@router.get("/admin", name="admin")
def overview(portal: PortalDep, member: MemberDep) -> Response:
    require_admin(member)
    parts = _parts(member)
    if not parts:
        raise NotFound("There is no such page.", code="page_not_found")
    # The unused keys policy, in words, for those who may read the workspace's settings.
    unused_keys: dict[str, str | None] | None = None
    shows_policy = member.signed.actor.standing.workspace_rights.allows("workspace", "read")
    if shows_policy:
        with portal.database.transaction(write=False) as uow:
            policy = policies.get_settings(uow, member.signed.actor).unused_keys
        if policy is not None:
            unused_keys = {
                "warn_after": span(policy.warn_after) if policy.warn_after else None,
                "revoke_after": span(policy.revoke_after) if policy.revoke_after else None,
            }
    return portal.pages.render(
        "admin.html",
        title="Admin",
        member=member,
        current=ADMIN,
        parts=parts,
        shows_policy=shows_policy,
        unused_keys=unused_keys,
    )


for part in (admin_members, admin_organizations, admin_webhooks, admin_audit):
    router.include_router(part.router)
