"""`keyward keys ...`: create, list, show, renew, rotate, revoke, delete and verify keys, and
show their usage; `keyward requests ...`: the renewals and revocations awaiting approval."""

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from keyward.cli import gateways
from keyward.cli.context import JsonFlag, connect, emit, reporting, state
from keyward.cli.human import YesOption, confirm, emit_created, table
from keyward.cli.members import named_permissions
from keyward.cli.times import duration
from keyward.core.actors import Actor
from keyward.core.errors import Conflict, InvalidInput, KeywardError
from keyward.core.keys import KeyKind, KeyState
from keyward.core.permissions import PermissionSet
from keyward.core.sealing import Sealer
from keyward.db.engine import Database, UnitOfWork
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionState
from keyward.domains.keys import requests, service
from keyward.domains.keys.schemas import (
    AccountKeyCreate,
    BulkOutcome,
    KeyBulkDelete,
    KeyFilter,
    KeyOut,
    KeyRenew,
    KeyRequestDecision,
    KeyRequestFilter,
    KeyRequestOut,
    KeyRevoke,
    KeyRotate,
    KeySort,
    KeyVerifyResult,
    RequestStatus,
)
from keyward.domains.pagination import Page, PageRequest
from keyward.verifier import Verifier

app = typer.Typer(
    help="Create, list, show, renew, rotate, revoke, delete and verify API keys; show their usage.",
    no_args_is_help=True,
)
requests_app = typer.Typer(
    help="List, approve, reject and cancel key renewals and revocations awaiting approval.",
    no_args_is_help=True,
)

PermissionOption = Annotated[
    list[str] | None,
    typer.Option("--permission", "-p", help="resource:action[@id]; repeat for several."),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. 'ci' or 'alice laptop'.")],
    permission: PermissionOption = None,
    expires_in: Annotated[
        str | None, typer.Option(help="ISO-8601 duration such as P90D; omit for never.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account key; its secret is printed this once."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            body = AccountKeyCreate.model_validate(
                {
                    "name": name,
                    "permissions": named_permissions(uow, actor, permission),
                    "expires_in": expires_in,
                }
            )
            created = service.issue_account_key(uow, actor, body)
    emit_created(created, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    kind: Annotated[KeyKind | None, typer.Option(help="account or acquisition")] = None,
    key_state: Annotated[KeyState | None, typer.Option("--state")] = None,
    api: Annotated[str | None, typer.Option(help="Only keys of this API's acquisitions.")] = None,
    acquisition: Annotated[str | None, typer.Option(help="Only this acquisition's keys.")] = None,
    expiring_within: Annotated[
        str | None,
        typer.Option(help="ISO-8601 duration such as P30D: unrevoked keys expiring that soon."),
    ] = None,
    unused_for: Annotated[
        str | None,
        typer.Option(help="ISO-8601 duration such as P90D: keys neither used nor made since."),
    ] = None,
    sort: Annotated[
        KeySort,
        typer.Option(
            help="-created_at (newest first), last_used_at (least recently used first, never "
            "used before all) or -last_used_at (most recently used first)."
        ),
    ] = KeySort.NEWEST,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue a previous listing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List keys, newest first or by last use (never their secrets)."""
    with reporting(as_json):
        filters = KeyFilter(
            kind=kind,
            state=key_state,
            api_id=api,
            acquisition_id=acquisition,
            expiring_within=duration(expiring_within),
            unused_for=duration(unused_for),
        )
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            page = service.list_keys(uow, actor, filters, PageRequest(limit, cursor), sort)
            emit_keys(uow, actor, page, as_json)


@app.command("show")
def show(ctx: typer.Context, key_id: str, as_json: JsonFlag = False) -> None:
    """Show one key; for people, an active key of an acquisition that is not valid now is
    shown as such (it answers acquisition_expired)."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            key = service.get_key(uow, actor, key_id)
            shown = key_states(uow, actor, [key])
    emit(key if as_json else key.model_dump(mode="json") | {"state": shown[key.id]}, as_json)


# How an active key of an acquisition that is not valid now is shown to people: it is kept,
# but answers acquisition_expired until the acquisition is reacquired.
_ACQUISITION_STATES = {
    AcquisitionState.EXPIRED: "expired (acquisition)",
    AcquisitionState.SCHEDULED: "not yet valid (acquisition)",
}


def emit_keys(uow: UnitOfWork, actor: Actor, page: Page[KeyOut], as_json: bool) -> None:
    """A page of keys: with `--json` as it is; for people, each with its state as people read
    it (`key_states`)."""
    if as_json:
        emit(page, as_json)
        return
    shown = key_states(uow, actor, page.data)
    data = [key.model_dump(mode="json") | {"state": shown[key.id]} for key in page.data]
    emit({"data": data, "next_cursor": page.next_cursor}, False)


def key_states(uow: UnitOfWork, actor: Actor, listed: list[KeyOut]) -> dict[str, str]:
    """Each key's state as people read it: its own, unless it is active and its acquisition is
    not valid now (an acquisition the actor may not read is not looked into)."""
    states: dict[str, AcquisitionState | None] = {}
    shown = {}
    for key in listed:
        shown[key.id] = key.state.value
        if key.state is not KeyState.ACTIVE or key.acquisition_id is None:
            continue
        if key.acquisition_id not in states:
            try:
                found = acquisitions.get_acquisition(uow, actor, key.acquisition_id)
                states[key.acquisition_id] = found.state
            except KeywardError:
                states[key.acquisition_id] = None
        acquisition_state = states[key.acquisition_id]
        if acquisition_state is not None and acquisition_state in _ACQUISITION_STATES:
            shown[key.id] = _ACQUISITION_STATES[acquisition_state]
    return shown


ReasonOption = Annotated[str, typer.Option(help="Why; shown to approvers and in the audit.")]


def _pending_note(result: object, as_json: bool) -> None:
    if isinstance(result, KeyRequestOut) and not as_json:
        typer.echo(f"(the API's policy wants an approver: request {result.id} is pending)")


def _emit_changed(
    ctx: typer.Context,
    database: Database,
    uow: UnitOfWork,
    result: KeyOut | KeyRequestOut,
    as_json: bool,
) -> None:
    """A key changed, once every live gateway enforces the change (or the wait is over), with
    the receipt; a request left to an approver changed nothing yet."""
    if isinstance(result, KeyRequestOut):
        emit(result, as_json)
        _pending_note(result, as_json)
        return
    gateways.emit_enforced(result, gateways.enforcement(ctx, database, uow), as_json)


@app.command("renew")
def renew(
    ctx: typer.Context,
    key_id: str,
    expires_in: Annotated[
        str | None, typer.Option(help="Shorter than the policy's lifetime, e.g. P30D.")
    ] = None,
    reason: ReasonOption = "",
    as_json: JsonFlag = False,
) -> None:
    """Extend a key's validity by the policy's lifetime from now (same secret), or ask an
    approver where the policy says so."""
    with reporting(as_json):
        database, actor = connect(ctx)
        body = KeyRenew.model_validate({"expires_in": expires_in, "reason": reason})
        with database.transaction() as uow:
            result = service.renew_key(
                uow, actor, key_id, body.expires_in, body.reason, allow_request=True
            )
        _emit_changed(ctx, database, uow, result, as_json)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: str,
    grace: Annotated[
        str, typer.Option(help="How long the old secret keeps working (PT0S: stop it at once).")
    ] = "PT0S",
    as_json: JsonFlag = False,
) -> None:
    """Give a key a new secret, printed this once; the old one works for the grace period."""
    with reporting(as_json):
        database, actor = connect(ctx)
        body = KeyRotate.model_validate({"grace": grace})
        sealer = Sealer(state(ctx).settings.server_secrets())
        with database.transaction() as uow:
            rotated = service.rotate_key(uow, actor, key_id, body.grace, sealer=sealer)
        receipt = gateways.enforcement(ctx, database, uow)
    gateways.emit_enforced(rotated, receipt, as_json, created=True)


def _named(database: Database, actor: Actor, key_id: str) -> str:
    """The key as a person recognises it (`"ci" (key_...)`), or its id where it cannot be read:
    the command itself then says why."""
    try:
        with database.transaction(write=False) as uow:
            return f'"{service.get_key(uow, actor, key_id).name}" ({key_id})'
    except KeywardError:
        return key_id


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: str,
    reason: ReasonOption = "",
    yes: YesOption = False,
    as_json: JsonFlag = False,
) -> None:
    """Revoke a key at once and for good, or ask an approver where the policy says so. Asks
    first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        body = KeyRevoke.model_validate({"reason": reason})
        confirm(
            lambda: f"Revoke key {_named(database, actor, key_id)}? It stops working for good.",
            yes,
        )
        with database.transaction() as uow:
            result = service.revoke_key(uow, actor, key_id, body.reason, allow_request=True)
        _emit_changed(ctx, database, uow, result, as_json)


@app.command("delete")
def delete(
    ctx: typer.Context,
    key_id: str,
    revoke: Annotated[bool, typer.Option(help="Revoke an active key first, in one step.")] = False,
    yes: YesOption = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete a revoked key (its audit trail stays). Asks first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        confirm(
            lambda: (
                f"{'Revoke and delete' if revoke else 'Delete'} key "
                f"{_named(database, actor, key_id)}? This cannot be undone."
            ),
            yes,
        )
        with database.transaction() as uow:
            service.delete_key(uow, actor, key_id, revoke=revoke)
        receipt = gateways.enforcement(ctx, database, uow)
    gateways.emit_enforced({"id": key_id, "deleted": True}, receipt, as_json)


@app.command("bulk-delete")
def bulk_delete(
    ctx: typer.Context,
    key_ids: Annotated[list[str], typer.Argument(help="The keys to delete.")],
    yes: YesOption = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete the revoked keys among these, reporting the others as skipped; nothing at all
    if one of them has a pending request. Prints one line per key with what became of it.
    Asks first at a terminal."""
    with reporting(as_json):
        database, actor = connect(ctx)
        body = KeyBulkDelete.model_validate({"ids": key_ids})
        confirm(f"Delete the revoked keys among these {len(body.ids)}? This cannot be undone.", yes)
        with database.transaction(write=False) as uow:
            names = _names(uow, actor, body.ids)
        try:
            with database.transaction() as uow:
                done = service.bulk_delete(uow, actor, body.ids)
        except Conflict as error:
            if not as_json and error.code == "key_request_pending":
                _pending_lines(error, body.ids, names)
            raise
        receipt = gateways.enforcement(ctx, database, uow)
    if as_json:
        emit(done.model_copy(update={"enforcement": receipt}), as_json)
        return
    for item in done.results:
        named = f'{item.id} "{names[item.id]}"' if item.id in names else item.id
        if item.result is BulkOutcome.DELETED:
            typer.echo(f"{named}: deleted")
        else:
            words = item.result.value.replace("_", " ")
            typer.echo(f"{named}: {words}: {item.message} ({item.code})")
    typer.echo(f"{done.deleted} deleted, {done.skipped} skipped")
    gateways.echo_receipt(receipt)


def _pending_lines(error: Conflict, key_ids: list[str], names: dict[str, str]) -> None:
    """One line per key when nothing was deleted because some have a pending request."""
    pending = {k["key_id"]: k["request_id"] for k in error.details.get("keys", [])}
    for key_id in key_ids:
        named = f'{key_id} "{names[key_id]}"' if key_id in names else key_id
        why = f"request {pending[key_id]} is pending" if key_id in pending else "not deleted"
        sys.stderr.write(f"{named}: {why}\n")


def _names(uow: UnitOfWork, actor: Actor, key_ids: list[str]) -> dict[str, str]:
    """The names of the keys the actor may read, to say what became of each."""
    found = {}
    for key_id in key_ids:
        try:
            found[key_id] = service.get_key(uow, actor, key_id).name
        except KeywardError:
            continue
    return found


@requests_app.command("list")
def list_requests(
    ctx: typer.Context,
    status: Annotated[RequestStatus | None, typer.Option(help="e.g. pending")] = None,
    key: Annotated[str | None, typer.Option(help="Only this key's requests.")] = None,
    decidable: Annotated[
        bool, typer.Option("--decidable", help="Only those you may approve or reject.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 50,
    cursor: Annotated[str | None, typer.Option(help="Continue a previous listing.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Key requests, newest first: for people, which key, who asked and why."""
    with reporting(as_json):
        database, actor = connect(ctx)
        filters = KeyRequestFilter(status=status, key_id=key, decidable=decidable)
        with database.transaction(write=False) as uow:
            page = requests.list_requests(uow, actor, filters, PageRequest(limit, cursor))
            contexts = requests.contexts(uow, actor, page.data)
    if as_json:
        emit(page, as_json)
        return
    table(
        [
            {
                "id": r.id,
                "action": r.action.value,
                "status": r.status.value,
                "key": _key_of(r),
                "requester": _both(contexts[r.id].requester_name, r.requested_by) or "-",
                "reason": r.reason or "-",
            }
            for r in page.data
        ]
    )
    if page.next_cursor:
        typer.echo(f"(more: --cursor {page.next_cursor})")


def _key_of(request: KeyRequestOut) -> str:
    return f'"{request.key_name}" ({request.key_id or "deleted"})'


def _both(name: str | None, ident: str | None) -> str | None:
    """A name with its id, as people look for either."""
    if name and ident:
        return f"{name} ({ident})"
    return name or ident


@requests_app.command("show")
def show_request(ctx: typer.Context, request_id: str, as_json: JsonFlag = False) -> None:
    """Show one key request: which key of which API and organization, who asked and why, who
    decided and what came of it."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction(write=False) as uow:
            found = requests.get_request(uow, actor, request_id)
            context = requests.contexts(uow, actor, [found])[found.id]
    if as_json:
        emit(found, as_json)
        return
    data = found.model_dump(mode="json")
    shown: dict[str, Any] = {
        "id": found.id,
        "action": found.action.value,
        "status": found.status.value,
        "key": _key_of(found),
        "key_expires_at": context.key_expires_at.isoformat() if context.key_expires_at else None,
        "api": _both(context.api_name, found.api_id),
        "organization": _both(context.organization_name, context.organization_id),
        "acquisition": _both(context.offering_name, found.acquisition_id),
        "requested_by": _both(context.requester_name, found.requested_by),
        "reason": found.reason,
        "expires_in": data["expires_in"],
        "requested_at": data["created_at"],
        "decided_by": _both(context.decider_name, found.decided_by),
        "decided_at": data["decided_at"],
        "comment": found.comment,
        "outcome": found.outcome,
    }
    emit({name: value for name, value in shown.items() if value not in (None, "")}, False)


CommentOption = Annotated[str, typer.Option(help="Shown to the requester.")]


def _decide(
    ctx: typer.Context,
    decide: Callable[[UnitOfWork, Actor, str, str], KeyRequestOut],
    request_id: str,
    comment: str,
    as_json: bool,
) -> None:
    with reporting(as_json):
        database, actor = connect(ctx)
        body = KeyRequestDecision.model_validate({"comment": comment})
        with database.transaction() as uow:
            decided = decide(uow, actor, request_id, body.comment)
    emit(decided, as_json)


@requests_app.command("approve")
def approve(
    ctx: typer.Context, request_id: str, comment: CommentOption = "", as_json: JsonFlag = False
) -> None:
    """Apply a pending renewal or revocation (not one's own)."""
    _decide(ctx, requests.approve, request_id, comment, as_json)


@requests_app.command("reject")
def reject(
    ctx: typer.Context, request_id: str, comment: CommentOption = "", as_json: JsonFlag = False
) -> None:
    """Refuse a pending renewal or revocation; the key stays as it is."""
    _decide(ctx, requests.reject, request_id, comment, as_json)


@requests_app.command("cancel")
def cancel(ctx: typer.Context, request_id: str, as_json: JsonFlag = False) -> None:
    """Withdraw one's own pending request."""
    with reporting(as_json):
        database, actor = connect(ctx)
        with database.transaction() as uow:
            decided = requests.cancel(uow, actor, request_id)
    emit(decided, as_json)


@app.command("verify")
def verify(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key, or - to read it from standard input.")],
    permission: PermissionOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Verify a key of this workspace; exits 1 when it is not valid."""
    with reporting(as_json):
        if key == "-":
            key = sys.stdin.readline().strip()
        if len(key) > 512:
            raise InvalidInput("That is too long to be a key.", code="key_invalid")
        database, actor = connect(ctx)
        verifier = Verifier(database)
        verdict = service.verdict_for(actor, verifier.verify(key, actor.workspace_id))
        verifier.flush_usage()
        result = KeyVerifyResult.from_verdict(
            verdict.requiring(PermissionSet.parse(permission or []))
        )
    emit(result, as_json)
    if not result.valid:
        raise typer.Exit(1)
