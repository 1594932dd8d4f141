"""`keyward connectors ...` and `keyward worker`: automatic exports and who delivers them."""

import signal
import sys
import threading
from typing import Annotated

import click
import typer

from keyward.cli.context import JsonFlag, connect, emit, open_database, reporting, state
from keyward.core.actors import Actor
from keyward.core.errors import Conflict
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import ConnectorCreate, ConnectorDeleted
from keyward.domains.pagination import PageRequest
from keyward.jobs.worker import Worker
from keyward.logs import configure_logging
from keyward.verifier import Verifier

app = typer.Typer(help="Deliver acquisitions' specs automatically.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    acquisition_id: str,
    kind: Annotated[str, typer.Option(help="webhook or storage")],
    url: Annotated[str | None, typer.Option(help="webhook: the https:// URL to post to.")] = None,
    destination: Annotated[
        str | None,
        typer.Option(help="storage: a destination the operator configured (default: local)."),
    ] = None,
    path: Annotated[
        str | None, typer.Option(help="storage: where below it, such as globex/petstore.json.")
    ] = None,
    version: Annotated[str, typer.Option(help="2.0 or 3.0")] = "3.0",
    format: Annotated[str, typer.Option(help="json or yaml")] = "json",
    key_stdin: Annotated[
        bool, typer.Option(help="Read an existing key of the acquisition from stdin.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Make a connector; the current spec is delivered at once, then after every update."""
    with reporting(as_json):
        body = ConnectorCreate.model_validate(
            {
                "kind": kind,
                "url": url,
                "destination": destination,
                "path": path,
                "version": version,
                "format": format,
                "key": sys.stdin.readline().strip() if key_stdin else None,
            }
        )
        database, actor = connect(ctx)
        settings = state(ctx).settings
        verifier = Verifier(database)
        with database.transaction() as uow:
            created = service.create_connector(
                uow,
                actor,
                acquisition_id,
                body,
                verify=lambda key: verifier.verify(key, actor.workspace_id),
                sealer=Sealer(settings.server_secrets()),
                settings=settings,
            )
    emit(created, as_json)


@app.command("list")
def list_(ctx: typer.Context, acquisition_id: str, as_json: JsonFlag = False) -> None:
    """An acquisition's connectors."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_connectors(uow, actor, acquisition_id, PageRequest())
    emit(page, as_json)


@app.command("deliveries")
def deliveries(ctx: typer.Context, connector_id: str, as_json: JsonFlag = False) -> None:
    """Every delivery attempt of a connector, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_deliveries(uow, actor, connector_id, PageRequest())
    emit(page, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context,
    connector_id: str,
    revoke_key: Annotated[
        bool | None,
        typer.Option(
            "--revoke-key/--keep-key",
            help="Revoke the key the connector delivered with it, or keep it working; asked "
            "at a terminal, needed in scripts while that key works.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Stop a connector, and revoke or keep the key it delivered."""
    with reporting(as_json):
        database, actor = connect(ctx)
        try:
            deleted = _delete(database, actor, connector_id, revoke_key)
        except Conflict as refused:
            if refused.code != "key_choice_required" or not sys.stdin.isatty():
                raise
            name, key_id = refused.details["key_name"], refused.details["key_id"]
            answer = click.prompt(
                f"Connector {connector_id} delivers the key {name!r} ({key_id}), which still "
                "works. Revoke that key with the connector, keep it working, or cancel?",
                type=click.Choice(["revoke", "keep", "cancel"]),
                default="cancel",
                err=True,
            )
            if answer == "cancel":
                sys.stderr.write("Nothing was changed.\n")
                raise typer.Exit(1) from None
            deleted = _delete(database, actor, connector_id, answer == "revoke")
    if as_json:
        emit(deleted, as_json)
    else:
        typer.echo(deleted.message)


def _delete(
    database: Database, actor: Actor, connector_id: str, revoke_key: bool | None
) -> ConnectorDeleted:
    with database.transaction() as uow:
        return service.delete_connector(uow, actor, connector_id, revoke_key=revoke_key)


def worker(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option(help="Sweep for expiry reminders, deliver what is due now, then exit.")
    ] = False,
) -> None:
    """Deliver the outbox (connector exports, e-mail and webhook notifications) with retries,
    and sweep for expiry reminders every KEYWARD_SWEEP_INTERVAL seconds, until interrupted."""
    settings = state(ctx).settings
    with reporting(False):
        configure_logging(settings.log_level)
        database = open_database(settings)
    runner = Worker(database, settings)
    if once:
        typer.echo(f"delivered {runner.once()} message(s)")
        return
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    runner.start()
    typer.echo("keyward worker running; Ctrl-C to stop")
    stopped.wait()
    runner.stop()
