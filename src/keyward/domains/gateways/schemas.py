"""Gateways and enforcement receipts as the API shows them."""

from datetime import datetime

from pydantic import Field

from keyward.domains.fields import Output
from keyward.domains.pagination import Page


class GatewayLag(Output):
    changes: int = Field(description="Changes recorded in the feed that it has not applied.")
    seconds: float = Field(
        description="How long ago the oldest change it has not applied was recorded (0 when "
        "it lags none)."
    )


class GatewayOut(Output):
    id: str
    address: str = Field(description="host:port the gateway serves.")
    version: str = Field(description="The keyward version the gateway runs.")
    hostname: str
    pid: int
    started_at: datetime
    applied: int = Field(description="The change-feed position up to which it is current.")
    lag: GatewayLag
    last_heartbeat_at: datetime
    live: bool = Field(
        description="Whether it beat within ten of its heartbeat intervals; a gateway that is "
        "not live is not waited for by revocations."
    )


class GatewayPage(Page[GatewayOut]):
    feed_position: int = Field(description="The last change-feed position recorded.")


class LaggingGateway(Output):
    id: str
    address: str
    applied: int = Field(description="The change-feed position it had applied.")
    behind: int = Field(description="How many changes it was behind this one.")


class Enforcement(Output):
    """Whether every live gateway applied a change before it was answered."""

    enforced_at: datetime | None = Field(
        description="When every live gateway was seen to have applied the change; null if one "
        "lagged past KEYWARD_ENFORCEMENT_WAIT, or no gateway is live."
    )
    gateways: int = Field(description="The live gateways counted.")
    lagging: list[LaggingGateway] = Field(
        default_factory=list, description="The live gateways that had not applied it yet."
    )
