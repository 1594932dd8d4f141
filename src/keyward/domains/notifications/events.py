"""What keyward tells people about, and the outbox kinds that carry it."""

from enum import StrEnum


class Event(StrEnum):
    KEY_CREATED = "key.created"
    ISSUANCE_REQUESTED = "key.issuance_requested"
    ISSUANCE_APPROVED = "key.issuance_approved"
    ISSUANCE_REJECTED = "key.issuance_rejected"
    KEY_RENEWED = "key.renewed"
    RENEWAL_REQUESTED = "key.renewal_requested"
    RENEWAL_APPROVED = "key.renewal_approved"
    RENEWAL_REJECTED = "key.renewal_rejected"
    REVOCATION_REQUESTED = "key.revocation_requested"
    # A revocation processed: at once, or on approval.
    KEY_REVOKED = "key.revoked"
    REVOCATION_REJECTED = "key.revocation_rejected"
    KEY_ROTATED = "key.rotated"
    KEY_EXPIRING = "key.expiring"
    KEY_EXPIRED = "key.expired"
    # Left unused for the workspace's unused keys policy's `warn_after`.
    KEY_UNUSED = "key.unused"
    ACQUISITION_EXPIRING = "acquisition.expiring"
    ACQUISITION_EXPIRED = "acquisition.expired"
    SPEC_UPDATED = "api.spec_updated"


# One outbox message per e-mail recipient and one per webhook endpoint: each is retried alone,
# and one delivered is never sent again.
EMAIL = "notification.email"
WEBHOOK = "notification.webhook"
