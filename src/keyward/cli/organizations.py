"""`keyward organizations ...`: provider and acquirer organizations."""

from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.cli.human import YesOption, confirm
from keyward.domains.organizations import service
from keyward.domains.organizations.schemas import OrganizationCreate, OrganizationKind
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Manage provider and acquirer organizations.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[OrganizationKind | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """List organizations, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_organizations(uow, actor, PageRequest(limit, cursor), kind=kind)
    emit(page, as_json)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    kind: Annotated[OrganizationKind, typer.Option()],
    as_json: JsonFlag = False,
) -> None:
    """Create an organization."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            created = service.create_organization(
                uow, actor, OrganizationCreate(name=name, kind=kind)
            )
    emit(created, as_json)


@app.command("show")
def show(ctx: typer.Context, organization_id: str, as_json: JsonFlag = False) -> None:
    """Show one organization."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_organization(uow, actor, organization_id), as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, organization_id: str, yes: YesOption = False, as_json: JsonFlag = False
) -> None:
    """Delete an organization; its members stay in the workspace. Asks first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        confirm(f"Delete organization {organization_id}? This cannot be undone.", yes)
        with database.transaction() as uow:
            service.delete_organization(uow, actor, organization_id)
    emit({"id": organization_id, "deleted": True}, as_json)
