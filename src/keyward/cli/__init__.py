"""The `keyward` command line. It acts directly on `KEYWARD_DATABASE_URL`, as the workspace's
admin unless `--as` names another member."""

from typing import Annotated

import typer
from pydantic import ValidationError

from keyward.cli import (
    acquisitions,
    apis,
    audit,
    backup,
    connectors,
    gateways,
    keys,
    members,
    offerings,
    organizations,
    secrets,
    setup,
    usage,
    webhooks,
    workspace_policies,
)
from keyward.cli.context import CliState, fail
from keyward.core.errors import KeywardError
from keyward.settings import Settings

app = typer.Typer(
    name="keyward",
    help="Self-hosted API key management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="KEYWARD_DATABASE_URL", help="Default: sqlite:///./var/keyward.db"),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(envvar="KEYWARD_WORKSPACE", help="Workspace id or name (default: the first)."),
    ] = None,
    member: Annotated[
        str | None,
        typer.Option(
            "--as", envvar="KEYWARD_AS", help="Act as this member (id or e-mail), not the admin."
        ),
    ] = None,
) -> None:
    try:
        settings = Settings() if database_url is None else Settings(database_url=database_url)
    except ValidationError as error:
        # Named as they are set, and without the value given: it may be a secret.
        problems = [
            {"loc": [f"KEYWARD_{'_'.join(map(str, e['loc'])).upper()}"], "message": e["msg"]}
            for e in error.errors()
        ]
        fail(
            KeywardError(
                "A KEYWARD_* setting is not valid: see details.errors.",
                code="invalid_settings",
                details={"errors": problems},
            ),
            as_json=False,
        )
    ctx.obj = CliState(settings=settings, workspace=workspace, member=member)


app.command()(setup.init)
app.command()(setup.serve)
app.command()(backup.backup)
app.command()(backup.restore)
setup.workspaces_app.command("unused-keys")(workspace_policies.unused_keys)
app.add_typer(setup.workspaces_app, name="workspaces")
app.add_typer(members.app, name="members")
app.add_typer(organizations.app, name="organizations")
app.add_typer(keys.app, name="keys")
app.add_typer(keys.requests_app, name="requests")
app.add_typer(apis.app, name="apis")
app.add_typer(offerings.app, name="offerings")
app.add_typer(acquisitions.app, name="acquisitions")
app.command()(acquisitions.export)
app.add_typer(connectors.app, name="connectors")
app.command()(connectors.worker)
app.add_typer(audit.app, name="audit")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(secrets.app, name="secrets")
app.add_typer(gateways.app, name="gateways")
keys.app.command("usage")(usage.key_usage)
apis.app.command("usage")(usage.api_usage)
offerings.app.command("usage")(usage.offering_usage)
acquisitions.app.command("usage")(usage.acquisition_usage)


def main() -> None:
    app()
