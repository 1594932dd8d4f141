"""Webhook endpoints as the API takes and shows them."""

from datetime import datetime
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
