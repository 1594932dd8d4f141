"""`keyward keys usage`, `keyward acquisitions usage`, `keyward offerings usage`, `keyward apis
usage`: the responses to a key, or to the keys of an acquisition, offering or API, by status
class over time."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Protocol

import typer

from keyward.cli.context import JsonFlag, connect, emit, reporting
from keyward.cli.times import moment
from keyward.core.actors import Actor
from keyward.db.engine import UnitOfWork
from keyward.domains.usage import service
from keyward.domains.usage.schemas import Granularity, UsageOut
from keyward.verifier.usage import STATUS_CLASSES


class Reader(Protocol):
    def __call__(
        self,
        uow: UnitOfWork,
        actor: Actor,
        ident: str,
        /,
        *,
        since: datetime | None = ...,
        until: datetime | None = ...,
        granularity: Granularity = ...,
    ) -> UsageOut: ...


def show(usage: UsageOut, as_json: bool, id_field: str) -> None:
    """The whole document with `--json`; otherwise the totals and a table of the buckets that
    counted anything."""
    if as_json:
        emit(usage, as_json)
        return
    emit(
        usage.model_dump(
            mode="json", include={id_field, "last_used_at", "since", "until", "totals"}
        ),
        False,
    )
    typer.echo("")
    rows = [
        bucket
        for bucket in usage.model_dump(mode="json")["data"]
        if any(bucket[c] for c in STATUS_CLASSES)
    ]
    if not rows:
        typer.echo("(no responses in this range)")
        return
    typer.echo(f"{'START':<20}" + "".join(f"{c.upper():>10}" for c in STATUS_CLASSES))
    for bucket in rows:
        typer.echo(f"{bucket['start']:<20}" + "".join(f"{bucket[c]:>10}" for c in STATUS_CLASSES))


def _command(read: Reader, noun: str, id_field: str) -> Callable[..., None]:
    def usage(
        ctx: typer.Context,
        ident: Annotated[str, typer.Argument(metavar="ID", help=f"The {noun}'s id.")],
        since: Annotated[
            str | None,
            typer.Option(help="Start: a time (2026-06-01T00:00:00Z) or a duration back (P7D)."),
        ] = None,
        until: Annotated[str | None, typer.Option(help="End (exclusive), like --since.")] = None,
        granularity: Annotated[Granularity, typer.Option()] = Granularity.HOUR,
        as_json: JsonFlag = False,
    ) -> None:
        with reporting(as_json):
            database, actor = connect(ctx)
            now = database.clock.now()
            with database.transaction(write=False) as uow:
                found = read(
                    uow,
                    actor,
                    ident,
                    since=moment(since, now),
                    until=moment(until, now),
                    granularity=granularity,
                )
        show(found, as_json, id_field)

    whose = "the key" if noun == "key" else f"the {noun}'s keys"
    usage.__doc__ = (
        f"Show the responses to {whose} by status class; by default the last 24 hours, by "
        "hour. Buckets without any response are left out unless --json."
    )
    return usage


key_usage = _command(service.key_usage, "key", "key_id")
acquisition_usage = _command(service.acquisition_usage, "acquisition", "acquisition_id")
offering_usage = _command(service.offering_usage, "offering", "offering_id")
api_usage = _command(service.api_usage, "API", "api_id")
