"""`keyward acquisitions ...` and `keyward export`: acquire, make named keys, export the spec."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.files import write_file
from keyward.cli.human import emit_created, table
from keyward.cli.keys import emit_keys
from keyward.core.errors import KeywardError
from keyward.core.openapi.rendering import Format, render
from keyward.domains.acquisitions import service
from keyward.domains.acquisitions.schemas import (
    AcquisitionCreate,
    AcquisitionKeyCreate,
    ExportVersion,
)
from keyward.domains.offerings import service as offerings
from keyward.domains.organizations import service as organizations
from keyward.domains.pagination import PageRequest

app = typer.Typer(help="Acquire offerings and manage their named keys.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    offering_id: Annotated[str, typer.Option("--offering")],
    organization_id: Annotated[str, typer.Option("--organization")],
    as_json: JsonFlag = False,
) -> None:
    """Acquire an offering for an acquirer organization."""
    with reporting(as_json):
        body = AcquisitionCreate(offering_id=offering_id, organization_id=organization_id)
        database, actor = connect(ctx)
        with database.transaction() as uow:
            created = service.acquire(uow, actor, body)
    emit(created, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    organization: Annotated[str | None, typer.Option(help="Only this organization's.")] = None,
    offering: Annotated[str | None, typer.Option(help="Only those of this offering.")] = None,
    api: Annotated[str | None, typer.Option(help="Only those of this API's offerings.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue a previous listing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List acquisitions, newest first: for people, with the offering, the organization and
    how long each is valid."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_acquisitions(
                uow,
                actor,
                PageRequest(limit, cursor),
                organization_id=organization,
                offering_id=offering,
                api_id=api,
            )
            offered = _names(
                lambda i: offerings.get_offering(uow, actor, i).name,
                {a.offering_id for a in page.data},
            )
            acquiring = _names(
                lambda i: organizations.get_organization(uow, actor, i).name,
                {a.organization_id for a in page.data},
            )
    if as_json:
        emit(page, as_json)
        return
    table(
        [
            {
                "id": a.id,
                "offering": _named(offered, a.offering_id),
                "organization": _named(acquiring, a.organization_id),
                "state": a.state.value,
                "valid_from": f"{a.valid_from:%Y-%m-%dT%H:%MZ}",
                "valid_until": f"{a.valid_until:%Y-%m-%dT%H:%MZ}" if a.valid_until else "never",
            }
            for a in page.data
        ]
    )
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})")


def _names(name_of: Callable[[str], str], ids: set[str]) -> dict[str, str]:
    """The names of those the actor may read; the others are shown by id."""
    found = {}
    for ident in ids:
        try:
            found[ident] = name_of(ident)
        except KeywardError:
            continue
    return found


def _named(names: dict[str, str], ident: str) -> str:
    return f"{names[ident]} ({ident})" if ident in names else ident


@app.command("show")
def show(ctx: typer.Context, acquisition_id: str, as_json: JsonFlag = False) -> None:
    """Show one acquisition and whether it is valid now."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_acquisition(uow, actor, acquisition_id), as_json)


@app.command("reacquire")
def reacquire(ctx: typer.Context, acquisition_id: str, as_json: JsonFlag = False) -> None:
    """Renew an acquisition for another period; its keys work again."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            renewed = service.reacquire(uow, actor, acquisition_id)
    emit(renewed, as_json)


@app.command("create-key")
def create_key(
    ctx: typer.Context,
    acquisition_id: str,
    name: Annotated[str, typer.Option(help="Who uses the key; unique in the acquisition.")],
    expires_in: Annotated[str | None, typer.Option(help="ISO-8601 duration.")] = None,
    reason: Annotated[
        str, typer.Option(help="For the approver, where the API's policy wants one.")
    ] = "",
    as_json: JsonFlag = False,
) -> None:
    """Make a named key for the acquisition; its secret is printed this once. Where the API's
    policy wants an approver, the key works once its issuance request is approved."""
    with reporting(as_json):
        body = AcquisitionKeyCreate.model_validate(
            {"name": name, "expires_in": expires_in, "reason": reason}
        )
        database, actor = connect(ctx)
        with database.transaction() as uow:
            created = service.create_key(
                uow, actor, acquisition_id, body, state(ctx).settings, allow_request=True
            )
    emit_created(created, as_json)


@app.command("keys")
def keys(ctx: typer.Context, acquisition_id: str, as_json: JsonFlag = False) -> None:
    """List the acquisition's keys (never their secrets); for people, while the acquisition is
    not valid its active keys are shown as expired with it."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_keys(uow, actor, acquisition_id, PageRequest())
            emit_keys(uow, actor, page, as_json)


def export(
    ctx: typer.Context,
    acquisition_id: str,
    version: Annotated[ExportVersion, typer.Option("--version", "-v")] = ExportVersion.V3,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.JSON,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Refuse what the version cannot express.")] = False,
    as_json: JsonFlag = False,  # accepted as by every command: failures are JSON either way
) -> None:
    """Export an acquisition's spec (gateway servers, key scheme injected) as 2.0 or 3.0.
    Failures are reported as JSON on stderr, with or without `--json`."""
    with reporting(True):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            exported = service.export_spec(
                uow, actor, acquisition_id, version, state(ctx).settings, strict=strict
            )
        data = render(exported.document, format)
        if output is not None:
            write_file(output, data, "export")
    for warning in exported.warnings:
        sys.stderr.write(f"warning [{warning.code}] {warning.pointer}: {warning.message}\n")
    if output is None:
        sys.stdout.buffer.write(data)
