"""What a key is worth at one moment: the snapshot the verifier caches and the verdict it returns.

Deciding is pure: `KeySnapshot.verdict(now)` only compares numbers, so a cached key is verified
without I/O and without allocating.
"""

import math
from dataclasses import dataclass, field, replace
from enum import StrEnum

from keyward.core.ownership import NOBODY, Resource, Standing, permits
from keyward.core.permissions import PermissionSet


class KeyCode(StrEnum):
    """Stable codes of a verification outcome; users and scripts match on them."""

    VALID = "valid"
    KEY_MISSING = "key_missing"
    KEY_INVALID = "key_invalid"
    KEY_EXPIRED = "key_expired"
    KEY_ROTATED = "key_rotated"
    KEY_REVOKED = "key_revoked"
    KEY_DISABLED = "key_disabled"
    KEY_NOT_APPROVED = "key_not_approved"
    ACQUISITION_EXPIRED = "acquisition_expired"
    INSUFFICIENT_RIGHTS = "insufficient_rights"
    VERIFICATION_UNAVAILABLE = "verification_unavailable"

    @property
    def message(self) -> str:
        """What the code means to the caller, and what to do next."""
        return MESSAGES[self]


MESSAGES: dict[KeyCode, str] = {
    KeyCode.VALID: "The key is valid.",
    KeyCode.KEY_MISSING: "No API key was sent: pass it as 'Authorization: Bearer <key>' "
    "or 'X-API-Key: <key>'.",
    KeyCode.KEY_INVALID: "The API key is not valid in this workspace.",
    KeyCode.KEY_EXPIRED: "The API key has expired: renew it or create a new one.",
    KeyCode.KEY_ROTATED: "This secret was replaced when the API key was rotated, and its grace "
    "period has ended: send the key's current secret.",
    KeyCode.KEY_REVOKED: "The API key has been revoked and can never be used again.",
    KeyCode.KEY_DISABLED: "The member who created this API key is deactivated, "
    "so the key does not work.",
    KeyCode.KEY_NOT_APPROVED: "The API key awaits an approver's decision on its issuance; it "
    "works once approved.",
    KeyCode.ACQUISITION_EXPIRED: "The acquisition this key belongs to is not valid now: "
    "reacquire the offering to make the key work again.",
    KeyCode.INSUFFICIENT_RIGHTS: "The API key is valid but does not grant what was asked.",
    KeyCode.VERIFICATION_UNAVAILABLE: "keyward cannot confirm keys right now; try again shortly.",
}


@dataclass(frozen=True, slots=True)
class AcquisitionTerms:
    """What an acquisition key consumes, and when: the acquisition's API and validity."""

    acquisition_id: str
    organization_id: str
    offering_id: str
    api_id: str
    valid_from: float
    valid_until: float | None
    provider_organization_id: str | None = None

    def resource(self) -> Resource:
        """The acquisition as the ownership rule sees it."""
        return Resource(
            "acquisitions",
            self.acquisition_id,
            providers=frozenset(
                () if self.provider_organization_id is None else (self.provider_organization_id,)
            ),
            acquirers=frozenset({self.organization_id}),
            api_id=self.api_id,
        )

    def covers(self, now: float) -> bool:
        return self.valid_from <= now and (self.valid_until is None or now < self.valid_until)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one key. Invalid keys carry no identity beyond what is safe."""

    code: KeyCode
    key_id: str | None = None
    workspace_id: str | None = None
    member_id: str | None = None
    kind: str | None = None
    acquisition: AcquisitionTerms | None = None
    standing: Standing = NOBODY
    """What the key may do: its creator's standing narrowed to the key's permissions."""
    expires_at: float | None = None

    @property
    def permissions(self) -> PermissionSet:
        return self.standing.rights

    @property
    def acquisition_id(self) -> str | None:
        return self.acquisition.acquisition_id if self.acquisition else None

    @property
    def valid(self) -> bool:
        return self.code is KeyCode.VALID

    @property
    def message(self) -> str:
        return MESSAGES[self.code]

    def requiring(self, required: PermissionSet) -> "Verdict":
        """This verdict, or `insufficient_rights` when a valid key does not grant `required`."""
        if not self.valid or not self.permissions.missing(required):
            return self
        return replace(self, code=KeyCode.INSUFFICIENT_RIGHTS)


UNKNOWN = Verdict(KeyCode.KEY_INVALID)
MISSING = Verdict(KeyCode.KEY_MISSING)
# Storage cannot be reached and the cache cannot vouch for the key: neither good nor bad.
UNAVAILABLE = Verdict(KeyCode.VERIFICATION_UNAVAILABLE)


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    """A key as stored, with its creator's standing, at the moment it was read."""

    key_id: str
    workspace_id: str
    member_id: str | None
    kind: str
    acquisition: AcquisitionTerms | None
    revoked: bool
    member_active: bool
    expires_at: float | None
    key_permissions: PermissionSet
    member_standing: Standing
    awaiting_approval: bool = False
    rotated_out_at: float | None = None
    """For a secret a rotation replaced: when its grace ends (`expires_at` is the key's)."""
    valid: Verdict = field(init=False, repr=False, compare=False)
    """The verdict while the key is good: callers may test `verdict is snapshot.valid`."""
    _expired: Verdict = field(init=False, repr=False, compare=False)
    _rotated: Verdict = field(init=False, repr=False, compare=False)
    _acquisition_expired: Verdict = field(init=False, repr=False, compare=False)
    _standing: Verdict | None = field(init=False, repr=False, compare=False)
    good_from: float = field(init=False, repr=False, compare=False)
    """From this POSIX time until `good_until`, `verdict(now)` is `valid`."""
    good_until: float = field(init=False, repr=False, compare=False)

    @property
    def acquisition_id(self) -> str | None:
        return self.acquisition.acquisition_id if self.acquisition else None

    def __post_init__(self) -> None:
        # When this secret stops working: the key's expiry, or its grace's end if sooner.
        ends = min(
            (end for end in (self.expires_at, self.rotated_out_at) if end is not None),
            default=None,
        )

        def make(code: KeyCode, standing: Standing = NOBODY) -> Verdict:
            return Verdict(
                code,
                key_id=self.key_id,
                workspace_id=self.workspace_id,
                member_id=self.member_id,
                kind=self.kind,
                acquisition=self.acquisition,
                standing=standing,
                expires_at=ends,
            )

        effective = self.member_standing.narrowed(self.key_permissions)
        standing: Verdict | None = None
        if self.revoked:
            standing = make(KeyCode.KEY_REVOKED)
        elif self.member_id is None or not self.member_active:
            standing = make(KeyCode.KEY_DISABLED)
        elif self.awaiting_approval:
            standing = make(KeyCode.KEY_NOT_APPROVED)
        elif self.acquisition is not None and not permits(
            effective, self.acquisition.resource(), "use"
        ):
            # The creator no longer holds the acquisition (a right taken, or they left its
            # organization): the key cannot hold more.
            standing = make(KeyCode.INSUFFICIENT_RIGHTS)
        object.__setattr__(self, "valid", make(KeyCode.VALID, effective))
        object.__setattr__(self, "_expired", make(KeyCode.KEY_EXPIRED))
        object.__setattr__(self, "_rotated", make(KeyCode.KEY_ROTATED))
        object.__setattr__(self, "_acquisition_expired", make(KeyCode.ACQUISITION_EXPIRED))
        object.__setattr__(self, "_standing", standing)
        good_from, good_until = -math.inf, math.inf
        if ends is not None:
            good_until = ends
        if self.acquisition is not None:
            good_from = self.acquisition.valid_from
            if self.acquisition.valid_until is not None:
                good_until = min(good_until, self.acquisition.valid_until)
        if standing is not None:
            good_until = -math.inf
        object.__setattr__(self, "good_from", good_from)
        object.__setattr__(self, "good_until", good_until)

    def verdict(self, now: float) -> Verdict:
        """The verdict at POSIX time `now`: revoked, then disabled, then not approved yet,
        then lacking rights, then a rotated-away secret past its grace (renewing the key would
        not help it), then key expired, then acquisition not valid now, else valid."""
        if self._standing is not None:
            return self._standing
        if self.rotated_out_at is not None and now >= self.rotated_out_at:
            return self._rotated
        if self.expires_at is not None and now >= self.expires_at:
            return self._expired
        if self.acquisition is not None and not self.acquisition.covers(now):
            return self._acquisition_expired
        return self.valid
