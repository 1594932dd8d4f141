"""Connectors end to end inside one process: real webhook receiver, real directory, real S3
server; the worker delivers from the outbox with retries."""

import json
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import s3fs
import yaml
from openapi_spec_validator import validate
from sqlalchemy import select

from keyward.core.actors import Actor
from keyward.core.clock import ManualClock
from keyward.core.errors import InvalidInput
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import Connector, OutboxMessage
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import SpecUpload
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import ConnectorCreate, ConnectorCreated
from keyward.domains.connectors.updates import EXPORT
from keyward.domains.keys import service as keys
from keyward.domains.members import service as members
from keyward.domains.members.schemas import MemberPermissionsUpdate
from keyward.domains.notifications.events import EMAIL
from keyward.domains.pagination import PageRequest
from keyward.jobs.transports import verify_signature
from keyward.jobs.worker import Worker, default_handlers
from keyward.settings import Settings, StorageDestination
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.factories import (
    PETSTORE_30,
    actor_for,
    admin,
    make_acquisition,
    make_acquisition_key,
    make_api,
    make_member,
    make_offering,
    make_organization,
    make_workspace,
    secret,
)
from tests.servers import S3_CREDENTIALS, WebhookReceiver, s3_server, webhook_receiver


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return settings_for(db.url, connector_file_root=tmp_path / "exports")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


class World:
    """A workspace with an API, an offering, an acquirer and its acquisition."""

    def __init__(self, db: Database) -> None:
        set_up = make_workspace(db)
        self.workspace_id = set_up.workspace.id
        self.admin = admin(db, set_up)
        self.api = make_api(db, self.admin)
        self.organization = make_organization(db, self.admin)
        buyer = make_member(
            db, self.admin, roles=["acquirer"], organization_ids=[self.organization.id]
        )
        self.buyer_id = buyer.id
        self.buyer = actor_for(db, self.workspace_id, buyer.id)
        offering = make_offering(db, self.admin, self.api.id)
        self.acquisition = make_acquisition(db, self.buyer, offering.id, self.organization.id)


def export_worker(db: Database, settings: Settings) -> Worker:
    """A worker that delivers connector exports only: the notifications that creating keys
    and connectors also queue are other tests' business."""
    return Worker(db, settings, {EXPORT: default_handlers(db, settings)[EXPORT]})


def connect(
    db: Database, settings: Settings, actor: Actor, acquisition_id: str, **fields: object
) -> ConnectorCreated:
    verifier = Verifier(db)
    with db.transaction() as uow:
        return service.create_connector(
            uow,
            actor,
            acquisition_id,
            ConnectorCreate.model_validate(fields),
            verify=lambda key: verifier.verify(key, actor.workspace_id),
            sealer=Sealer(settings.server_secrets()),
            settings=settings,
        )


def assert_signed(received_headers: dict[str, str], body: bytes, signing_secret: str) -> None:
    assert verify_signature(
        signing_secret,
        received_headers["Keyward-Delivery"],
        received_headers["Keyward-Signature"],
        body,
        time.time(),
    )
    assert not verify_signature(
        signing_secret,
        "msg_another",
        received_headers["Keyward-Signature"],
        body,
        time.time(),
    ), "the signature covers the delivery id"


def test_a_webhook_gets_the_signed_spec_and_key_at_once_and_after_every_update(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    created = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    assert created.signing_secret is not None
    assert created.signing_secret.startswith("whsec_")
    assert created.key is not None
    worker = export_worker(db, settings)
    assert worker.drain() == 1
    [first] = receiver.requests
    assert_signed(first.headers, first.body, created.signing_secret)
    envelope = json.loads(first.body)
    assert envelope["type"] == "acquisition.spec.exported"
    data = envelope["data"]
    assert (data["acquisition_id"], data["api_version"], data["openapi_version"]) == (
        world.acquisition.id,
        1,
        "3.0",
    )
    assert data["key"] == {"id": created.key_id, "secret": created.key}
    spec = json.loads(data["spec"])
    validate(spec)
    assert spec["servers"][0]["url"].startswith(settings.gateway_url)
    assert Verifier(db).verify(created.key).acquisition_id == world.acquisition.id

    updated = PETSTORE_30.replace("operationId: health", "operationId: healthCheck")
    with db.transaction() as uow:
        apis.add_version(uow, world.admin, world.api.id, SpecUpload(spec=updated), settings)
    assert worker.drain() == 1
    second = json.loads(receiver.requests[1].body)["data"]
    assert second["api_version"] == 2
    assert json.loads(second["spec"])["paths"]["/health"]["get"]["operationId"] == "healthCheck"
    with db.transaction(write=False) as uow:
        log = service.list_deliveries(uow, world.buyer, created.id, PageRequest())
    assert [(d.api_version, d.status) for d in log.data] == [(2, "succeeded"), (1, "succeeded")]


def test_acquirers_without_connectors_are_told_the_spec_changed(
    db: Database, settings: Settings
) -> None:
    world = World(db)
    with db.transaction() as uow:
        apis.add_version(
            uow, world.admin, world.api.id, SpecUpload(spec=PETSTORE_30 + "\n"), settings
        )
        messages = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == EMAIL).order_by(OutboxMessage.id)
        ).all()
    told = [m.payload for m in messages if m.payload["event"] == "api.spec_updated"]
    assert [
        (p["to"]["member_id"], p["data"]["acquisition"]["id"], p["data"]["api_version"])
        for p in told
    ] == [(world.buyer_id, world.acquisition.id, 2)]


def test_failed_deliveries_are_retried_with_growing_waits(
    db: Database, settings: Settings, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    world = World(db)
    receiver.fail_next = 2
    created = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    worker = export_worker(db, settings)
    assert worker.drain() == 1, "one attempt, then it waits"
    assert worker.drain() == 0
    clock.advance(timedelta(seconds=5))
    assert worker.drain() == 1
    clock.advance(timedelta(seconds=9))
    assert worker.drain() == 0, "the second wait is 10 s"
    clock.advance(timedelta(seconds=1))
    assert worker.drain() == 1
    assert len(receiver.requests) == 1
    with db.transaction(write=False) as uow:
        log = service.list_deliveries(uow, world.buyer, created.id, PageRequest())
    assert [(d.attempt, d.status) for d in reversed(log.data)] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert "HTTP 500" in log.data[-1].detail


def test_a_pasted_key_must_be_a_valid_key_of_this_acquisition(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    own = make_acquisition_key(db, world.buyer, world.acquisition.id)
    created = connect(
        db,
        settings,
        world.buyer,
        world.acquisition.id,
        kind="webhook",
        url=receiver.url,
        key=secret(own),
    )
    assert created.key_id == own.id
    assert created.key is None
    other_offering = make_offering(db, world.admin, world.api.id)
    other = make_acquisition(db, world.buyer, other_offering.id, world.organization.id)
    foreign = make_acquisition_key(db, world.buyer, other.id)
    with db.transaction() as uow:
        keys.revoke_key(uow, world.admin, own.id)
    for candidate in (secret(foreign), secret(own), "kw_not_a_key"):
        with pytest.raises(InvalidInput) as refused:
            connect(
                db,
                settings,
                world.buyer,
                world.acquisition.id,
                kind="webhook",
                url=receiver.url,
                key=candidate,
            )
        assert refused.value.code == "key_not_of_acquisition"


def test_storage_connectors_write_below_their_destination_and_keep_keys_private(
    db: Database, settings: Settings
) -> None:
    world = World(db)
    root = settings.connector_file_root
    for path in ("/etc/keyward.json", "../escape.json", "globex/../../x", "a?b", ".hidden"):
        with pytest.raises(InvalidInput) as refused:
            connect(db, settings, world.buyer, world.acquisition.id, kind="storage", path=path)
        assert refused.value.code == "invalid_path"
    created = connect(
        db,
        settings,
        world.buyer,
        world.acquisition.id,
        kind="storage",
        path="globex/petstore.yaml",
        version="2.0",
        format="yaml",
    )
    assert (created.destination, created.path, created.url) == (
        "local",
        "globex/petstore.yaml",
        None,
    )
    export_worker(db, settings).drain()
    target = root / "globex" / "petstore.yaml"
    spec = yaml.safe_load(target.read_text())
    validate(spec)
    assert spec["swagger"] == "2.0"
    key_path = root / "globex" / "petstore.yaml.key.json"
    key_file = json.loads(key_path.read_text())
    assert (key_file["key_id"], key_file["key"]) == (created.key_id, created.key)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert sorted(p.name for p in (root / "globex").iterdir()) == [
        "petstore.yaml",
        "petstore.yaml.key.json",
    ]


def test_s3_destinations_are_the_operators_with_the_operators_credentials(
    db: Database, settings: Settings
) -> None:
    world = World(db)
    with s3_server() as endpoint:
        storage = s3fs.S3FileSystem(endpoint_url=endpoint, **S3_CREDENTIALS)
        # moto keeps its buckets in-process across servers: a bucket of this test's own.
        bucket = f"acquirer-specs-{uuid.uuid4().hex[:12]}"
        storage.mkdir(bucket)
        destination = {"kind": "s3", "bucket": bucket, "prefix": "exports", **S3_CREDENTIALS}
        with_bucket = settings.model_copy(
            update={
                "storage_destinations": {
                    "partners": StorageDestination.model_validate(
                        {**destination, "endpoint_url": endpoint}
                    )
                }
            }
        )
        created = connect(
            db,
            with_bucket,
            world.buyer,
            world.acquisition.id,
            kind="storage",
            destination="partners",
            path="petstore/openapi.json",
        )
        export_worker(db, with_bucket).drain()
        storage.invalidate_cache()
        spec = json.loads(storage.cat_file(f"{bucket}/exports/petstore/openapi.json"))
        key_file = json.loads(storage.cat_file(f"{bucket}/exports/petstore/openapi.json.key.json"))
    validate(spec)
    assert key_file["key"] == created.key
    with db.transaction(write=False) as uow:
        row = uow.session.get(Connector, created.id)
        assert row is not None
        assert row.sealed_options is None
        assert (created.key or "").encode() not in row.sealed_key


def test_a_creator_who_lost_the_acquisition_stops_its_deliveries_for_good(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    created = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    with db.transaction() as uow:
        members.set_permissions(
            uow, world.admin, world.buyer_id, MemberPermissionsUpdate(roles=[], permissions=[])
        )
    assert export_worker(db, settings).drain() == 1
    assert receiver.requests == []
    with db.transaction(write=False) as uow:
        message = uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == EXPORT)
        ).one()
        assert message.status == "failed"
        log = service.list_deliveries(uow, world.admin, created.id, PageRequest())
    assert log.data[0].status == "failed"
    assert "permission_denied" in log.data[0].detail


def test_a_deleted_connector_delivers_nothing(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    created = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    with db.transaction() as uow:
        service.delete_connector(uow, world.buyer, created.id)
    assert export_worker(db, settings).drain() == 1
    assert receiver.requests == []
