"""`keyward init`, `keyward serve` and `keyward workspaces`: getting a keyward running."""

import logging
import shlex
import shutil
import socket
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from keyward.cli.backup import ensure_servable
from keyward.cli.context import JsonFlag, emit, open_database, reporting, state
from keyward.cli.database import reach
from keyward.cli.demo import Demo, seed_demo
from keyward.cli.human import emit_created, table
from keyward.core.errors import Unavailable
from keyward.db.migrate import upgrade
from keyward.domains.pagination import PageRequest
from keyward.domains.workspaces.schemas import WorkspaceCreate
from keyward.domains.workspaces.service import (
    WorkspaceSetUp,
    default_workspace,
    list_workspaces,
    resolve_workspace,
    set_up_workspace,
)
from keyward.jobs.mail import where_mail_goes
from keyward.jobs.worker import Worker
from keyward.logs import MASKS, configure_logging
from keyward.settings import Settings
from keyward.verifier import Verifier

workspaces_app = typer.Typer(
    help="Create, list and show workspaces (tenants).", no_args_is_help=True
)


def _command_name() -> str:
    """How this user runs keyward: `keyward` when on PATH, else the full path of this script."""
    if shutil.which("keyward"):
        return "keyward"
    return shlex.quote(str(Path(sys.argv[0]).resolve()))


def _print_first_run(settings: Settings, set_up: WorkspaceSetUp, demo: Demo | None) -> None:
    key = set_up.admin_key.key
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(
        f'keyward is initialised: workspace "{set_up.workspace.name}" ({set_up.workspace.id}).'
    )
    typer.echo(
        "\nAdmin key, shown this once (keyward keeps only its hash; copy it now):\n\n"
        f"    {key}\n\n"
        "With keyward serving, try:\n\n"
        f'    curl -s {base}/v1/me -H "Authorization: Bearer {key}"\n'
        f'    curl -s {base}/v1/members -H "X-API-Key: {key}"\n'
        f'    curl -s -X POST {base}/v1/keys -H "Authorization: Bearer {key}" '
        "-H 'Content-Type: application/json' "
        """-d '{"name": "ci", "permissions": ["keys:read"]}'\n"""
    )
    if demo is None:
        typer.echo(
            f"The portal: {base}/ (keyward serve). Members sign in with a password; set yours "
            f"with:\n\n    {_command_name()} members password {set_up.admin_member_id}\n"
        )
        return
    typer.echo(
        "Demo: Acme APIs offers the Petstore API and Globex acquired it; members "
        f"{', '.join(demo.members)}.\n"
        'Globex\'s key "mobile-app", shown this once:\n\n'
        f"    {demo.acquisition_key}\n\n"
        "Call the Petstore through the gateway with it, verify it, and download the spec as "
        "Globex reaches it (OpenAPI 2.0, with the key scheme):\n\n"
        f'    curl -s "{demo.gateway_url}/pets?limit=2" -H "X-API-Key: {demo.acquisition_key}"\n'
        f'    curl -s -X POST {base}/v1/keys/verify -H "Authorization: Bearer {key}" '
        "-H 'Content-Type: application/json' "
        f"""-d '{{"key": "{demo.acquisition_key}"}}'\n"""
        f'    curl -s "{base}/v1/acquisitions/{demo.acquisition_id}/openapi'
        f'?version=2.0&format=yaml" -H "Authorization: Bearer {key}"\n'
    )
    typer.echo(
        f"The portal: {base}/ (keyward serve). Sign in as {demo.admin_email} or any of "
        f"{', '.join(demo.members)} with the password, shown this once:\n\n"
        f"    {demo.password}\n"
    )
    typer.echo(f"E-mails (invitations, password resets, key notices): {where_mail_goes(settings)}.")


def init(
    ctx: typer.Context,
    workspace_name: Annotated[str, typer.Option(help="Name of the default workspace.")] = "default",
    admin_email: Annotated[str, typer.Option(help="E-mail of the first admin.")] = (
        "admin@example.com"
    ),
    key_prefix: Annotated[str, typer.Option(help="Prefix of this workspace's keys.")] = "kw",
    demo: Annotated[
        bool, typer.Option(help="Also seed a demo: organizations, members, an API acquired.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create or migrate the database; on first run, create the workspace, admin and admin key."""
    settings = state(ctx).settings
    with reporting(as_json):
        database = reach(settings.database_url, create=True)
        with database.engine.begin() as connection:
            upgrade(connection)
        with database.transaction() as uow:
            existing = default_workspace(uow)
            if existing is None:
                set_up = set_up_workspace(
                    uow,
                    WorkspaceCreate(
                        name=workspace_name, key_prefix=key_prefix, admin_email=admin_email
                    ),
                )
                seeded = seed_demo(uow, set_up, settings) if demo else None
    if existing is None:
        if as_json:
            emit(
                {
                    "workspace_id": set_up.workspace.id,
                    "admin_member_id": set_up.admin_member_id,
                    "admin_key": set_up.admin_key.key,
                    "admin_key_id": set_up.admin_key.id,
                    # With --demo: the demo's key, portal password and ids, shown this once.
                    "demo": None if seeded is None else asdict(seeded),
                },
                as_json=True,
            )
        else:
            _print_first_run(settings, set_up, seeded)
        return
    if as_json:
        emit({"workspace_id": existing.id, "admin_member_id": None, "admin_key": None}, True)
        return
    typer.echo(
        f'keyward is already initialised: workspace "{existing.name}" ({existing.id}), '
        "database up to date.\n"
        "The admin key was shown once when it was made; keyward keeps only its hash, so it "
        "cannot be shown again. To make a new admin key:\n\n"
        f"    {_command_name()} keys create --name admin --permission '*:*'\n"
    )


def _listening(
    host: str,
    port: int,
    what: str = "the management API and portal",
    option: str = "--port",
    *,
    shared: bool = False,
) -> socket.socket:
    """The management API's address, held (bound) from before the gateway and the worker start,
    so that a port in use is one line naming it, not an error after the rest has started.
    Uvicorn binds it itself once this socket is closed, and says where it listens."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if shared:  # as the gateway's processes share their port, another gateway may
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listening.bind(address)
        except OSError:
            listening.close()
            raise
    except OSError as error:
        raise Unavailable(
            f"keyward cannot listen on {host}:{port} for {what}: "
            f"{error.strerror or type(error).__name__}. Stop what uses it, or choose another "
            f"port with {option} (KEYWARD_{option[2:].replace('-', '_').upper()}).",
            code="address_in_use",
            details={"host": host, "port": port},
        ) from None
    return listening


class Part(StrEnum):
    ALL = "all"
    API = "api"
    GATEWAY = "gateway"


def serve(
    ctx: typer.Context,
    part: Annotated[
        Part, typer.Argument(help="all: API, gateway and worker; or the API or the gateway alone.")
    ] = Part.ALL,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port of the management API.")] = None,
    gateway_port: Annotated[int | None, typer.Option(help="Port of the gateway.")] = None,
) -> None:
    """Run keyward until interrupted: the management API, the gateway and the worker."""
    # Where it listens is what every part goes by: the portal's links in e-mails, the egress
    # policy's own ports.
    given = {"host": host, "port": port, "gateway_port": gateway_port}
    settings = state(ctx).settings.model_copy(
        update={name: value for name, value in given.items() if value is not None}
    )
    with reporting(False):
        log_level = configure_logging(settings.log_level)
        database = open_database(settings)
        ensure_servable(database)
    gateway_host = settings.gateway_host or host or settings.host
    gateway_port = gateway_port or settings.gateway_port
    # The servers load only for the command that runs them; every other command starts faster.
    from keyward.gateway.runner import GatewayProcess, run_gateway
    from keyward.metrics import KeywardCollector, MetricsHub, serve_metrics

    if part is Part.GATEWAY:
        database.dispose()  # each gateway process opens its own
        with reporting(False):
            _listening(
                gateway_host, gateway_port, "the gateway", "--gateway-port", shared=True
            ).close()
            try:
                run_gateway(settings, gateway_host, gateway_port)
            except RuntimeError as error:  # the metrics' admin listener could not listen
                raise Unavailable(
                    f"{error}. Stop what uses it, or choose another port with "
                    "KEYWARD_METRICS_PORT.",
                    code="address_in_use",
                ) from None
        return
    import uvicorn

    from keyward.api import create_app
    from keyward.api.protocol import BoundedHeadProtocol
    from keyward.api.runtime import Runtime
    from keyward.portal import install as install_portal

    with reporting(False):
        listening = _listening(host or settings.host, port or settings.port)
    verifier = Verifier.serving(database, settings)
    runtime = Runtime(settings, database, verifier)
    # One admin listener for the whole: the gateway's processes summed, and the outbox.
    hub = MetricsHub() if part is Part.ALL else None
    stop_metrics = None
    if settings.metrics_port is not None:
        with reporting(False):
            try:
                stop_metrics = serve_metrics(
                    settings.metrics_host, settings.metrics_port, KeywardCollector(hub, database)
                )
            except OSError as error:
                where = f"{settings.metrics_host}:{settings.metrics_port}"
                raise Unavailable(
                    f"keyward cannot listen on {where} for its metrics: "
                    f"{error.strerror or type(error).__name__}. Stop what uses it, or choose "
                    "another port with KEYWARD_METRICS_PORT.",
                    code="address_in_use",
                    details={"host": settings.metrics_host, "port": settings.metrics_port},
                ) from None
    worker = gateway = None
    if part is Part.ALL:
        gateway = GatewayProcess(settings, gateway_host, gateway_port)
        if hub is not None:
            hub.follow(gateway.metrics, "gateway")
        with reporting(False):
            try:
                gateway.wait_started(timeout=120)
            except RuntimeError as error:
                raise Unavailable(f"{error}.", code="gateway_not_started") from None
        worker = Worker(database, settings)
        worker.start()
    app = create_app(runtime)
    install_portal(app, database, settings)
    try:
        config = uvicorn.Config(
            app,
            host=host or settings.host,
            port=port or settings.port,
            log_level=log_level,
            server_header=False,
            http=BoundedHeadProtocol,
        )
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).addFilter(MASKS)
        listening.close()
        uvicorn.Server(config).run()
    finally:
        if gateway is not None:
            gateway.stop()
        if worker is not None:
            worker.stop()
        if stop_metrics is not None:
            stop_metrics()


@workspaces_app.command("create")
def create_workspace(
    ctx: typer.Context,
    name: str,
    admin_email: Annotated[str, typer.Option(help="E-mail of the workspace's first admin.")],
    key_prefix: Annotated[str, typer.Option(help="Prefix of this workspace's keys.")] = "kw",
    as_json: JsonFlag = False,
) -> None:
    """Create another workspace with its own admin; prints that admin's key once."""
    with reporting(as_json):
        database = open_database(state(ctx).settings)
        with database.transaction() as uow:
            set_up = set_up_workspace(
                uow, WorkspaceCreate(name=name, key_prefix=key_prefix, admin_email=admin_email)
            )
    emit_created(
        {
            "workspace_id": set_up.workspace.id,
            "admin_member_id": set_up.admin_member_id,
            "admin_key": set_up.admin_key.key,
            "admin_key_id": set_up.admin_key.id,
        },
        as_json,
    )


@workspaces_app.command("list")
def list_workspaces_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue a previous listing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every workspace of the database, newest first; --workspace takes an id or a name."""
    with reporting(as_json):
        database = open_database(state(ctx).settings)
        with database.transaction(write=False) as uow:
            page = list_workspaces(uow, PageRequest(limit, cursor))
            default = default_workspace(uow)
    if as_json:
        emit(page, as_json)
        return
    table(
        [
            {
                "id": w.id,
                "name": w.name,
                "key_prefix": w.key_prefix,
                "created_at": f"{w.created_at:%Y-%m-%dT%H:%MZ}",
                "default": "yes" if default is not None and w.id == default.id else "",
            }
            for w in page.data
        ]
    )
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})")


@workspaces_app.command("show")
def show_workspace(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The workspace the CLI acts in (--workspace, or the default one)."""
    cli = state(ctx)
    with reporting(as_json):
        database = open_database(cli.settings)
        with database.transaction(write=False) as uow:
            emit(resolve_workspace(uow, cli.workspace), as_json)
