"""Workspaces as the API shows them."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field

from keyward.core.keys import DEFAULT_PREFIX, validate_prefix
from keyward.core.ownership import Reach
from keyward.domains.fields import Input, Name, Output
from keyward.domains.keys.schemas import KeyOut
from keyward.domains.members.schemas import MemberOut


def _prefix(value: str) -> str:
    if not validate_prefix(value):
        raise ValueError("must be 2 to 12 lowercase letters or digits, starting with a letter")
    return value


KeyPrefix = Annotated[str, AfterValidator(_prefix)]


class WorkspaceOut(Output):
    id: str
    name: str
    key_prefix: str
    created_at: datetime


class WorkspaceCreate(Input):
    name: Name
    key_prefix: KeyPrefix = DEFAULT_PREFIX
    admin_email: EmailStr
    admin_name: Name = "Admin"


class GrantOut(Output):
    reach: Reach = Field(
        description="What the permissions apply to: the whole workspace, what the member's "
        "provider or acquirer organizations own, or the APIs whose policy names them approver."
    )
    permissions: list[str]


class Me(Output):
    workspace: WorkspaceOut
    member: MemberOut | None
    key: KeyOut | None
    permissions: list[str] = Field(description="Every permission held, wherever it applies.")
    grants: list[GrantOut]
