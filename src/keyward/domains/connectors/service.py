"""The rules for connectors: where an acquisition's spec goes, with which key, and the log of
every delivery.

The key a connector delivers is either one of the acquisition's keys the acquirer pastes (the
verifier confirms it is valid and belongs to this acquisition) or a new key made for it. Its
secret, like a webhook's signing secret, is kept sealed with the server secret and opened only
to deliver. A webhook's URL must be one the egress policy lets keyward reach; storage is
written below a destination the operator configured, at a path the tenant chooses, never a
URL, a protocol or credentials of the tenant's.
"""

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from keyward.core.actors import Actor
from keyward.core.errors import Conflict, Hidden, InvalidInput
from keyward.core.ids import new_id, quote
from keyward.core.openapi.conversion import ConversionError
from keyward.core.openapi.rendering import Format
from keyward.core.sealing import Sealer, place
from keyward.core.storage import InvalidStoragePath, storage_segments
from keyward.core.verdicts import Verdict
from keyward.db.engine import UnitOfWork
from keyward.db.models import Connector, Delivery
from keyward.domains import access, egress
from keyward.domains.acquisitions import service as acquisitions
from keyward.domains.acquisitions.schemas import AcquisitionKeyCreate, ExportVersion
from keyward.domains.apis.service import api_of
from keyward.domains.audit import service as audit
from keyward.domains.caps import ensure_room
from keyward.domains.connectors import repository
from keyward.domains.connectors.schemas import (
    ConnectorCreate,
    ConnectorCreated,
    ConnectorDeleted,
    ConnectorKind,
    ConnectorOut,
    DeliveryOut,
)
from keyward.domains.connectors.updates import EXPORT
from keyward.domains.keys import service as keys
from keyward.domains.outbox import service as outbox
from keyward.domains.pagination import Page, PageRequest, split_page
from keyward.settings import LOCAL_DESTINATION, Settings

KeyCheck = Callable[[str], Verdict]
"""The verifier's verdict on a key, in the actor's workspace."""

NOTICE = (
    "The signing secret and a generated key are shown only in this response; keyward keeps "
    "them sealed and uses them only to deliver."
)


def _check_destination(body: ConnectorCreate, settings: Settings) -> tuple[str, str | None]:
    """Where the connector delivers: a webhook URL keyward may reach, or a destination the
    operator named and a path below it. Returns the destination (or "") and the path."""
    if body.kind is ConnectorKind.WEBHOOK:
        if body.destination is not None or body.path is not None:
            raise InvalidInput(
                "A webhook connector has a url, no destination or path.",
                code="invalid_destination",
            )
        parts = urlsplit(body.url or "")
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                "A webhook URL is https://, with a host.", code="invalid_destination"
            )
        egress.check_destination(
            body.url or "", egress.tenant_policy(settings), plain_http=settings.egress_allow_http
        )
        return "", None
    if body.url is not None:
        raise InvalidInput(
            "A storage connector names a destination the operator configured and a path below "
            "it, not a URL.",
            code="invalid_destination",
        )
    name = body.destination or LOCAL_DESTINATION
    offered = settings.destinations()
    if name not in offered:
        raise InvalidInput(
            f"There is no storage destination {quote(name)}; this installation offers "
            f"{', '.join(sorted(offered))}.",
            code="unknown_destination",
            details={"destinations": sorted(offered)},
        )
    try:
        storage_segments(body.path or "")
    except InvalidStoragePath as error:
        raise InvalidInput(str(error), code="invalid_path") from None
    return name, body.path


def _check_exportable(
    uow: UnitOfWork, actor: Actor, acquisition_id: str, version: ExportVersion, settings: Settings
) -> None:
    """Export the spec now as the connector will deliver it, so that what its version cannot
    describe (an API key in a cookie, in OpenAPI 2.0) is refused here and not by every
    delivery in the background."""
    try:
        acquisitions.export_spec(uow, actor, acquisition_id, version, settings)
    except ConversionError as error:
        message = (
            "This API takes its key in a cookie, which OpenAPI 2.0 cannot describe; nothing "
            "was created. Make the connector with version 3.0, or ask the provider to accept "
            "the key in a header or query parameter."
            if error.code == "cookie_api_key"
            else f"The spec cannot be delivered as OpenAPI {version.value}; nothing was "
            f"created. {error.message}"
        )
        raise InvalidInput(
            message,
            code=error.code,
            details={**error.details, "version": version.value},
        ) from None


def shown_url(url: str) -> str:
    """The URL without any user:password it might carry."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _out(uow: UnitOfWork, connector: Connector) -> ConnectorOut:
    last = repository.last_delivery(uow.session, connector.id)
    return ConnectorOut(
        id=connector.id,
        acquisition_id=connector.acquisition_id,
        kind=ConnectorKind(connector.kind),
        url=shown_url(connector.url) if connector.url else None,
        destination=connector.destination,
        path=connector.path,
        version=ExportVersion(connector.openapi_version),
        format=Format(connector.format),
        key_id=connector.key_id,
        created_by=connector.created_by,
        created_at=connector.created_at,
        last_delivery=DeliveryOut.model_validate(last) if last else None,
    )


def find_connector(uow: UnitOfWork, actor: Actor, connector_id: str, action: str) -> Connector:
    return access.find(uow, actor, access.CONNECTORS, connector_id, action)


def create_connector(
    uow: UnitOfWork,
    actor: Actor,
    acquisition_id: str,
    body: ConnectorCreate,
    *,
    verify: KeyCheck,
    sealer: Sealer,
    settings: Settings,
) -> ConnectorCreated:
    """A connector, with a first delivery of the current spec queued at once."""
    access.gate(actor, "connectors", "create")
    acquisition, offering = acquisitions.find_acquisition(
        uow, actor, acquisition_id, "read", for_update=True
    )
    access.check(
        actor,
        replace(access.resource_of(uow, acquisition), kind="connectors", id=None),
        "create",
        hidden=lambda: access.ACQUISITIONS.not_found(acquisition_id, Hidden),
    )
    destination, path = _check_destination(body, settings)
    _check_exportable(uow, actor, acquisition.id, body.version, settings)
    ensure_room(
        repository.count_of(uow.session, acquisition.id),
        settings.max_connectors_per_acquisition,
        what="connectors",
        of="acquisition",
        code="connector_limit_reached",
        setting="KEYWARD_MAX_CONNECTORS_PER_ACQUISITION",
    )
    connector_id = new_id("con")
    generated = None
    if body.key is not None:
        verdict = verify(body.key)
        if not verdict.valid or verdict.acquisition_id != acquisition.id or verdict.key_id is None:
            raise InvalidInput(
                "That key is not a valid key of this acquisition.", code="key_not_of_acquisition"
            )
        key_id, secret = verdict.key_id, body.key
    else:
        # Named after the connector: a second connector to the same place needs a key too.
        where = urlsplit(body.url).hostname if body.url else destination
        name = body.key_name or f"connector {connector_id} to {where}"
        generated = acquisitions.create_key(
            uow, actor, acquisition.id, AcquisitionKeyCreate(name=name), settings
        )
        if generated.key is None:  # a key made just now always carries its secret
            raise RuntimeError("a generated key came without its secret")
        key_id, secret = generated.id, generated.key
    signing_secret = (
        f"whsec_{secrets.token_urlsafe(32)}" if body.kind is ConnectorKind.WEBHOOK else None
    )
    now = uow.clock.now()
    connector = Connector(
        id=connector_id,
        workspace_id=actor.workspace_id,
        acquisition_id=acquisition.id,
        kind=body.kind.value,
        url=body.url or "",
        destination=destination or None,
        path=path,
        openapi_version=body.version.value,
        format=body.format.value,
        key_id=key_id,
        sealed_key=sealer.seal(secret, place("connectors", connector_id, "sealed_key")),
        sealed_signing_secret=(
            sealer.seal(signing_secret, place("connectors", connector_id, "sealed_signing_secret"))
            if signing_secret
            else None
        ),
        sealed_options=None,
        created_by=actor.member_id,
        created_at=now,
        updated_at=now,
    )
    repository.add(uow.session, connector)
    api = api_of(uow, acquisition.workspace_id, offering.api_id)
    outbox.enqueue(
        uow,
        actor.workspace_id,
        EXPORT,
        {"connector_id": connector.id, "api_version": api.current_version},
    )
    audit.record(
        uow,
        actor,
        "connector.create",
        target_type="connector",
        target_id=connector.id,
        details={
            "acquisition_id": acquisition.id,
            "kind": connector.kind,
            "url": shown_url(connector.url) if connector.url else None,
            "destination": connector.destination,
            "path": connector.path,
            "version": connector.openapi_version,
            "format": connector.format,
            "key_id": key_id,
        },
    )
    return ConnectorCreated(
        **_out(uow, connector).model_dump(),
        signing_secret=signing_secret,
        key=generated.key if generated else None,
        notice=NOTICE,
    )


def get_connector(uow: UnitOfWork, actor: Actor, connector_id: str) -> ConnectorOut:
    return _out(uow, find_connector(uow, actor, connector_id, "read"))


def list_connectors(
    uow: UnitOfWork, actor: Actor, acquisition_id: str, page: PageRequest
) -> Page[ConnectorOut]:
    access.gate(actor, "connectors", "read")
    acquisition, _ = acquisitions.find_acquisition(uow, actor, acquisition_id, "read")
    rows = repository.list_connectors(
        uow.session, acquisition.id, page, visible=access.visible(actor, access.CONNECTORS)
    )
    kept, cursor = split_page(rows, page, lambda c: c.id)
    return Page[ConnectorOut](data=[_out(uow, c) for c in kept], next_cursor=cursor)


def delete_connector(
    uow: UnitOfWork, actor: Actor, connector_id: str, *, revoke_key: bool | None
) -> ConnectorDeleted:
    """Stop delivering. The key the connector delivered, if it is not revoked yet, is revoked
    with it (`revoke_key`, where its policy needs no approval for that: else 409
    `revocation_requires_approval`) or kept working (`revoke_key=False`); without that choice,
    409 `key_choice_required` names the key. Refused, nothing is deleted."""
    connector = find_connector(uow, actor, connector_id, "delete")
    key = (
        access.get(uow, access.KEYS, connector.workspace_id, connector.key_id)
        if connector.key_id
        else None
    )
    live = key is not None and key.revoked_at is None
    if key is not None and live and revoke_key is None:
        raise Conflict(
            f"Connector {connector.id} delivers the key {quote(key.name)} ({key.id}), which "
            "still works; nothing was deleted. Choose whether to revoke that key with it "
            "(revoke_key=true) or keep it working (revoke_key=false).",
            code="key_choice_required",
            details={"key_id": key.id, "key_name": key.name},
        )
    revoked = False
    if key is not None and live and revoke_key:
        keys.revoke_key(uow, actor, key.id, f"its connector {connector.id} was deleted")
        revoked = True
    repository.delete(uow.session, connector)
    audit.record(
        uow,
        actor,
        "connector.delete",
        target_type="connector",
        target_id=connector.id,
        details={
            "url": shown_url(connector.url) if connector.url else None,
            "key_id": key.id if key else None,
            "key_revoked": revoked,
        },
    )
    if key is None:
        told = "Its key no longer exists."
    elif revoked:
        told = f"Its key {quote(key.name)} ({key.id}) is revoked."
    elif live:
        told = f"Its key {quote(key.name)} ({key.id}) keeps working; revoke it when done."
    else:
        told = f"Its key {quote(key.name)} ({key.id}) was already revoked."
    return ConnectorDeleted(
        id=connector.id,
        deleted=True,
        key_id=key.id if key else None,
        key_revoked=revoked,
        message=f"Connector {connector.id} is deleted and delivers nothing more. {told}",
    )


def list_deliveries(
    uow: UnitOfWork, actor: Actor, connector_id: str, page: PageRequest
) -> Page[DeliveryOut]:
    connector = find_connector(uow, actor, connector_id, "read")
    rows = repository.list_deliveries(uow.session, connector.id, page)
    kept, cursor = split_page(rows, page, lambda d: d.id)
    return Page[DeliveryOut](data=[DeliveryOut.model_validate(d) for d in kept], next_cursor=cursor)


def record_delivery(
    uow: UnitOfWork,
    connector: Connector,
    *,
    message_id: str,
    api_version: int,
    attempt: int,
    error: str | None,
    detail: str,
    started_at: datetime,
) -> None:
    """Log one attempt: `error` when it failed, else `detail` says what was delivered."""
    repository.add(
        uow.session,
        Delivery(
            id=new_id("dlv"),
            workspace_id=connector.workspace_id,
            connector_id=connector.id,
            message_id=message_id,
            api_version=api_version,
            attempt=attempt,
            status="failed" if error else "succeeded",
            detail=(error or detail)[:500],
            started_at=started_at,
            finished_at=uow.clock.now(),
        ),
    )
