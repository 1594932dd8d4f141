"""API keys as the API takes and shows them. Only `KeyCreated.key` ever carries a secret."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from keyward.core.keys import KeyKind, KeyState
from keyward.core.verdicts import Verdict
from keyward.domains.fields import Duration, Input, Metadata, Name, Output, Patch, Permissions

MAX_METADATA_BYTES = 4096


def _small(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return value


KeyMetadata = Annotated[Metadata, AfterValidator(_small)]

COPY_NOTICE = "Copy this key now: it is shown only in this response and cannot be recovered."
REPLAY_NOTICE = (
    "This answers a repeated request with the same Idempotency-Key; the key was shown only in "
    "the first response. Revoke it and create a new one if it was not saved."
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
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None


class KeyCreated(KeyOut):
    key: str | None = Field(description="The secret, in this response only.")
    notice: str


@dataclass(frozen=True, slots=True)
class KeyFilter:
    kind: KeyKind | None = None
    state: KeyState | None = None
    acquisition_id: str | None = None
    creator_member_id: str | None = None


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
