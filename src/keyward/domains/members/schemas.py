"""Members as the API takes and shows them."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, SecretStr, StrictBool
from zxcvbn import zxcvbn

from keyward.core.ownership import ROLES
from keyward.domains.fields import Id, Input, Name, Output, Patch, Permissions
from keyward.domains.gateways.schemas import Enforcement


def _role(value: str) -> str:
    if value not in ROLES:
        raise ValueError(f"unknown role {value!r}; known roles: {', '.join(sorted(ROLES))}")
    return value


# zxcvbn's estimate, 0 to 4: 3 is "safely unguessable" for an online attack such as a sign-in
# form that throttles (about 10^8 guesses).
_MIN_STRENGTH = 3
# What zxcvbn scores of a long password: the rest adds to its strength, never takes from it.
_SCORED_LENGTH = 100


def password_problem(password: str) -> str | None:
    """Why `password` cannot be a member's password, or None: between 12 and 256 characters,
    no control characters, and not among the most common passwords nor as easy to guess as
    they are (a keyboard row, a repeated word, a date...)."""
    if len(password) < 12:
        return "must be at least 12 characters long"
    if len(password) > 256:
        return "must be at most 256 characters long"
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in password):
        return "contains control characters"
    if zxcvbn(password[:_SCORED_LENGTH])["score"] < _MIN_STRENGTH:
        return (
            "is too easy to guess (a common password, a pattern or a repeated word); choose "
            "a longer one, for example a few unrelated words"
        )
    return None


def _password(value: SecretStr) -> SecretStr:
    problem = password_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(problem)
    return value


Role = Annotated[str, Field(max_length=40), AfterValidator(_role)]
Roles = Annotated[list[Role], Field(max_length=len(ROLES))]
Password = Annotated[SecretStr, AfterValidator(_password)]
OrganizationIds = Annotated[list[Id], Field(max_length=100)]


class MemberCreate(Input):
    email: EmailStr
    name: Name
    password: Password | None = None
    roles: Roles = Field(default_factory=list)
    permissions: Permissions = Field(default_factory=list)
    organization_ids: OrganizationIds = Field(default_factory=list)


class MemberUpdate(Patch):
    email: EmailStr | None = None
    name: Name | None = None
    active: StrictBool | None = None
    password: Password | None = None
    organization_ids: OrganizationIds | None = None


class MemberOut(Output):
    id: str
    email: str
    name: str
    active: bool
    roles: list[str]
    organization_ids: list[str]
    has_password: bool
    created_at: datetime
    updated_at: datetime


class MemberPermissionsUpdate(Input):
    roles: Roles
    permissions: Permissions


class MemberPermissionsOut(Output):
    member_id: str
    roles: list[str]
    permissions: list[str]
    effective: list[str]


class MemberChanged(MemberOut):
    """A member after a change every gateway must enforce (deactivation, fewer organizations)."""

    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the change before this answer."
    )


class MemberPermissionsChanged(MemberPermissionsOut):
    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the member's keys' new rights before "
        "this answer."
    )
