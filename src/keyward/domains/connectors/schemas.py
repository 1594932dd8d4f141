"""Connectors and their deliveries as the API takes and shows them."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from keyward.core.openapi.rendering import Format
from keyward.domains.acquisitions.schemas import ExportVersion
from keyward.domains.fields import Input, Name, Output


class ConnectorKind(StrEnum):
    WEBHOOK = "webhook"
    STORAGE = "storage"


Url = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"^\S+$")]
OptionText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00-\x1f]*$")]


class ConnectorCreate(Input):
    kind: ConnectorKind
    url: Url = Field(
        description="webhook: the https:// (or http://) URL to POST to. storage: where to write "
        "the spec, file:///... (below the server's export root) or s3://bucket/key."
    )
    storage_options: dict[OptionText, OptionText] | None = Field(
        default=None,
        description="storage only: fsspec options such as endpoint_url, key, secret. "
        "Kept sealed with the server secret.",
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
    url: str
    version: ExportVersion
    format: Format
    key_id: str | None
    created_by: str | None
    created_at: datetime
    last_delivery: DeliveryOut | None


class ConnectorCreated(ConnectorOut):
    signing_secret: str | None = Field(
        description="webhook only: verify each delivery's Keyward-Signature with it. "
        "Shown only in this response."
    )
    key: str | None = Field(description="The generated key, if one was generated; shown once.")
    notice: str
