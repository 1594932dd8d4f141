"""`keyward members ...`: list, show, create, update, invite, delete members and set their
rights."""

import sys
from typing import Annotated

import typer

from keyward.cli import gateways
from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.human import YesOption, confirm
from keyward.core.actors import Actor
from keyward.core.errors import NotFound
from keyward.db.engine import UnitOfWork
from keyward.domains import access
from keyward.domains.members import service
from keyward.domains.members.schemas import MemberCreate, MemberPermissionsUpdate, MemberUpdate
from keyward.domains.pagination import PageRequest
from keyward.domains.passwords import service as passwords

app = typer.Typer(help="Manage the members of a workspace and their rights.", no_args_is_help=True)

RoleOption = Annotated[
    list[str] | None,
    typer.Option("--role", "-r", help="admin, provider, acquirer, approver or auditor."),
]
PermissionOption = Annotated[
    list[str] | None,
    typer.Option("--permission", "-p", help="resource:action[@id]; repeat for several."),
]
OrganizationOption = Annotated[
    list[str] | None, typer.Option("--organization", "-o", help="Organization id; repeatable.")
]
MemberArgument = Annotated[
    str, typer.Argument(metavar="MEMBER", help="The member's id or e-mail address.")
]


def member_id(uow: UnitOfWork, actor: Actor, reference: str) -> str:
    """The id of the member named by id or e-mail address. An address names a member only to
    whom may read them; to anyone else it is answered like an unknown one, naming the address
    given (never the id it belongs to)."""
    if "@" not in reference:
        return reference
    # Whoever may read no member at all is refused alike for any address, known or not.
    access.gate(actor, "members", "read")
    found = service.named_member(uow, actor.workspace_id, reference)
    if found is None:
        raise access.MEMBERS.not_found(reference)
    try:
        return service.get_member(uow, actor, found.id).id
    except NotFound as error:
        raise access.MEMBERS.not_found(reference, type(error)) from None


def named_permissions(uow: UnitOfWork, actor: Actor, texts: list[str] | None) -> list[str]:
    """`resource:action[@id]` as typed, a member's binding given by id or e-mail address
    (`members:read@ada@example.com`) read as `member_id` reads a member named alone."""
    named = []
    for text in texts or []:
        right, _, bound = text.partition("@")
        if right.startswith("members:") and "@" in bound:
            text = f"{right}@{member_id(uow, actor, bound)}"
        named.append(text)
    return named


@app.command("list")
def list_(
    ctx: typer.Context,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    organization: Annotated[str | None, typer.Option(help="Only members of this one.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """List members, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_members(
                uow, actor, PageRequest(limit, cursor), active=active, organization_id=organization
            )
    emit(page, as_json)


@app.command("show")
def show(ctx: typer.Context, member: MemberArgument, as_json: JsonFlag = False) -> None:
    """Show one member."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_member(uow, actor, member_id(uow, actor, member)), as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: RoleOption = None,
    permission: PermissionOption = None,
    organization: OrganizationOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a member. Rights granted must be ones the acting member holds."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            body = MemberCreate(
                email=email,
                name=name,
                roles=role or [],
                permissions=named_permissions(uow, actor, permission),
                organization_ids=organization or [],
            )
            created = service.create_member(uow, actor, body)
    emit(created, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    member: MemberArgument,
    name: Annotated[str | None, typer.Option()] = None,
    email: Annotated[str | None, typer.Option()] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Deactivating stops their keys.")
    ] = None,
    organization: Annotated[
        list[str] | None,
        typer.Option(
            "--organization", "-o", help="Organization id; repeatable; replaces their list."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a member's name, e-mail, organizations or whether they are active."""
    with reporting(as_json):
        database, actor = connect(ctx)
        fields = {
            "name": name,
            "email": email,
            "active": active,
            "organization_ids": organization,
        }
        body = MemberUpdate.model_validate({k: v for k, v in fields.items() if v is not None})
        with database.transaction() as uow:
            updated = passwords.update_member(uow, actor, member_id(uow, actor, member), body)
        receipt = gateways.enforcement(ctx, database, uow)
    gateways.emit_enforced(updated, receipt, as_json)


@app.command("password")
def password(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The member's id or e-mail address.")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from standard input.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Set the password a member signs in to the portal with (at least 12 characters): asked
    for twice, or read from standard input. It is never echoed."""
    with reporting(as_json):
        database, actor = connect(ctx)
        if stdin:
            secret = sys.stdin.readline().rstrip("\r\n")
        else:
            secret = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
        body = MemberUpdate.model_validate({"password": secret})
        with database.transaction() as uow:
            updated = passwords.update_member(uow, actor, member_id(uow, actor, member), body)
    emit(updated, as_json)


@app.command("invite")
def invite(
    ctx: typer.Context,
    member: Annotated[str, typer.Argument(help="The member's id or e-mail address.")],
    as_json: JsonFlag = False,
) -> None:
    """E-mail a member an invitation: a link that sets their password once, before it expires.
    The worker of `keyward serve` sends it (KEYWARD_SMTP_HOST); links point at
    KEYWARD_PORTAL_URL."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            invited = member_id(uow, actor, member)
            sent = passwords.invite(uow, actor, invited, state(ctx).settings)
    emit(sent, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, member: MemberArgument, yes: YesOption = False, as_json: JsonFlag = False
) -> None:
    """Delete a member; every key they created is revoked. Asks first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        confirm(
            f"Delete member {member}? Every key they created is revoked; this cannot be undone.",
            yes,
        )
        with database.transaction() as uow:
            deleted = member_id(uow, actor, member)
            service.delete_member(uow, actor, deleted)
        receipt = gateways.enforcement(ctx, database, uow)
    gateways.emit_enforced({"id": deleted, "deleted": True}, receipt, as_json)


@app.command("permissions")
def permissions(ctx: typer.Context, member: MemberArgument, as_json: JsonFlag = False) -> None:
    """Show a member's roles, direct permissions and effective rights."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_permissions(uow, actor, member_id(uow, actor, member)), as_json)


@app.command("grant")
def grant(
    ctx: typer.Context,
    member: MemberArgument,
    role: RoleOption = None,
    permission: PermissionOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Replace a member's roles and direct permissions; their keys follow at once."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            body = MemberPermissionsUpdate(
                roles=role or [], permissions=named_permissions(uow, actor, permission)
            )
            granted = service.set_permissions(uow, actor, member_id(uow, actor, member), body)
        receipt = gateways.enforcement(ctx, database, uow)
    gateways.emit_enforced(granted, receipt, as_json)
