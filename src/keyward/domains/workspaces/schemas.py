"""Workspaces as the API shows them."""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, EmailStr, Field, model_validator

from keyward.core.keys import DEFAULT_PREFIX, validate_prefix
from keyward.core.ownership import Reach
from keyward.domains.fields import Duration, Input, Name, Output
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


MIN_UNUSED_AFTER = timedelta(days=1)


def _at_least_a_day(value: timedelta) -> timedelta:
    if value < MIN_UNUSED_AFTER:
        raise ValueError("must be at least P1D, so that a key used daily is never at risk")
    return value


UnusedAfter = Annotated[Duration, AfterValidator(_at_least_a_day)]


class UnusedKeysPolicy(Input):
    """Keys neither used nor created for `warn_after` are announced to their owner (e-mail
    and the `key.unused` webhook event), once per idle period; keys unused for `revoke_after`
    are revoked with the reason "unused", never sooner than `revoke_after - warn_after` after
    their warning. Either may be left out: no warning, or no revocation."""

    warn_after: UnusedAfter | None = Field(default=None, description="ISO-8601, e.g. P60D.")
    revoke_after: UnusedAfter | None = Field(default=None, description="ISO-8601, e.g. P90D.")

    @model_validator(mode="after")
    def _in_order(self) -> "UnusedKeysPolicy":
        if self.warn_after is None and self.revoke_after is None:
            raise ValueError("name warn_after, revoke_after or both; null switches the policy off")
        if (
            self.warn_after is not None
            and self.revoke_after is not None
            and self.warn_after >= self.revoke_after
        ):
            raise ValueError("warn_after must be shorter than revoke_after")
        return self


class WorkspaceSettings(Input):
    unused_keys: UnusedKeysPolicy | None = Field(
        default=None,
        description="Warn the owners of keys left unused, then revoke them; null: off.",
    )
