"""Delivering a connector's export: the spec as the acquisition sees it, plus its key.

A webhook receives one signed JSON envelope; a storage URL receives the spec file and, next to
it, `<url>.key.json` with the key. The delivery acts as the member who made the connector,
with their rights now: a creator who lost access to the acquisition stops its deliveries.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyward.core.actors import Via
from keyward.core.errors import KeywardError
from keyward.core.openapi.rendering import Format, render
from keyward.core.sealing import SealBroken, Sealer, place
from keyward.db.engine import Database
from keyward.db.models import Connector, OutboxMessage
from keyward.domains import access
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import ExportVersion
from keyward.domains.connectors.schemas import ConnectorKind
from keyward.domains.connectors.service import record_delivery
from keyward.domains.egress import tenant_policy
from keyward.domains.workspaces.service import actor_for_member
from keyward.jobs.transports import (
    DeliveryFailed,
    PermanentFailure,
    post_webhook,
    write_files,
    write_s3,
)
from keyward.settings import LOCAL_DESTINATION, Settings


@dataclass(frozen=True, slots=True)
class Exported:
    spec: bytes
    api_id: str
    api_version: int


def _export(
    database: Database, settings: Settings, connector: Connector, api_version: int
) -> Exported:
    try:
        with database.transaction(write=False) as uow:
            if connector.created_by is None:
                raise PermanentFailure("the member who made the connector is gone")
            actor = actor_for_member(uow, connector.workspace_id, connector.created_by, Via.SYSTEM)
            exported = acquisitions.export_spec(
                uow,
                actor,
                connector.acquisition_id,
                ExportVersion(connector.openapi_version),
                settings,
                api_version=api_version,
            )
    except KeywardError as error:
        raise PermanentFailure(f"{error.code}: {error.message}") from None
    return Exported(
        render(exported.document, Format(connector.format)), exported.api_id, api_version
    )


def _envelope(
    message: OutboxMessage, connector: Connector, exported: Exported, key: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": message.id,
        "type": "acquisition.spec.exported",
        "created_at": now.isoformat(),
        "data": {
            "connector_id": connector.id,
            "acquisition_id": connector.acquisition_id,
            "api_id": exported.api_id,
            "api_version": exported.api_version,
            "openapi_version": connector.openapi_version,
            "format": connector.format,
            "spec": exported.spec.decode("utf-8"),
            "key": {"id": connector.key_id, "secret": key},
        },
    }


def _opened(settings: Settings, connector: Connector, column: str) -> str:
    """A sealed secret of the connector, by the keyring as it is now (it may have rotated)."""
    try:
        return Sealer(settings.server_secrets()).open(
            getattr(connector, column) or b"", place("connectors", connector.id, column)
        )
    except SealBroken as broken:
        raise PermanentFailure(str(broken)) from None


def _send(
    settings: Settings,
    message: OutboxMessage,
    connector: Connector,
    exported: Exported,
    now: datetime,
) -> str:
    key = _opened(settings, connector, "sealed_key")
    if connector.kind == ConnectorKind.WEBHOOK:
        body = json.dumps(_envelope(message, connector, exported, key, now)).encode()
        signing_secret = _opened(settings, connector, "sealed_signing_secret")
        return post_webhook(
            connector.url,
            body,
            secret=signing_secret,
            delivery_id=message.id,
            policy=tenant_policy(settings),
            user_agent="keyward-connector",
            deadline=settings.delivery_deadline,
        )
    key_file = {
        "key_id": connector.key_id,
        "key": key,
        "api_id": exported.api_id,
        "acquisition_id": connector.acquisition_id,
        "api_version": exported.api_version,
        "exported_at": now.isoformat(),
    }
    files = {"": exported.spec, ".key.json": json.dumps(key_file, indent=2).encode()}
    name, path = _destination_of(connector, settings)
    destination = settings.destinations().get(name)
    if destination is None:
        raise PermanentFailure(f"the operator no longer offers the destination {name!r}")
    if destination.kind == "s3":
        return write_s3(destination, path, files)
    assert destination.root is not None  # noqa: S101 - a validated file destination has one
    return write_files(destination.root, path, files)


def _destination_of(connector: Connector, settings: Settings) -> tuple[str, str]:
    """Where a storage connector writes: its destination and path; for one made before
    destinations, its file:// URL below the local destination's root (checked as a new
    path is)."""
    if connector.destination is not None and connector.path is not None:
        return connector.destination, connector.path
    root = str(settings.connector_file_root.resolve()).rstrip("/") + "/"
    written = connector.url.removeprefix("file://")
    if connector.url.startswith("file://") and written.startswith(root):
        return LOCAL_DESTINATION, written[len(root) :]
    raise PermanentFailure(
        "this connector was made before storage destinations: make it again with one"
    )


def deliver_export(database: Database, settings: Settings, message: OutboxMessage) -> None:
    """Deliver one `connector.export` message and log the attempt; raises when it failed."""
    started = database.clock.now()
    with database.transaction(write=False) as uow:
        connector = access.get(
            uow, access.CONNECTORS, message.workspace_id, message.payload["connector_id"]
        )
    if connector is None:
        return  # deleted since: nothing left to deliver
    api_version = int(message.payload["api_version"])

    def log(error: str | None, detail: str) -> None:
        with database.transaction() as uow:
            record_delivery(
                uow,
                connector,
                message_id=message.id,
                api_version=api_version,
                attempt=message.attempts,
                error=error,
                detail=detail,
                started_at=started,
            )

    try:
        exported = _export(database, settings, connector, api_version)
        detail = _send(settings, message, connector, exported, started)
    except (PermanentFailure, DeliveryFailed, KeywardError) as failure:
        log(str(failure), "")
        raise
    log(None, detail)
