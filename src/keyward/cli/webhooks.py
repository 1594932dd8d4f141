"""`keyward webhooks ...`: where the workspace's notifications are POSTed, signed."""

from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.human import YesOption, confirm, emit_created
from keyward.core.sealing import Sealer
from keyward.domains.pagination import PageRequest
from keyward.domains.webhooks import service
from keyward.domains.webhooks.schemas import WebhookEndpointCreate, WebhookSecretRotate

app = typer.Typer(help="Send notifications to signed webhooks.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(help="https://... (or http://...) to POST to.")],
    event: Annotated[
        list[str] | None,
        typer.Option(help="An event to send (repeatable); default: every event."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Add an endpoint; prints its signing secret once."""
    with reporting(as_json):
        body = WebhookEndpointCreate.model_validate(
            {"url": url, "events": event or [], "description": description}
        )
        database, actor = connect(ctx)
        settings = state(ctx).settings
        with database.transaction() as uow:
            created = service.create_endpoint(
                uow, actor, body, sealer=Sealer(settings.server_secrets()), settings=settings
            )
    emit_created(created, as_json)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The workspace's webhook endpoints."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_endpoints(uow, actor, PageRequest())
    emit(page, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context, webhook_id: str, yes: YesOption = False, as_json: JsonFlag = False
) -> None:
    """Stop sending to an endpoint. Asks first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        confirm(f"Delete webhook endpoint {webhook_id}? This cannot be undone.", yes)
        with database.transaction() as uow:
            service.delete_endpoint(uow, actor, webhook_id)
    emit({"id": webhook_id, "deleted": True}, as_json)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    webhook_id: str,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """An endpoint's delivery log, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_deliveries(uow, actor, webhook_id, PageRequest(limit, cursor))
    emit(page, as_json)


@app.command("test")
def send_test(ctx: typer.Context, webhook_id: str, as_json: JsonFlag = False) -> None:
    """Send a signed `webhook.test` event to an endpoint (the worker delivers it)."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            delivery = service.send_test_event(uow, actor, webhook_id)
    emit(delivery, as_json)


@app.command("redeliver")
def redeliver(
    ctx: typer.Context, webhook_id: str, delivery_id: str, as_json: JsonFlag = False
) -> None:
    """Send a delivered or failed delivery's event again, as a new delivery."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            delivery = service.redeliver(uow, actor, webhook_id, delivery_id)
    emit(delivery, as_json)


@app.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    webhook_id: str,
    grace: Annotated[
        str,
        typer.Option(
            help="How long the old secret keeps signing next to the new one (at most P7D; "
            "PT0S: it stops at once)."
        ),
    ] = "PT24H",
    as_json: JsonFlag = False,
) -> None:
    """Give an endpoint a new signing secret (printed once); the old one also signs deliveries
    for the grace period."""
    with reporting(as_json):
        database, actor = connect(ctx)
        settings = state(ctx).settings
        body = WebhookSecretRotate.model_validate({"grace": grace})
        with database.transaction() as uow:
            rotated = service.rotate_secret(
                uow,
                actor,
                webhook_id,
                sealer=Sealer(settings.server_secrets()),
                grace=body.grace,
            )
    emit_created(rotated, as_json)
