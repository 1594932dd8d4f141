"""Connectors and their deliveries as the API takes and shows them."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from keyward.core.openapi.rendering import Format
from keyward.domains.acquisitions.schemas import ExportVersion
from keyward.domains.fields import Input, Name, Output, ShownOnce


class ConnectorKind(StrEnum):
    WEBHOOK = "webhook"
    STORAGE = "storage"


Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^\S+$")]
StoragePath = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ConnectorCreate(Input):
    kind: ConnectorKind
    url: Url | None = Field(default=None, description="webhook: the https:// URL to POST to.")
    destination: str | None = Field(
        default=None,
        description="storage: the name of a destination the operator configured (default: local).",
    )
    path: StoragePath | None = Field(
        default=None,
        description="storage: where below the destination to write the spec "
        "(globex/petstore.json); the key goes beside it, in <path>.key.json.",
    )
    version: ExportVersion = ExportVersion.V3
    format: Format = Format.JSON
    key: Annotated[str, StringConstraints(max_length=512)] | None = Field(
        default=None,
        description="An existing key of this acquisition to deliver; leave out to generate one.",
    )
    key_name: Name | None = Field(default=None, description="Name of the generated key.")


class DeliveryOut(Output):
    id: str
    connector_id: str
    message_id: str
    api_version: int
    attempt: int
    status: str
    detail: str
    started_at: datetime
    finished_at: datetime


class ConnectorOut(Output):
    id: str
    acquisition_id: str
    kind: ConnectorKind
    url: str | None = Field(description="webhook: where it posts.")
    destination: str | None = Field(description="storage: the operator's destination.")
    path: str | None = Field(description="storage: where below the destination it writes.")
    version: ExportVersion
    format: Format
    key_id: str | None
    created_by: str | None
    created_at: datetime
    last_delivery: DeliveryOut | None


class ConnectorCreated(ConnectorOut):
    signing_secret: ShownOnce = Field(
        description="webhook only: verify each delivery's Keyward-Signature with it. "
        "Shown only in this response."
    )
    key: ShownOnce = Field(description="The generated key, if one was generated; shown once.")
    notice: str


class ConnectorDeleted(Output):
    id: str
    deleted: bool
    key_id: str | None = Field(description="The key the connector delivered, if it still exists.")
    key_revoked: bool = Field(description="Whether that key was revoked with the connector.")
    message: str
