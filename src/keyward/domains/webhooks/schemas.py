"""Webhook endpoints as the API takes and shows them."""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from keyward.domains.fields import Grace, Input, Line, Output, ShownOnce
from keyward.domains.notifications.events import Event

Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^\S+$")]


def _distinct(events: list[Event]) -> list[Event]:
    return sorted(set(events))


class WebhookEndpointCreate(Input):
    url: Url = Field(description="The https:// (or http://) URL notifications are POSTed to.")
    events: Annotated[list[Event], Field(max_length=50), AfterValidator(_distinct)] = Field(
        default_factory=list,
        description="The event types to send; leave out or empty for every event.",
    )
    description: Annotated[Line, StringConstraints(max_length=500)] = ""


class WebhookEndpointOut(Output):
    id: str
    url: str
    description: str
    events: list[str]
    active: bool
    created_by: str | None
    created_at: datetime
    previous_secret_until: datetime | None = Field(
        default=None,
        description="Until when the secret replaced by the last rotation still signs "
        "deliveries, next to the current one; null when no grace is running.",
    )


class WebhookEndpointCreated(WebhookEndpointOut):
    signing_secret: ShownOnce = Field(
        description="Verify each delivery's Keyward-Signature with it. Shown only in this "
        "response (null in a replay: see `notice`)."
    )
    notice: str


class DeliveryStatus(StrEnum):
    """Where one delivery stands: waiting for its first attempt, waiting to be tried again
    after a failure, delivered, or given up."""

    PENDING = "pending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDeliveryOut(Output):
    id: str = Field(description="The Keyward-Delivery id the receiver saw.")
    endpoint_id: str
    event: str
    event_id: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    redelivery_of: str | None = Field(
        description="The delivery this one sends again, if it was redelivered."
    )


# How long a replaced signing secret keeps signing when the rotation names no grace, and at most.
DEFAULT_SECRET_GRACE = timedelta(hours=24)
MAX_SECRET_GRACE = timedelta(days=7)


class WebhookSecretRotate(Input):
    grace: Grace = Field(
        default=DEFAULT_SECRET_GRACE,
        description="How long the old secret keeps signing deliveries next to the new one "
        "(ISO-8601; PT24H, the default; PT0S: it stops at once), at most P7D.",
    )


class WebhookSecretRotated(WebhookEndpointOut):
    signing_secret: str = Field(
        description="The new secret: every delivery from now on is signed with it, and with "
        "the old one too until previous_secret_until. Shown only in this response."
    )
    notice: str
