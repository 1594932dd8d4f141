"""Webhook endpoints as the API takes and shows them."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from keyward.domains.fields import Input, Line, Output
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


class WebhookEndpointCreated(WebhookEndpointOut):
    signing_secret: str = Field(
        description="Verify each delivery's Keyward-Signature with it. Shown only in this response."
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


class WebhookSecretRotated(WebhookEndpointOut):
    signing_secret: str = Field(
        description="The new secret: every delivery from now on is signed with it (the old one "
        "stops at once). Shown only in this response."
    )
    notice: str
