"""API keys as the API takes and shows them. Only `KeyCreated.key` ever carries a secret."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from keyward.core.keys import KeyKind, KeyState
from keyward.core.verdicts import Verdict
from keyward.domains.fields import (
    Duration,
    Grace,
    Id,
    Input,
    Metadata,
    Name,
    Output,
    Patch,
    Permissions,
    Reason,
    ShownOnce,
)
from keyward.domains.gateways.schemas import Enforcement

MAX_METADATA_BYTES = 4096


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


KeyMetadata = Annotated[Metadata, AfterValidator(_small)]

COPY_NOTICE = "Copy this key now: it is shown only in this response and cannot be recovered."
PENDING_NOTICE = (
    "Copy this key now: it is shown only in this response. It works once an approver of the "
    "API approves its issuance (see pending_request_id)."
)


class AccountKeyCreate(Input):
    name: Name
    permissions: Permissions
    expires_in: Duration | None = Field(
        default=None,
        description="ISO-8601 duration (P90D); leave out for a key that never expires.",
    )
    metadata: KeyMetadata = Field(default_factory=dict)


class KeyUpdate(Patch):
    name: Name | None = None
    metadata: KeyMetadata | None = None


class KeyOut(Output):
    id: str
    name: str
    kind: KeyKind
    start: str = Field(description="The beginning of the key, to recognise it; never the secret.")
    state: KeyState
    creator_member_id: str | None
    acquisition_id: str | None
    permissions: list[str]
    metadata: dict[str, Any]
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_at: datetime | None
    previous_key_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still works."
    )
    pending_request_id: str | None = Field(
        description="The issuance, renewal or revocation awaiting approval, if any."
    )
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: ShownOnce = Field(
        description="The secret, in this response only (null in a replay: see `notice`)."
    )
    notice: str


class KeyChanged(KeyOut):
    """A key after a change every gateway must enforce (revoked, renewed), with its receipt."""

    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the change before this answer."
    )


class KeyRotated(KeyCreated):
    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the rotation (the old secret's end "
        "included) before this answer."
    )


class KeyRenew(Input):
    expires_in: Duration | None = Field(
        default=None,
        description="ISO-8601 duration from now, at most the policy's lifetime (the default).",
    )
    reason: Reason = ""


class KeyRotate(Input):
    grace: Grace = Field(
        default=timedelta(0),
        description="How long the old secret keeps working (ISO-8601; PT0S, the default: it "
        "stops at once), at most the policy's maximum grace (longer: 422 grace_too_long).",
    )


class KeyRevoke(Input):
    reason: Reason = ""


def _distinct(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("lists a key more than once")
    return ids


class KeyBulkDelete(Input):
    ids: Annotated[list[Id], Field(min_length=1, max_length=100), AfterValidator(_distinct)]


class BulkOutcome(StrEnum):
    DELETED = "deleted"
    SKIPPED = "skipped"
    NOT_FOUND = "not_found"


class KeyBulkItem(Output):
    id: str
    result: BulkOutcome
    code: str | None = None
    message: str | None = None


class KeyBulkDeleted(Output):
    deleted: int
    skipped: int
    results: list[KeyBulkItem]
    enforcement: Enforcement | None = Field(
        default=None,
        description="Whether every live gateway applied the deletions before this answer.",
    )


class RequestAction(StrEnum):
    ISSUE = "issue"
    RENEW = "renew"
    REVOKE = "revoke"


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # The key changed before a decision could apply (deleted, revoked): nothing was applied.
    CLOSED = "closed"


class KeyRequestOut(Output):
    id: str
    key_id: str | None
    key_name: str
    api_id: str | None
    acquisition_id: str | None = None
    action: RequestAction
    status: RequestStatus
    expires_in: timedelta | None
    reason: str
    requested_by: str | None
    decided_by: str | None
    comment: str
    outcome: str | None = Field(description="What deciding did, or why nothing was applied.")
    created_at: datetime
    decided_at: datetime | None


class KeyRequestDecision(Input):
    comment: Reason = ""


@dataclass(frozen=True, slots=True)
class KeyRequestFilter:
    status: RequestStatus | None = None
    key_id: str | None = None
    # Only the requests the caller may decide (approve or reject), not every one they may read.
    decidable: bool = False
    # Only requests no longer pending (approved, rejected, cancelled or closed).
    decided: bool = False


@dataclass(frozen=True, slots=True)
class KeyRequestContext:
    """What an approver reads beside a request: whose key it is, who asked and who decided,
    and how long the key is valid now."""

    api_name: str | None
    # The API's key lifetime now (ISO-8601; None: keys never expire), what a renewal gives.
    api_key_lifetime: str | None
    acquisition_id: str | None
    # The offering the acquisition is of, as people name it.
    offering_name: str | None
    organization_id: str | None
    organization_name: str | None
    requester_name: str | None
    decider_name: str | None
    key_expires_at: datetime | None


class KeySort(StrEnum):
    """The order of a key list: newest first (the default), or by last use, least recently
    used first (`last_used_at`) or most recently used first (`-last_used_at`); keys never used
    count as used least recently."""

    NEWEST = "-created_at"
    LEAST_RECENTLY_USED = "last_used_at"
    MOST_RECENTLY_USED = "-last_used_at"


@dataclass(frozen=True, slots=True)
class KeyFilter:
    kind: KeyKind | None = None
    state: KeyState | None = None
    acquisition_id: str | None = None
    creator_member_id: str | None = None
    # Keys of the API's acquisitions.
    api_id: str | None = None
    # Unrevoked keys not yet expired that expire within this long from now.
    expiring_within: timedelta | None = None
    # Keys neither used nor created for at least this long.
    unused_for: timedelta | None = None


class KeyVerifyRequest(Input):
    key: Annotated[str, Field(max_length=512)]
    permissions: Permissions = Field(
        default_factory=list, description="Permissions the key must grant to be valid."
    )


class KeyVerifyResult(Output):
    valid: bool
    code: str
    message: str
    key_id: str | None = None
    kind: KeyKind | None = None
    member_id: str | None = None
    acquisition_id: str | None = None
    expires_at: datetime | None = None
    permissions: list[str] = Field(default_factory=list)

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> "KeyVerifyResult":
        return cls(
            valid=verdict.valid,
            code=verdict.code.value,
            message=verdict.message,
            key_id=verdict.key_id,
            kind=KeyKind(verdict.kind) if verdict.kind else None,
            member_id=verdict.member_id,
            acquisition_id=verdict.acquisition_id,
            expires_at=(
                datetime.fromtimestamp(verdict.expires_at, UTC) if verdict.expires_at else None
            ),
            permissions=verdict.permissions.strings(),
        )


class KeyRequestDecided(KeyRequestOut):
    """A key request decided, with whether every gateway applied what it changed (an approved
    revocation or renewal)."""

    enforcement: Enforcement = Field(
        description="Whether every live gateway applied the decision before this answer."
    )
