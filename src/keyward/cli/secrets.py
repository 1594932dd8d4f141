"""`keyward secrets ...`: the server secrets that seal connectors' keys and webhook secrets.

The keyring is KEYWARD_SECRET_KEY (then KEYWARD_RETIRED_SECRET_KEYS), else the key file, one
secret per line, the current one first. `rotate` puts a new secret first in the key file and
seals every value again under it; the old secrets stay, opening only, until `retire` drops them
once nothing sealed with them is left. With KEYWARD_SECRET_KEY the operator rotates: a new
KEYWARD_SECRET_KEY, the old one in KEYWARD_RETIRED_SECRET_KEYS, then `reseal`.
"""

import secrets as tokens
from dataclasses import asdict

import typer

from keyward.cli.context import JsonFlag, emit, open_database, reporting, state
from keyward.core.errors import Conflict
from keyward.core.sealing import Sealer, key_id
from keyward.domains import sealed
from keyward.settings import Settings, write_secret_file

app = typer.Typer(
    help="Rotate the server secrets that seal connectors' keys and webhook secrets.",
    no_args_is_help=True,
)


def _kept_in(settings: Settings) -> str:
    return "KEYWARD_SECRET_KEY" if settings.secret_key is not None else str(settings.secret_file())


def _file_keyring(settings: Settings, action: str) -> None:
    if settings.secret_key is not None:
        raise Conflict(
            f"The secrets come from KEYWARD_SECRET_KEY, which keyward does not write: to {action}, "
            "set a new KEYWARD_SECRET_KEY, put the old one in KEYWARD_RETIRED_SECRET_KEYS and run "
            "'keyward secrets reseal'; remove it from there once 'keyward secrets status' shows "
            "nothing sealed with it.",
            code="secrets_from_environment",
        )


@app.command("status")
def status(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """The keyring (key ids only) and how many sealed values each key sealed."""
    with reporting(as_json):
        settings = state(ctx).settings
        keyring = Sealer(settings.server_secrets())
        database = open_database(settings)
        with database.transaction(write=False) as uow:
            counts = sealed.census(uow)
    emit(
        {
            "kept_in": _kept_in(settings),
            "current": keyring.current,
            "retired": keyring.key_ids[1:],
            "sealed_by_key": counts,
        },
        as_json,
    )


@app.command("reseal")
def reseal(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Seal every value again under the current secret."""
    with reporting(as_json):
        settings = state(ctx).settings
        database = open_database(settings)
        keyring = Sealer(settings.server_secrets())
        with database.transaction() as uow:
            done = sealed.reseal(uow, keyring)
    emit({"current": keyring.current, **asdict(done)}, as_json)


@app.command("rotate")
def rotate(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Make a new current secret in the key file and seal every value again under it; the old
    secrets keep opening until 'keyward secrets retire'."""
    with reporting(as_json):
        settings = state(ctx).settings
        _file_keyring(settings, "rotate")
        database = open_database(settings)
        kept = settings.file_secrets()
        write_secret_file(settings.secret_file(), [tokens.token_urlsafe(48).encode(), *kept])
        keyring = Sealer(settings.server_secrets())
        with database.transaction() as uow:
            done = sealed.reseal(uow, keyring)
    emit({"current": keyring.current, "retired": keyring.key_ids[1:], **asdict(done)}, as_json)


@app.command("retire")
def retire(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Drop every secret but the current one from the key file, once nothing sealed with them
    is left."""
    with reporting(as_json):
        settings = state(ctx).settings
        _file_keyring(settings, "retire secrets")
        database = open_database(settings)
        current, *retired = settings.file_secrets()
        with database.transaction(write=False) as uow:
            counts = sealed.census(uow)
        still = {kid: n for kid, n in counts.items() if kid != key_id(current)}
        if still:
            raise Conflict(
                "Some values are still sealed with a retired secret (or before key ids); run "
                "'keyward secrets reseal' first.",
                code="secrets_still_in_use",
                details={"sealed_by_key": still},
            )
        write_secret_file(settings.secret_file(), [current])
    emit({"current": key_id(current), "dropped": [key_id(old) for old in retired]}, as_json)
