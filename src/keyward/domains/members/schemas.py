"""Members as the API takes and shows them."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, SecretStr, StrictBool

from keyward.core.ownership import ROLES
from keyward.domains.fields import Id, Input, Name, Output, Patch, Permissions


def _role(value: str) -> str:
    if value not in ROLES:
        raise ValueError(f"unknown role {value!r}; known roles: {', '.join(sorted(ROLES))}")
    return value


def _password(value: SecretStr) -> SecretStr:
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value.get_secret_value()):
        raise ValueError("contains control characters")
    return value


Role = Annotated[str, Field(max_length=40), AfterValidator(_role)]
Roles = Annotated[list[Role], Field(max_length=len(ROLES))]
Password = Annotated[SecretStr, Field(min_length=12, max_length=256), AfterValidator(_password)]
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
