"""Your account → API keys: the member's own account keys, generating one, revoking one.

Every decision is the key services': which keys the member sees, what a key may be given, who
may revoke it. The page only narrows what it shows to the member's own account keys; any
other key answers like one that does not exist.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.keys import KeyKind, KeyState
from keyward.core.ownership import holds
from keyward.core.sessions import new_token
from keyward.domains.keys import service as keys
from keyward.domains.keys.schemas import AccountKeyCreate, KeyCreated, KeyFilter
from keyward.domains.pagination import PageRequest
from keyward.portal.context import (
    CheckedFormDep,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.permissions import permission_choices
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

PAGE_SIZE = 25
MAX_UNUSED_DAYS = 3650
# (ISO-8601 duration, label); the empty value: the key never expires.
EXPIRY_CHOICES = (
    ("P7D", "7 days"),
    ("P30D", "30 days"),
    ("P90D", "90 days"),
    ("P365D", "1 year"),
    ("", "Never"),
)
DEFAULT_EXPIRY = "P90D"
SHOWN_ONCE = "Copy this key now: it will not be shown again. keyward keeps only its hash."
ALREADY_SENT = (
    "This form was already sent, and the key was made then; its secret was shown only once. "
    "If it was not saved, revoke this key and generate a new one."
)
# Service refusals that concern one field of the form.
FIELD_OF_CODE = {"permission_escalation": "permissions", "lifetime_exceeds_policy": "expires_in"}


@dataclass(slots=True)
class KeyForm:
    """What the generate form shows: the values sent back, the errors next to their fields."""

    name: str = ""
    permissions: list[str] = field(default_factory=list)
    expires_in: str = DEFAULT_EXPIRY
    errors: dict[str, str] = field(default_factory=dict)


def _unused_days(text: str | None) -> tuple[int | None, str | None]:
    """The filter's number of days, or an error to show next to it."""
    if not text:
        return None, None
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_UNUSED_DAYS:
        return None, f"Enter a whole number of days from 1 to {MAX_UNUSED_DAYS}."
    return int(text), None


def _page(
    portal: Portal,
    member: Member,
    *,
    unused_text: str | None = None,
    cursor: str | None = None,
    form: KeyForm | None = None,
    created: KeyCreated | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    actor = member.signed.actor
    unused_days, unused_error = _unused_days(unused_text)
    filters = KeyFilter(
        kind=KeyKind.ACCOUNT,
        creator_member_id=actor.member_id,
        unused_for=timedelta(days=unused_days) if unused_days else None,
    )
    with portal.database.transaction(write=False) as uow:
        listed = keys.list_keys(uow, actor, filters, PageRequest(PAGE_SIZE, cursor))
        choices = permission_choices(uow, actor)
    return portal.pages.render(
        "account_keys.html",
        status,
        title="API keys",
        member=member,
        current="/account/keys",
        keys=listed.data,
        next_cursor=listed.next_cursor,
        cursor=cursor,
        unused_text=unused_text or "",
        unused_days=unused_days,
        unused_error=unused_error,
        form=form or KeyForm(),
        form_token=new_token(),
        may_create=holds(actor.standing, "keys", "create"),
        choices=choices,
        expiry_choices=EXPIRY_CHOICES,
        created=created,
        shown_once=SHOWN_ONCE,
        already_sent=ALREADY_SENT,
        notice=notice,
        revoked_state=KeyState.REVOKED,
    )


@router.get("/account/keys", name="account_keys")
def account_keys(
    portal: PortalDep,
    member: MemberDep,
    unused_days: str | None = None,
    cursor: str | None = None,
    revoked: str | None = None,
) -> Response:
    notice = None
    if revoked:
        try:
            with portal.database.transaction(write=False) as uow:
                key = keys.own_account_key(uow, member.signed.actor, revoked, "read")
            notice = f"The key “{key.name}” is revoked: it stopped working at once."
        except KeywardError:
            notice = None
    return _page(portal, member, unused_text=unused_days, cursor=cursor, notice=notice)


@router.post("/account/keys", name="account_key_generate")
def generate_key(
    request: Request, portal: PortalDep, member: MemberDep, form: CheckedFormDep
) -> Response:
    sent = KeyForm(
        name=form.one("name"),
        permissions=form.all("permission"),
        expires_in=form.one("expires_in"),
    )
    body: AccountKeyCreate | None = None
    try:
        body = AccountKeyCreate.model_validate(
            {
                "name": sent.name,
                "permissions": sent.permissions,
                "expires_in": sent.expires_in or None,
            }
        )
    except ValidationError as error:
        sent.errors.update(field_errors(error))
    if not sent.name.strip():
        sent.errors["name"] = "Give the key a label, such as what or who will use it."
    if not sent.permissions:
        sent.errors["permissions"] = "Choose at least one permission."
    if sent.expires_in not in {value for value, _ in EXPIRY_CHOICES}:
        sent.errors["expires_in"] = "Choose one of the periods offered."
    if sent.errors or body is None:
        return _page(portal, member, form=sent, status=422)
    form_token = form.one("form_token")
    try:
        with portal.database.transaction() as uow:
            created, replayed = keys.create_account_key(
                uow, member.signed.actor, body, f"portal {form_token}" if form_token else None
            )
    except KeywardError as error:
        if error.audited:
            audit_refusal(request, error)
        sent.errors[FIELD_OF_CODE.get(error.code, "form")] = error.message
        return _page(portal, member, form=sent, status=error.status)
    shown = created if not replayed else created.model_copy(update={"notice": ALREADY_SENT})
    return _page(portal, member, created=shown, status=201 if not replayed else 200)


@router.get("/account/keys/{key_id}/revoke", name="account_key_revoke_form")
def revoke_form(portal: PortalDep, member: MemberDep, key_id: str) -> Response:
    """The confirmation a browser without scripts gets (with them, a dialog asks)."""
    with portal.database.transaction(write=False) as uow:
        key = keys.own_account_key(uow, member.signed.actor, key_id, "read")
    return portal.pages.render(
        "revoke.html", title=f"Revoke {key.name}", member=member, current="/account/keys", key=key
    )


@router.post("/account/keys/{key_id}/revoke", name="account_key_revoke")
def revoke_key(portal: PortalDep, member: MemberDep, key_id: str, _: CheckedFormDep) -> Response:
    actor = member.signed.actor
    with portal.database.transaction() as uow:
        keys.own_account_key(uow, actor, key_id, "revoke")
        keys.revoke_key(uow, actor, key_id, "revoked in the portal")
    return redirect(f"/account/keys?revoked={key_id}")
