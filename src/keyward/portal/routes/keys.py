"""API keys: every key the member may act on, across acquisitions and account keys, with
filters, per-key actions and bulk delete.

The list is the key services' (`keys.list_keys`: the keys the member may read, whatever made
them visible); the actions are the shared `key_actions`, with the services deciding. The page
says why an action is not offered for a key, and what the services decided for each key of a
bulk delete.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.ids import is_id
from keyward.core.keys import KeyState
from keyward.db.engine import UnitOfWork
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionOut
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiOut
from keyward.domains.keys import requests
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import (
    KeyBulkDelete,
    KeyBulkDeleted,
    KeyCreated,
    KeyFilter,
    KeyOut,
    KeyRequestOut,
    RequestAction,
)
from keyward.domains.pagination import PageRequest
from keyward.portal import key_actions
from keyward.portal.context import CheckedFormDep, Member, MemberDep, Portal, PortalDep
from keyward.portal.routes.acquisitions import SHOWN_ONCE, organization_names
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
Found = TypeVar("Found")

PAGE_SIZE = 25
MAX_DAYS = 3650
FILTER_NAMES = ("api", "acquisition", "state", "expiring_days", "unused_days")
STATES = tuple(state.value for state in KeyState)
PENDING = {
    RequestAction.ISSUE: "Its issuance awaits an approver",
    RequestAction.RENEW: "A renewal request is pending",
    RequestAction.REVOKE: "A revocation request is pending",
}


@dataclass(slots=True)
class Filters:
    """The filter form as sent, shown back as typed, with its errors by field."""

    api: str = ""
    acquisition: str = ""
    state: str = ""
    expiring_days: str = ""
    unused_days: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def carried(cls, back: str) -> "Filters":
        """The filters an action's form carried back (its `back` field), those the page knows."""
        sent = dict(parse_qsl(back[:2000]))
        return cls(
            api=sent.get("api", ""),
            acquisition=sent.get("acquisition", ""),
            state=sent.get("state", ""),
            expiring_days=sent.get("expiring_days", ""),
            unused_days=sent.get("unused_days", ""),
        )

    def query(self) -> dict[str, str]:
        """The filters sent, for links that keep them (pages, the answer to an action)."""
        return {name: getattr(self, name) for name in FILTER_NAMES if getattr(self, name)}

    def _days(self, name: str) -> timedelta | None:
        text: str = getattr(self, name)
        if not text:
            return None
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
            self.errors[name] = f"Enter a whole number of days from 1 to {MAX_DAYS}."
            return None
        return timedelta(days=int(text))

    def key_filter(self) -> KeyFilter | None:
        """What the services filter by, or None when a field is not valid (see `errors`)."""
        if self.api and not is_id(self.api, "api"):
            self.errors["api"] = "Choose one of the APIs offered."
        if self.acquisition and not is_id(self.acquisition, "acq"):
            self.errors["acquisition"] = "Choose one of the acquisitions offered."
        if self.state and self.state not in STATES:
            self.errors["state"] = "Choose one of the states offered."
        expiring, unused = self._days("expiring_days"), self._days("unused_days")
        if self.errors:
            return None
        return KeyFilter(
            api_id=self.api or None,
            acquisition_id=self.acquisition or None,
            state=KeyState(self.state) if self.state else None,
            expiring_within=expiring,
            unused_for=unused,
        )


@dataclass(slots=True)
class Row:
    """One key as the page shows it: where it belongs, what can be done, and why not."""

    key: KeyOut
    api: ApiOut | None
    acquisition: AcquisitionOut | None
    organization: str | None
    pending: KeyRequestOut | None
    graces: list[tuple[str, str]]
    reasons: list[str] = field(default_factory=list)
    renew: bool = False
    rotate: bool = False
    revoke: bool = False
    delete: bool = False
    cancel: bool = False

    @property
    def approval_for_revocation(self) -> bool:
        return self.api is not None and self.api.policy.revocation_requires_approval

    @property
    def approval_for_renewal(self) -> bool:
        return self.api is not None and self.api.policy.renewal_requires_approval


def _offers(row: Row, member: Member) -> Row:
    """Which actions the row offers, and a sentence for each it does not. The services still
    decide when one is asked; this only spares asking what the key's state refuses."""
    key = row.key
    revoked = key.state is KeyState.REVOKED
    awaiting = key.state is KeyState.PENDING
    pending = row.pending
    if pending is not None:
        row.reasons.append(PENDING[pending.action])
        mine = pending.requested_by == member.signed.actor.member_id
        row.cancel = mine
        if not mine:
            row.reasons.append("Only the member who asked can cancel it.")
    elif key.pending_request_id is not None:
        row.reasons.append("A request is pending")
    if key.expires_at is not None:
        if revoked:
            row.reasons.append("Renew: the key is revoked.")
        elif awaiting:
            pass
        elif key.pending_request_id is None:
            row.renew = True
    if revoked:
        row.reasons.append("Rotate: the key is revoked.")
    elif awaiting:
        row.reasons.append("Rotate: not before its issuance is approved.")
    elif key.state is KeyState.EXPIRED:
        row.reasons.append("Rotate: renew it first.")
    else:
        row.rotate = True
    if not revoked and key.pending_request_id is None:
        row.revoke = True
    if not revoked:
        row.reasons.append("Delete: revoke it first.")
    elif key.pending_request_id is not None:
        row.reasons.append("Delete: not while a request is pending.")
    else:
        row.delete = True
    return row


class _Context:
    """The acquisitions, APIs and organizations the rows name, each read once."""

    def __init__(self, uow: UnitOfWork, portal: Portal, member: Member) -> None:
        self.uow, self.portal, self.member = uow, portal, member
        self.acquisitions: dict[str, AcquisitionOut | None] = {}
        self.apis: dict[str, ApiOut | None] = {}
        self.organizations = organization_names(uow, member)

    def acquisition(self, acquisition_id: str) -> AcquisitionOut | None:
        if acquisition_id not in self.acquisitions:
            self.acquisitions[acquisition_id] = _optional(
                lambda: acquisitions.get_acquisition(
                    self.uow, self.member.signed.actor, acquisition_id
                )
            )
        return self.acquisitions[acquisition_id]

    def api(self, api_id: str) -> ApiOut | None:
        if api_id not in self.apis:
            self.apis[api_id] = _optional(
                lambda: apis.get_api(
                    self.uow, self.member.signed.actor, api_id, self.portal.settings
                )
            )
        return self.apis[api_id]

    def row(self, key: KeyOut) -> Row:
        acquisition = self.acquisition(key.acquisition_id) if key.acquisition_id else None
        api = self.api(acquisition.api_id) if acquisition else None
        pending = (
            _optional(
                lambda: requests.get_request(
                    self.uow, self.member.signed.actor, key.pending_request_id or ""
                )
            )
            if key.pending_request_id
            else None
        )
        grace = (api.policy.max_rotation_grace if api else None) or keys.DEFAULT_MAX_GRACE
        organization = (
            self.organizations.get(acquisition.organization_id, acquisition.organization_id)
            if acquisition
            else None
        )
        return _offers(
            Row(
                key,
                api,
                acquisition,
                organization,
                pending,
                key_actions.grace_choices(grace),
            ),
            self.member,
        )


def _optional(read: Callable[[], Found]) -> Found | None:
    """What a read finds, or None where the member may not see it."""
    try:
        return read()
    except KeywardError:
        return None


@dataclass(frozen=True, slots=True)
class BulkLine:
    name: str
    outcome: str
    message: str


@dataclass(frozen=True, slots=True)
class BulkAnswer:
    """What the services decided of a bulk delete, key by key, as the page says it."""

    heading: str
    lines: list[BulkLine]
    refused: bool = False


def _page(
    request: Request,
    portal: Portal,
    member: Member,
    filters: Filters,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    problem: key_actions.Problem | None = None,
    created: KeyCreated | None = None,
    bulk: BulkAnswer | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    wanted = filters.key_filter()
    with portal.database.transaction(write=False) as uow:
        context = _Context(uow, portal, member)
        listed = (
            keys.list_keys(uow, actor, wanted, PageRequest(PAGE_SIZE, cursor))
            if wanted is not None
            else None
        )
        rows = [context.row(key) for key in listed.data] if listed else []
        owned = _optional(lambda: acquisitions.list_acquisitions(uow, actor, PageRequest(200)))
        choices = []
        for acquisition in owned.data if owned else []:
            api = context.api(acquisition.api_id)
            choices.append(
                (
                    acquisition,
                    api.name if api else acquisition.api_id,
                    context.organizations.get(
                        acquisition.organization_id, acquisition.organization_id
                    ),
                )
            )
    api_choices = sorted({(name, acquisition.api_id) for acquisition, name, _ in choices})
    query = filters.query()
    return portal.pages.render(
        "keys.html",
        status if not filters.errors else 422,
        title="API keys",
        member=member,
        current="/keys",
        filters=filters,
        filter_query=urlencode(query),
        api_choices=api_choices,
        acquisition_choices=choices,
        known_apis={api_id for _, api_id in api_choices},
        known_acquisitions={acquisition.id for acquisition, _, _ in choices},
        states=STATES,
        rows=rows,
        cursor=cursor,
        next_cursor=listed.next_cursor if listed else None,
        next_query=urlencode({**query, "cursor": listed.next_cursor})
        if listed and listed.next_cursor
        else "",
        notice=notice,
        problem=problem,
        created=created,
        shown_once=SHOWN_ONCE,
        bulk=bulk,
        request_path=request.url.path,
    )


def _readable(uow: UnitOfWork, member: Member, key_id: str) -> KeyOut:
    """The keys this page answers for: any the member may read."""
    return keys.get_key(uow, member.signed.actor, key_id)


@router.get("/keys", name="keys")
def list_keys(
    request: Request,
    portal: PortalDep,
    member: MemberDep,
    api: str = "",
    acquisition: str = "",
    state: str = "",
    expiring_days: str = "",
    unused_days: str = "",
    cursor: str | None = None,
    done: str | None = None,
    key: str | None = None,
) -> Response:
    filters = Filters(api, acquisition, state, expiring_days, unused_days)
    notice = key_actions.notice(portal, member, _readable, done, key)
    return _page(request, portal, member, filters, cursor=cursor, notice=notice)


def _answer(
    request: Request,
    portal: Portal,
    member: Member,
    key_id: str,
    change: key_actions.Change,
    back: str,
) -> Response:
    """Ask the change of the key; the page, with the filters it had, says what came of it."""
    filters = Filters.carried(back)
    outcome = key_actions.act(request, portal, member, key_id, _readable, change)
    if isinstance(outcome, key_actions.Problem):
        return _page(request, portal, member, filters, problem=outcome, status=outcome.status)
    if outcome.created is not None:
        return _page(request, portal, member, filters, created=outcome.created)
    shown = {**filters.query(), "done": outcome.done}
    if outcome.done != "deleted":
        shown["key"] = key_id
    return redirect(f"/keys?{urlencode(shown)}#keys")


@router.post("/keys/{key_id}/renew", name="key_renew")
def renew(
    request: Request, portal: PortalDep, member: MemberDep, key_id: str, form: CheckedFormDep
) -> Response:
    return _answer(request, portal, member, key_id, key_actions.renew, form.one("back"))


@router.post("/keys/{key_id}/revoke", name="key_revoke")
def revoke(
    request: Request, portal: PortalDep, member: MemberDep, key_id: str, form: CheckedFormDep
) -> Response:
    change = key_actions.revoke(form.one("reason"))
    return _answer(request, portal, member, key_id, change, form.one("back"))


@router.post("/keys/{key_id}/delete", name="key_delete")
def delete(
    request: Request, portal: PortalDep, member: MemberDep, key_id: str, form: CheckedFormDep
) -> Response:
    """Delete a revoked key (this page never revokes in the same step)."""
    change = key_actions.delete(revoke=False)
    return _answer(request, portal, member, key_id, change, form.one("back"))


@router.post("/keys/{key_id}/rotate", name="key_rotate")
def rotate(
    request: Request, portal: PortalDep, member: MemberDep, key_id: str, form: CheckedFormDep
) -> Response:
    change = key_actions.rotate(portal, member, form.one("grace"))
    return _answer(request, portal, member, key_id, change, form.one("back"))


@router.post("/keys/{key_id}/cancel-request", name="key_cancel_request")
def cancel_request(
    request: Request, portal: PortalDep, member: MemberDep, key_id: str, form: CheckedFormDep
) -> Response:
    change = key_actions.cancel_request
    return _answer(request, portal, member, key_id, change, form.one("back"))


_CONFIRM = {
    "rotate": (
        "Rotate “{name}”?",
        "A new secret replaces this key's secret; the old one keeps working for the grace "
        "period chosen, then stops.",
        "Rotate key",
    ),
    "revoke": (
        "Revoke “{name}”?",
        "Whatever uses the key {start}… stops working at once, unless an approver of its API "
        "must decide: then a request is filed and the key works until it is approved.",
        "Revoke key",
    ),
    "delete": ("Delete “{name}”?", "The revoked key {start}… leaves this list.", "Delete key"),
}


@router.get("/keys/{key_id}/{action}", name="key_confirm")
def confirm(portal: PortalDep, member: MemberDep, key_id: str, action: str) -> Response:
    """The confirmation a browser without scripts gets (with them, a dialog asks)."""
    if action not in _CONFIRM:
        return redirect("/keys")
    with portal.database.transaction(write=False) as uow:
        key = _readable(uow, member, key_id)
        grace = key_actions.max_grace(uow, portal, member, key)
    title, text, button = _CONFIRM[action]
    return portal.pages.render(
        "acquisition_confirm.html",
        title=title.format(name=key.name),
        member=member,
        current="/keys",
        heading=title.format(name=key.name),
        text=text.format(start=key.start),
        action=f"/keys/{key.id}/{action}",
        back="/keys",
        button=button,
        choices=key_actions.grace_choices(grace) if action == "rotate" else None,
        reason=action == "revoke",
    )


def _names(uow: UnitOfWork, member: Member, key_ids: list[str]) -> dict[str, str]:
    """The names of the keys the member may read, to say each one's outcome."""
    found = {}
    for key_id in key_ids:
        try:
            found[key_id] = keys.get_key(uow, member.signed.actor, key_id).name
        except KeywardError:
            continue
    return found


def _bulk_answer(result: KeyBulkDeleted, names: dict[str, str]) -> BulkAnswer:
    words = {"deleted": "Deleted", "skipped": "Skipped", "not_found": "Not found"}
    lines = [
        BulkLine(
            names.get(item.id, item.id),
            words[item.result.value],
            item.message or "it leaves this list; its audit trail stays.",
        )
        for item in result.results
    ]
    plural = "s" if result.deleted != 1 else ""
    heading = f"{result.deleted} key{plural} deleted, {result.skipped} skipped"
    return BulkAnswer(heading, lines)


@router.post("/keys/bulk-delete", name="keys_bulk_delete")
def bulk_delete(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    """Delete the selected revoked keys; the services decide, and the page says so per key."""
    filters = Filters.carried(form.one("back"))
    try:
        body = KeyBulkDelete.model_validate({"ids": form.all("ids")})
    except ValidationError:
        answer = BulkAnswer(
            "Nothing was deleted", [BulkLine("", "", "Select from 1 to 100 keys to delete.")], True
        )
        return _page(request, portal, member, filters, bulk=answer, status=422)
    with portal.database.transaction(write=False) as uow:
        names = _names(uow, member, body.ids)
    try:
        with portal.database.transaction() as uow:
            result = keys.bulk_delete(uow, member.signed.actor, body.ids)
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        pending = [item["key_id"] for item in error.details.get("keys", [])]
        lines = [
            BulkLine(names.get(key_id, key_id), "Pending request", PENDING_LINE)
            for key_id in pending
        ] or [BulkLine("", "", error.message)]
        answer = BulkAnswer("Nothing was deleted", lines, refused=True)
        return _page(request, portal, member, filters, bulk=answer, status=error.status)
    return _page(request, portal, member, filters, bulk=_bulk_answer(result, names))


PENDING_LINE = (
    "This key has a pending request: wait for its decision or cancel it, then delete again."
)


@router.get("/keys/bulk-delete", name="keys_bulk_ask")
def bulk_form() -> Response:
    """Where the bulk form's address leads when opened: the list."""
    return redirect("/keys")
