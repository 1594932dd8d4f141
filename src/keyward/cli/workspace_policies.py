"""`keyward workspaces unused-keys`: the workspace's unused keys policy, shown or set."""

from typing import Annotated

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.core.errors import InvalidInput
from keyward.domains.workspaces import policies
from keyward.domains.workspaces.schemas import WorkspaceSettings


def unused_keys(
    ctx: typer.Context,
    warn_after: Annotated[
        str | None,
        typer.Option(help="ISO-8601 duration such as P60D: warn owners of keys unused that long."),
    ] = None,
    revoke_after: Annotated[
        str | None,
        typer.Option(help="ISO-8601 duration such as P90D: revoke keys unused that long."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Switch the policy off.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the unused keys policy, or set it (workspace admins): keys neither used nor created
    for --warn-after are announced to their owner, for --revoke-after revoked."""
    with reporting(as_json):
        changing = off or warn_after is not None or revoke_after is not None
        if off and (warn_after is not None or revoke_after is not None):
            raise InvalidInput(
                "Give --off alone, or --warn-after and/or --revoke-after.",
                code="conflicting_options",
            )
        database, actor = connect(ctx)
        if not changing:
            with database.transaction(write=False) as uow:
                shown = policies.get_settings(uow, actor)
        else:
            body = WorkspaceSettings.model_validate(
                {
                    "unused_keys": None
                    if off
                    else {"warn_after": warn_after, "revoke_after": revoke_after}
                }
            )
            with database.transaction() as uow:
                shown = policies.update_settings(uow, actor, body)
    unused = shown.unused_keys
    if as_json:
        emit(shown, as_json)
    elif unused is None:
        typer.echo("The unused keys policy is off.")
    else:
        emit(unused, as_json)
