"""`keyward apis ...`: import OpenAPI documents, add versions, see and set the key policy."""

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.files import read_file
from keyward.cli.members import member_id
from keyward.core.actors import Actor
from keyward.core.errors import InvalidInput
from keyward.core.openapi.loading import load
from keyward.core.openapi.problems import SpecError
from keyward.db.engine import UnitOfWork
from keyward.domains.apis import service
from keyward.domains.apis.schemas import ApiImport, KeyPolicy, SpecUpload
from keyward.domains.pagination import PageRequest

app = typer.Typer(
    help="Import APIs from OpenAPI, add versions, set key policies.", no_args_is_help=True
)

# Files are read, and a missing one named, by the command: one line, with the error code.
SpecFile = Annotated[Path, typer.Argument(help="OpenAPI 2.0/3.0/3.1, JSON or YAML.")]


def _spec_text(path: Path) -> str:
    try:
        return read_file(path, "spec").decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text.", code="invalid_spec") from None


def _defaults(text: str) -> dict[str, Any]:
    """Name, upstream and mount path as the spec suggests them (title, first server)."""
    try:
        document = load(text.encode("utf-8")).document
    except SpecError:
        return {}  # the import itself reports the problems
    title = str((document.get("info") or {}).get("title") or "")
    servers = document.get("servers") or []
    upstream = servers[0].get("url") if servers and isinstance(servers[0], dict) else None
    if document.get("host"):
        scheme = (document.get("schemes") or ["https"])[0]
        upstream = f"{scheme}://{document['host']}{document.get('basePath', '')}"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60]
    return {"name": title or None, "upstream_url": upstream, "mount_path": slug or None}


@app.command("import")
def import_(
    ctx: typer.Context,
    spec: SpecFile,
    name: Annotated[str | None, typer.Option(help="Default: the spec's title.")] = None,
    upstream: Annotated[
        str | None, typer.Option(help="Where the gateway forwards; default: the spec's server.")
    ] = None,
    mount: Annotated[
        str | None, typer.Option(help="Gateway mount path; default: from the name.")
    ] = None,
    description: str = "",
    as_json: JsonFlag = False,
) -> None:
    """Import an API from its OpenAPI document (version 1)."""
    with reporting(as_json):
        text = _spec_text(spec)
        suggested = _defaults(text)
        try:
            body = ApiImport.model_validate(
                {
                    "name": name or suggested.get("name"),
                    "upstream_url": upstream or suggested.get("upstream_url"),
                    "mount_path": mount or suggested.get("mount_path"),
                    "description": description,
                    "spec": text,
                }
            )
        except ValidationError:
            # What the options lack is often what a broken spec failed to suggest: the spec's
            # own problems come first, every one of them.
            service.check_spec(text, state(ctx).settings)
            raise
        database, actor = connect(ctx)
        with database.transaction() as uow:
            imported = service.import_api(uow, actor, body, state(ctx).settings)
    emit(imported, as_json)


@app.command("update")
def add_version(
    ctx: typer.Context,
    api_id: str,
    spec: SpecFile,
    confirm_weaker_security: Annotated[
        bool,
        typer.Option(
            help="Store it even if existing operations get less security (public now, a "
            "scheme removed, an alternative added)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Upload the provider's new spec as the API's next version; shows what changed."""
    with reporting(as_json):
        body = SpecUpload(spec=_spec_text(spec), confirm_weaker_security=confirm_weaker_security)
        database, actor = connect(ctx)
        with database.transaction() as uow:
            version = service.add_version(uow, actor, api_id, body, state(ctx).settings)
    emit(version, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: str | None = None,
    as_json: JsonFlag = False,
) -> None:
    """List APIs, newest first."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_apis(uow, actor, PageRequest(limit, cursor), state(ctx).settings)
    emit(page, as_json)


@app.command("show")
def show(ctx: typer.Context, api_id: str, as_json: JsonFlag = False) -> None:
    """Show one API with its key policy."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.get_api(uow, actor, api_id, state(ctx).settings), as_json)


@app.command("versions")
def versions(ctx: typer.Context, api_id: str, as_json: JsonFlag = False) -> None:
    """List an API's versions with what each changed."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            emit(service.list_versions(uow, actor, api_id, PageRequest()), as_json)


def _policy(uow: UnitOfWork, actor: Actor, text: bytes) -> KeyPolicy:
    """The policy of a JSON file, whose approvers may be named by id or e-mail address."""
    try:
        raw = json.loads(text)
    except ValueError:
        return KeyPolicy.model_validate_json(text)  # says what is wrong with it
    approvers = raw.get("approvers") if isinstance(raw, dict) else None
    if isinstance(approvers, list):
        raw["approvers"] = [
            member_id(uow, actor, named) if isinstance(named, str) else named for named in approvers
        ]
    return KeyPolicy.model_validate(raw)


@app.command("policy")
def policy(
    ctx: typer.Context,
    api_id: str,
    set_file: Annotated[
        Path | None,
        typer.Option(
            "--set", help="A JSON file with the policy; approvers by id or e-mail address."
        ),
    ] = None,
    confirm_weaker_security: Annotated[
        bool,
        typer.Option(
            help="Set it even if operations are then checked less (a credential no longer "
            "verified as a key, or no longer checked)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the key policy, or replace it with --set policy.json."""
    with reporting(as_json):
        database, actor = connect(ctx)
        if set_file is None:
            with database.transaction(write=False) as uow:
                shown = service.get_policy(uow, actor, api_id)
        else:
            text = read_file(set_file, "policy file")
            with database.transaction() as uow:
                body = _policy(uow, actor, text)
                if confirm_weaker_security:
                    body = body.model_copy(update={"confirm_weaker_security": True})
                shown = service.set_policy(uow, actor, api_id, body)
    emit(shown, as_json)
