"""The key lifecycle as one state machine: which change a key's state allows, and which changes
wait for an approver.

```
issue ─► (awaiting approval ─approved─►) active ──renew──► active, expiring later
                                           ├─ rotate ─► a new secret; the old one for a grace
                                           ├─ expires_at passes ─► expired (renewable)
                                           └─ revoke ─► revoked ─ delete ─► gone
```

Where the API's key policy wants an approver, issuing, renewing or revoking by anyone but an
approver of the API files a key request instead, and the key stays as it is meanwhile. A key
with a pending request is neither renewed nor deleted until the request is decided. Deciding is
pure: the functions here read plain facts and raise `Conflict` with a stable code.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keyward.core.errors import Conflict


class Change(StrEnum):
    """What is asked of a key. Issuance, renewal and revocation may wait for an approver."""

    ISSUE = "issue"
    RENEW = "renew"
    ROTATE = "rotate"
    REVOKE = "revoke"
    DELETE = "delete"


# The changes an approver may be asked to decide, and how a key request names them.
REQUESTABLE = (Change.ISSUE, Change.RENEW, Change.REVOKE)
NOUNS = {Change.ISSUE: "issuance", Change.RENEW: "renewal", Change.REVOKE: "revocation"}


@dataclass(frozen=True, slots=True)
class KeyFacts:
    """What the lifecycle needs to know of a key."""

    key_id: str
    revoked: bool
    expires_at: datetime | None
    awaiting_approval: bool
    pending_request: str | None


@dataclass(frozen=True, slots=True)
class Approvals:
    """Which changes the key's policy sends to an approver (an account key's: none)."""

    issuance: bool = False
    renewal: bool = False
    revocation: bool = False

    def wanted(self, change: Change) -> bool:
        return {
            Change.ISSUE: self.issuance,
            Change.RENEW: self.renewal,
            Change.REVOKE: self.revocation,
        }.get(change, False)


class Step(StrEnum):
    APPLY = "apply"  # make the change now
    REQUEST = "request"  # file a key request for an approver
    NOTHING = "nothing"  # it is already so


def _pending(key: KeyFacts) -> Conflict:
    return Conflict(
        f"Key {key.key_id} has a pending request ({key.pending_request}); wait for its decision "
        "or cancel it first.",
        code="key_request_pending",
        details={"key_id": key.key_id, "request_id": key.pending_request},
    )


def _revoked(key: KeyFacts, what: str) -> Conflict:
    return Conflict(
        f"Key {key.key_id} is revoked; a revoked key cannot be {what}.",
        code="key_revoked",
        details={"key_id": key.key_id},
    )


def _awaiting(key: KeyFacts, what: str) -> Conflict:
    return Conflict(
        f"Key {key.key_id} awaits an approver's decision on its issuance; it cannot be {what} "
        "before that.",
        code="key_awaiting_approval",
        details={"key_id": key.key_id, "request_id": key.pending_request},
    )


def approval_required(change: Change, key_id: str | None = None) -> Conflict:
    noun = NOUNS[change]
    return Conflict(
        f"This API's policy has an approver decide on every {noun} of its keys; ask for it "
        "with a key request instead.",
        code=f"{noun}_requires_approval",
        details={"key_id": key_id} if key_id else {},
    )


def _waits(
    change: Change,
    approvals: Approvals,
    approver: bool,
    allow_request: bool,
    key_id: str | None = None,
) -> Step:
    if not approvals.wanted(change) or approver:
        return Step.APPLY
    if not allow_request:
        raise approval_required(change, key_id)
    return Step.REQUEST


def plan_issue(approvals: Approvals, *, approver: bool, allow_request: bool) -> Step:
    """A new key: made now, or made awaiting an approver's decision."""
    return _waits(Change.ISSUE, approvals, approver, allow_request)


def plan(
    change: Change,
    key: KeyFacts,
    now: datetime,
    approvals: Approvals,
    *,
    approver: bool,
    allow_request: bool,
    revoke_first: bool = False,
) -> Step:
    """What asking `change` of the key does: apply it, file a request, or nothing; or raise
    `Conflict` saying why the key's state refuses it. `approver`: the caller may decide the
    key's requests; `allow_request`: the caller accepts a pending request as the answer;
    `revoke_first`: a deletion revokes an active key first (where that needs no approver)."""
    if change is Change.RENEW:
        if key.revoked:
            raise _revoked(key, "renewed")
        if key.awaiting_approval:
            raise _awaiting(key, "renewed")
        if key.expires_at is None:
            raise Conflict(
                f"Key {key.key_id} never expires: there is nothing to renew.",
                code="key_never_expires",
                details={"key_id": key.key_id},
            )
        if key.pending_request is not None:
            raise _pending(key)
        return _waits(change, approvals, approver, allow_request, key.key_id)
    if change is Change.ROTATE:
        if key.revoked:
            raise _revoked(key, "rotated")
        if key.awaiting_approval:
            raise _awaiting(key, "rotated")
        if key.expires_at is not None and key.expires_at <= now:
            raise Conflict(
                f"Key {key.key_id} has expired; renew it before rotating it.",
                code="key_expired",
                details={"key_id": key.key_id},
            )
        return Step.APPLY
    if change is Change.REVOKE:
        if key.revoked:
            return Step.NOTHING
        if key.awaiting_approval:
            # Never in use: withdrawing it needs nobody's approval.
            return Step.APPLY
        if _waits(change, approvals, approver, allow_request=True) is Step.APPLY:
            return Step.APPLY
        if key.pending_request is not None:
            raise _pending(key)
        if not allow_request:
            raise approval_required(change, key.key_id)
        return Step.REQUEST
    if change is Change.DELETE:
        if key.pending_request is not None:
            raise _pending(key)
        if not key.revoked:
            if not revoke_first:
                raise Conflict(
                    "Only a revoked key can be deleted: revoke it first, or delete with "
                    "?revoke=true to revoke and delete in one step.",
                    code="key_not_revoked",
                    details={"key_id": key.key_id},
                )
            if plan(Change.REVOKE, key, now, approvals, approver=approver, allow_request=True) is (
                Step.REQUEST
            ):
                raise Conflict(
                    "Revoking this key needs an approver's decision, so it cannot be revoked "
                    "and deleted in one step: request its revocation, then delete it once "
                    "revoked.",
                    code="revocation_requires_approval",
                    details={"key_id": key.key_id},
                )
        return Step.APPLY
    raise ValueError(f"{change} is planned with plan_issue")


def blocked(change: Change, key: KeyFacts | None) -> str | None:
    """Why an approved request can no longer be applied to the key, if it cannot: the
    request is then closed with this outcome and nothing is applied."""
    if key is None:
        return "key_deleted"
    if key.revoked:
        return "key_revoked"
    if change is Change.RENEW and key.expires_at is None:
        return "key_never_expires"
    return None
