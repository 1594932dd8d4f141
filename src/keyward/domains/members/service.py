"""The rules for members: creating, changing, deactivating, deleting, granting rights.

Least privilege: a caller may only grant rights it holds across the whole workspace, and may only
manage members whose rights it covers entirely (the ownership rule's), so nobody can demote, lock
out or impersonate someone above them. A member joins an organization only by someone who may
update that organization. The last active admin of a workspace can be neither deactivated,
stripped nor deleted.
"""

from collections.abc import Sequence
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput
from keyward.core.ids import new_id, quote
from keyward.core.ownership import role_permissions
from keyward.core.permissions import PermissionSet
from keyward.db.engine import UnitOfWork
from keyward.db.feed import Change, Entity
from keyward.db.models import Member
from keyward.db.rights import member_grants, member_rights
from keyward.domains import access
from keyward.domains.audit import service as audit
from keyward.domains.keys import service as keys
from keyward.domains.members import repository
from keyward.domains.members.schemas import (
    MemberCreate,
    MemberOut,
    MemberPermissionsOut,
    MemberPermissionsUpdate,
    MemberUpdate,
)
from keyward.domains.pagination import Page, PageRequest, split_page

_hasher = PasswordHasher()


@cache
def _nobody_hash() -> str:
    """Checked against when nobody matches, so that an unknown e-mail address takes as long to
    refuse as a wrong password; made when first needed, not by every process that imports this."""
    return _hasher.hash("keyward: nobody has this password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _password_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _nobody_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def member_signing_in(uow: UnitOfWork, workspace_id: str, email: str) -> Member | None:
    """The active member a sign-in form's e-mail address names, if any (trimmed, any case);
    text that is no address is not looked up (storage refuses some characters)."""
    email = email.strip().lower()
    if "@" not in email or not email.isprintable() or len(email) > 320:
        return None
    return active_member(uow, workspace_id, email)


def signing_in(uow: UnitOfWork, workspace_id: str, email: str, password: str) -> Member | None:
    """The active member of the workspace with this e-mail address and password, else None,
    whatever was wrong (no such member, inactive, no password set, another password), in about
    the same time. A hash made with older parameters is replaced by one made with today's."""
    member = member_signing_in(uow, workspace_id, email)
    stored = member.password_hash if member is not None else None
    matches = _password_matches(stored, password)
    if member is None or not matches:
        return None
    if stored is not None and _hasher.check_needs_rehash(stored):
        member.password_hash = hash_password(password)
        uow.session.flush()
    return member


def _outs(uow: UnitOfWork, members: Sequence[Member]) -> list[MemberOut]:
    ids = [m.id for m in members]
    roles = repository.roles_of(uow.session, ids)
    organizations = repository.organizations_of(uow.session, ids)
    return [
        MemberOut(
            id=m.id,
            email=m.email,
            name=m.name,
            active=m.active,
            roles=roles.get(m.id, []),
            organization_ids=organizations.get(m.id, []),
            has_password=m.password_hash is not None,
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
        for m in members
    ]


def _find(uow: UnitOfWork, actor: Actor, member_id: str, action: str) -> Member:
    """The member, if the actor may `action` them; changing another member needs every right
    they hold."""
    return access.find(uow, actor, access.MEMBERS, member_id, action)


def _check_organizations(
    uow: UnitOfWork, actor: Actor, wanted: list[str], *, before: Sequence[str] = ()
) -> None:
    """Joining or leaving an organization needs the right to update it; one the caller may
    not see is answered like one that does not exist."""
    for organization_id in sorted(set(wanted) ^ set(before)):

        def unknown(organization_id: str = organization_id) -> InvalidInput:
            return InvalidInput(
                f"No organization {quote(organization_id)} in this workspace.",
                code="organization_not_found",
                details={"organization_ids": [organization_id]},
            )

        row = access.get(uow, access.ORGANIZATIONS, actor.workspace_id, organization_id)
        if row is None:
            raise unknown()
        access.check(actor, access.resource_of(uow, row), "update", hidden=unknown)


def _require_grantable(actor: Actor, granted: PermissionSet, what: str) -> None:
    """Rights are granted only by whoever holds them across the whole workspace: a grant
    reaches as far as the granter's."""
    actor.require_all(granted, what, held=actor.standing.workspace_rights)


def _is_admin(rights: PermissionSet) -> bool:
    return rights.allows("*", "*")


def _keep_an_admin(uow: UnitOfWork, member: Member, rights_after: PermissionSet | None) -> None:
    """Refuse when `member` is an active admin, would stop being one, and is the last."""
    if not member.active or not _is_admin(member_rights(uow.session, member.id)):
        return
    if rights_after is not None and _is_admin(rights_after):
        return
    if repository.count_other_active_admins(uow.session, member.workspace_id, member.id) == 0:
        raise Conflict(
            "This is the workspace's last active admin; make another member admin first.",
            code="last_admin",
            details={"member_id": member.id},
        )


def _member_changed(uow: UnitOfWork, member: Member) -> None:
    uow.record_change(Change(member.workspace_id, Entity.MEMBER, member.id))


def create_member(uow: UnitOfWork, actor: Actor, body: MemberCreate) -> MemberOut:
    access.gate(actor, "members", "create")
    granted = PermissionSet.parse(body.permissions).union(role_permissions(body.roles))
    if len(granted):
        access.gate(actor, "members", "grant")
        _require_grantable(actor, granted, "create this member")
    email = body.email.lower()
    if repository.by_email(uow.session, actor.workspace_id, email) is not None:
        raise Conflict(
            f"A member with the e-mail {email} already exists in this workspace.",
            code="member_exists",
        )
    _check_organizations(uow, actor, body.organization_ids)
    now = uow.clock.now()
    member = Member(
        id=new_id("mem"),
        workspace_id=actor.workspace_id,
        email=email,
        name=body.name,
        password_hash=hash_password(body.password.get_secret_value()) if body.password else None,
        active=True,
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, member)
    repository.set_grants(uow.session, member, body.roles, body.permissions)
    repository.set_organizations(uow.session, member, body.organization_ids)
    audit.record(
        uow,
        actor,
        "member.create",
        target_type="member",
        target_id=member.id,
        details={
            "email": email,
            "roles": sorted(body.roles),
            "permissions": sorted(body.permissions),
            "organization_ids": sorted(body.organization_ids),
        },
    )
    return _outs(uow, [member])[0]


def get_member(uow: UnitOfWork, actor: Actor, member_id: str) -> MemberOut:
    return _outs(uow, [_find(uow, actor, member_id, "read")])[0]


def list_members(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    active: bool | None = None,
    organization_id: str | None = None,
    search: str | None = None,
) -> Page[MemberOut]:
    """The members the actor may see; `search` keeps those whose e-mail or name contains it
    (any case)."""
    access.gate(actor, "members", "read")
    rows = repository.list_members(
        uow.session,
        actor.workspace_id,
        page,
        visible=access.visible(actor, access.MEMBERS),
        active=active,
        organization_id=organization_id,
        search=search.strip() or None if search else None,
    )
    kept, cursor = split_page(rows, page, lambda m: m.id)
    return Page[MemberOut](data=_outs(uow, kept), next_cursor=cursor)


def update_member(uow: UnitOfWork, actor: Actor, member_id: str, body: MemberUpdate) -> MemberOut:
    member = _find(uow, actor, member_id, "update")
    changed: dict[str, object] = {}
    if body.email is not None and body.email.lower() != member.email:
        email = body.email.lower()
        if repository.by_email(uow.session, actor.workspace_id, email) is not None:
            raise Conflict(
                f"A member with the e-mail {email} already exists in this workspace.",
                code="member_exists",
            )
        changed["email"] = {"from": member.email, "to": email}
        member.email = email
    if body.name is not None and body.name != member.name:
        changed["name"] = {"from": member.name, "to": body.name}
        member.name = body.name
    if body.password is not None:
        member.password_hash = hash_password(body.password.get_secret_value())
        changed["password_changed"] = True
    if body.organization_ids is not None:
        before = repository.organizations_of(uow.session, [member.id]).get(member.id, [])
        if set(before) != set(body.organization_ids):
            _check_organizations(uow, actor, body.organization_ids, before=before)
            repository.set_organizations(uow.session, member, body.organization_ids)
            changed["organization_ids"] = sorted(set(body.organization_ids))
            # What the member's rights reach changed: their keys are decided anew.
            _member_changed(uow, member)
    if body.active is not None and body.active != member.active:
        if not body.active:
            _keep_an_admin(uow, member, rights_after=PermissionSet())
        member.active = body.active
        changed["active"] = body.active
        _member_changed(uow, member)
    if changed:
        member.updated_at = uow.clock.now()
        uow.session.flush()
        audit.record(
            uow, actor, "member.update", target_type="member", target_id=member.id, details=changed
        )
    return _outs(uow, [member])[0]


def delete_member(uow: UnitOfWork, actor: Actor, member_id: str) -> None:
    """Delete a member; every key they created is revoked in the same transaction."""
    member = _find(uow, actor, member_id, "delete")
    if member.id == actor.member_id:
        raise Conflict(
            "Members cannot delete themselves; ask another admin.", code="cannot_delete_self"
        )
    _keep_an_admin(uow, member, rights_after=PermissionSet())
    revoked = keys.revoke_keys_created_by(uow, actor, member.id, "creator deleted")
    _member_changed(uow, member)
    repository.delete_member(uow.session, member)
    audit.record(
        uow,
        actor,
        "member.delete",
        target_type="member",
        target_id=member.id,
        details={"email": member.email, "revoked_keys": revoked},
    )


def get_permissions(uow: UnitOfWork, actor: Actor, member_id: str) -> MemberPermissionsOut:
    member = _find(uow, actor, member_id, "read")
    direct, roles = member_grants(uow.session, member.id)
    return MemberPermissionsOut(
        member_id=member.id,
        roles=roles,
        permissions=direct,
        effective=member_rights(uow.session, member.id).strings(),
    )


def set_permissions(
    uow: UnitOfWork, actor: Actor, member_id: str, body: MemberPermissionsUpdate
) -> MemberPermissionsOut:
    """Replace a member's roles and direct permissions; their keys follow at once."""
    member = _find(uow, actor, member_id, "grant")
    after = PermissionSet.parse(body.permissions).union(role_permissions(body.roles))
    _require_grantable(actor, after, "grant these permissions")
    _keep_an_admin(uow, member, rights_after=after)
    before_direct, before_roles = member_grants(uow.session, member.id)
    repository.set_grants(uow.session, member, body.roles, body.permissions)
    member.updated_at = uow.clock.now()
    _member_changed(uow, member)
    audit.record(
        uow,
        actor,
        "member.permissions.update",
        target_type="member",
        target_id=member.id,
        details={
            "roles": {"from": before_roles, "to": sorted(set(body.roles))},
            "permissions": {"from": before_direct, "to": sorted(set(body.permissions))},
        },
    )
    return get_permissions(uow, actor, member_id)


def named_member(uow: UnitOfWork, workspace_id: str, reference: str) -> Member | None:
    """The member of the workspace with this id or e-mail, active or not, whoever asks: what
    the caller may then see or do of them is the ownership rule's, as for an id."""
    if "@" not in reference:
        return repository.get(uow.session, workspace_id, reference)
    return repository.by_email(uow.session, workspace_id, reference.lower())


def active_member(uow: UnitOfWork, workspace_id: str, reference: str) -> Member | None:
    """The active member of the workspace with this id or e-mail, whoever asks (to act as
    them: the CLI's `--as`)."""
    member = named_member(uow, workspace_id, reference)
    return member if member is not None and member.active else None


def first_active_admin(uow: UnitOfWork, workspace_id: str) -> str | None:
    return repository.first_active_admin(uow.session, workspace_id)


def own_member(uow: UnitOfWork, actor: Actor) -> MemberOut | None:
    """The member behind the actor; every member may see themselves."""
    if actor.member_id is None:
        return None
    member = access.get(uow, access.MEMBERS, actor.workspace_id, actor.member_id)
    return _outs(uow, [member])[0] if member is not None else None
