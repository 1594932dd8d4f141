"""An API's key policy, for its provider: where keys travel and what each of the spec's apiKey
schemes is, how long keys live, which changes wait for an approver, who approves, the longest
grace of a rotation.

The schemes are the spec's: the form shows where each is declared and lets the provider choose
its role; only keyward's own scheme (a spec without apiKey schemes) may be moved. The API
services check the rest, and a refusal is shown next to the field it concerns.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from keyward.core.errors import KeywardError
from keyward.core.openapi.security import KeyRole, Location
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiOut, KeyLocationOut, KeyPolicy, KeyPolicyOut
from keyward.domains.members import service as members
from keyward.domains.pagination import PageRequest
from keyward.portal.context import (
    CheckedFormDep,
    Form,
    Member,
    MemberDep,
    Portal,
    PortalDep,
    field_errors,
)
from keyward.portal.routes.provider_forms import UNITS, Amount, amount, duration, provided_api
from keyward.portal.routing import PortalRoute, audit_refusal, redirect

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

MEMBERS_SHOWN = 200
LONGEST_LIFETIME = timedelta(days=3650)
LONGEST_GRACE = timedelta(days=366)
ROLES = (
    (KeyRole.KEY, "A keyward key: the gateway verifies it"),
    (KeyRole.ACQUISITION_ID, "The acquisition's id: must match the key's acquisition"),
    (KeyRole.PASSTHROUGH, "Your own credential: forwarded untouched"),
)
WEAKER_POLICY = (
    "This policy checks these operations less than the current one (a credential no longer "
    "verified as a key, or no longer checked); nothing was saved. Tick the box to save it all "
    "the same."
)
# Where a problem the services or the policy's fields report is shown.
FIELD_OF = {
    "key_locations": "locations",
    "invalid_policy": "locations",
    "key_lifetime": "lifetime",
    "apply_lifetime_to_existing_keys": "lifetime",
    "max_rotation_grace": "grace",
    "approvers": "approvers",
    "invalid_approvers": "approvers",
    "security_weakened": "confirm_weaker_security",
}


@dataclass(slots=True)
class PolicyForm:
    """The policy as the form shows it: the values chosen, the errors next to their fields."""

    locations: list[KeyLocationOut]
    never_expires: bool = True
    lifetime: Amount = field(default_factory=Amount)
    apply_to_existing: bool = False
    issuance: bool = False
    renewal: bool = False
    revocation: bool = False
    approvers: list[str] = field(default_factory=list)
    grace: Amount = field(default_factory=Amount)
    confirm_weaker_security: bool = False
    problems: list[str] = field(default_factory=list)
    weakened: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _shown(policy: KeyPolicyOut) -> PolicyForm:
    return PolicyForm(
        locations=list(policy.key_locations),
        never_expires=policy.key_lifetime is None,
        lifetime=amount(policy.key_lifetime),
        issuance=policy.issuance_requires_approval,
        renewal=policy.renewal_requires_approval,
        revocation=policy.revocation_requires_approval,
        approvers=list(policy.approvers),
        grace=amount(policy.max_rotation_grace),
    )


@dataclass(frozen=True, slots=True)
class Approver:
    id: str
    name: str
    email: str


def _approvers(portal: Portal, member: Member, current: list[str]) -> list[Approver]:
    """Whom the form offers as approvers: the members the provider sees who may approve, and
    those the policy names now (by id, where the provider does not see them)."""
    actor = member.signed.actor
    with portal.database.transaction(write=False) as uow:
        try:
            seen = members.list_members(uow, actor, PageRequest(MEMBERS_SHOWN), active=True).data
        except KeywardError:
            seen = []
        eligible = apis.approver_candidates(uow, actor, [m.id for m in seen])
    offered = {m.id: Approver(m.id, m.name, m.email) for m in seen if m.id in eligible}
    for member_id in current:
        offered.setdefault(member_id, Approver(member_id, member_id, ""))
    return sorted(offered.values(), key=lambda a: (a.name.lower(), a.id))


def policy_page(
    portal: Portal,
    member: Member,
    api_id: str,
    form: PolicyForm | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    with portal.database.transaction(write=False) as uow:
        api: ApiOut = provided_api(uow, portal, member, api_id)
    shown = form or _shown(api.policy)
    return portal.pages.render(
        "api_policy.html",
        status,
        title=f"{api.name} · key policy",
        member=member,
        current="/apis",
        api=api,
        form=shown,
        roles=ROLES,
        places=[location.value for location in Location],
        units=list(UNITS),
        approvers=_approvers(portal, member, api.policy.approvers),
        notice=notice,
    )


@router.get("/apis/{api_id}/policy", name="provider_api_policy")
def show_policy(
    portal: PortalDep, member: MemberDep, api_id: str, done: str | None = None
) -> Response:
    notice = "The key policy is saved." if done == "saved" else None
    return policy_page(portal, member, api_id, notice=notice)


def _read(form: Form, current: KeyPolicyOut) -> PolicyForm:
    """The policy the form asks for; each location is the current one's, changed only where
    the provider may change it."""
    typed = PolicyForm(
        locations=[],
        never_expires=form.one("lifetime_mode") != "after",
        lifetime=Amount(form.one("lifetime_count"), form.one("lifetime_unit")),
        apply_to_existing=form.one("apply_to_existing") == "yes",
        issuance=form.one("issuance") == "yes",
        renewal=form.one("renewal") == "yes",
        revocation=form.one("revocation") == "yes",
        approvers=form.all("approver"),
        grace=Amount(form.one("grace_count"), form.one("grace_unit")),
        confirm_weaker_security=form.one("confirm_weaker_security") == "yes",
    )
    for index, location in enumerate(current.key_locations):
        changes: dict[str, object] = {}
        if location.synthetic:
            changes = {"name": form.one(f"name-{index}").strip() or location.name}
            if form.one(f"in-{index}") in Location.__members__.values():
                changes["location"] = Location(form.one(f"in-{index}"))
        elif form.one(f"role-{index}") in KeyRole.__members__.values():
            changes = {"role": KeyRole(form.one(f"role-{index}"))}
        typed.locations.append(location.model_copy(update=changes))
    return typed


@router.post("/apis/{api_id}/policy", name="provider_api_policy_update")
def set_policy(
    request: Request, portal: PortalDep, member: MemberDep, api_id: str, form: CheckedFormDep
) -> Response:
    with portal.database.transaction(write=False) as uow:
        api = provided_api(uow, portal, member, api_id)
    typed = _read(form, api.policy)
    lifetime = grace = None
    try:
        lifetime = duration(typed.lifetime.count, typed.lifetime.unit, largest=LONGEST_LIFETIME)
        if lifetime is None and not typed.never_expires:
            typed.errors["lifetime"] = "Give how long keys live, or choose that they never expire."
    except ValueError as error:
        if not typed.never_expires:
            typed.errors["lifetime"] = str(error)
    try:
        grace = duration(typed.grace.count, typed.grace.unit, largest=LONGEST_GRACE)
    except ValueError as error:
        typed.errors["grace"] = str(error)
    body = None
    if not typed.errors:
        try:
            body = KeyPolicy.model_validate(
                {
                    "key_locations": [
                        loc.model_dump(by_alias=True, exclude={"synthetic"})
                        for loc in typed.locations
                    ],
                    "key_lifetime": None if typed.never_expires else lifetime,
                    "max_rotation_grace": grace,
                    "renewal_requires_approval": typed.renewal,
                    "revocation_requires_approval": typed.revocation,
                    "issuance_requires_approval": typed.issuance,
                    "approvers": typed.approvers,
                    "apply_lifetime_to_existing_keys": typed.apply_to_existing,
                    "confirm_weaker_security": typed.confirm_weaker_security,
                }
            )
        except ValidationError as error:
            for name, message in field_errors(error).items():
                typed.errors.setdefault(FIELD_OF.get(name, "form"), message)
    if body is None:
        return policy_page(portal, member, api_id, typed, status=422)
    try:
        with portal.database.transaction() as uow:
            apis.set_policy(uow, member.signed.actor, api_id, body)
    except KeywardError as error:
        if error.status == 404:
            raise
        if error.audited:
            audit_refusal(request, error)
        typed.errors[FIELD_OF.get(error.code, "form")] = error.message
        if error.code == "invalid_policy":
            typed.problems = [str(p) for p in error.details.get("problems", [])]
        if error.code == "security_weakened":
            typed.weakened = [str(o) for o in error.details.get("operations", [])]
            typed.errors[FIELD_OF[error.code]] = WEAKER_POLICY
        return policy_page(portal, member, api_id, typed, status=error.status)
    return redirect(f"/apis/{api_id}/policy?done=saved")
