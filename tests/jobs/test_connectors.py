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
from keyward.core.errors import Conflict, InvalidInput
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import Connector, OutboxMessage
from keyward.domains.acquisitions import service as acquisitions
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
    set_key_policy,
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
        service.delete_connector(uow, world.buyer, created.id, revoke_key=True)
    assert export_worker(db, settings).drain() == 1
    assert receiver.requests == []


COOKIE_KEY = [{"scheme": "keyward", "in": "cookie", "name": "kw", "role": "key"}]


def test_a_2_0_connector_for_an_api_with_a_cookie_key_is_refused_when_created(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    set_key_policy(db, world.admin, world.api.id, key_locations=COOKIE_KEY)
    with pytest.raises(InvalidInput) as refused:
        connect(
            db,
            settings,
            world.buyer,
            world.acquisition.id,
            kind="webhook",
            url=receiver.url,
            version="2.0",
        )
    assert (refused.value.status, refused.value.code) == (422, "cookie_api_key")
    assert "version 3.0" in refused.value.message
    assert refused.value.details["problems"][0]["pointer"] == "/components/securitySchemes/keyward"
    with db.transaction(write=False) as uow:
        assert (
            service.list_connectors(uow, world.buyer, world.acquisition.id, PageRequest()).data
            == []
        )
        made = acquisitions.list_keys(uow, world.buyer, world.acquisition.id, PageRequest())
        assert made.data == [], "no key was generated for a connector never made"
    created = connect(
        db,
        settings,
        world.buyer,
        world.acquisition.id,
        kind="webhook",
        url=receiver.url,
        version="3.0",
    )
    assert export_worker(db, settings).drain() == 1
    spec = json.loads(json.loads(receiver.requests[0].body)["data"]["spec"])
    assert spec["components"]["securitySchemes"]["keyward"]["in"] == "cookie"
    assert created.version == "3.0"


def test_moving_the_key_to_a_cookie_re_exports_and_a_2_0_connector_logs_why_it_stopped(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    root = settings.connector_file_root
    swagger = connect(
        db,
        settings,
        world.buyer,
        world.acquisition.id,
        kind="storage",
        path="a/pets.yaml",
        version="2.0",
        format="yaml",
    )
    current = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    worker = export_worker(db, settings)
    assert worker.drain() == 2
    set_key_policy(db, world.admin, world.api.id, key_locations=COOKIE_KEY)
    assert worker.drain() == 2, "each connector delivers the spec with the key's new place"
    [_, second] = receiver.requests
    spec = json.loads(json.loads(second.body)["data"]["spec"])
    assert spec["components"]["securitySchemes"]["keyward"]["in"] == "cookie"
    with db.transaction(write=False) as uow:
        stopped = service.list_deliveries(uow, world.buyer, swagger.id, PageRequest()).data
        fine = service.list_deliveries(uow, world.buyer, current.id, PageRequest()).data
    assert [d.status for d in stopped] == ["failed", "succeeded"]
    assert stopped[0].detail.startswith("cookie_api_key: ")
    assert [d.status for d in fine] == ["succeeded", "succeeded"]
    assert yaml.safe_load((root / "a" / "pets.yaml").read_text())["swagger"] == "2.0"
    set_key_policy(db, world.admin, world.api.id, key_locations=COOKIE_KEY)
    assert worker.drain() == 0, "a policy that keeps the key where it is re-exports nothing"


def test_rotating_a_key_a_connector_holds_delivers_the_new_secret_to_it(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    hooked = connect(
        db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url
    )
    stored = connect(
        db,
        settings,
        world.buyer,
        world.acquisition.id,
        kind="storage",
        path="b/pets.json",
        key=hooked.key,
    )
    other = connect(
        db, settings, world.buyer, world.acquisition.id, kind="storage", path="c/pets.json"
    )
    worker = export_worker(db, settings)
    assert worker.drain() == 3
    with db.transaction() as uow:
        rotated = keys.rotate_key(
            uow,
            world.buyer,
            hooked.key_id or "",
            timedelta(0),
            sealer=Sealer(settings.server_secrets()),
        )
    assert rotated.key is not None
    assert f"Connector(s) {hooked.id}, {stored.id} deliver the new secret" in rotated.notice
    assert worker.drain() == 2, "the connector of another key delivers nothing"
    delivered = json.loads(receiver.requests[-1].body)["data"]["key"]
    assert delivered == {"id": hooked.key_id, "secret": rotated.key}
    root = settings.connector_file_root
    assert json.loads((root / "b" / "pets.json.key.json").read_text())["key"] == rotated.key
    assert json.loads((root / "c" / "pets.json.key.json").read_text())["key"] == other.key
    verifier = Verifier(db)
    assert verifier.verify(rotated.key).valid
    assert not verifier.verify(hooked.key or "").valid, "PT0S: the old secret stopped"
    with db.transaction(write=False) as uow:
        row = uow.session.get(Connector, hooked.id)
        assert row is not None
        assert rotated.key.encode() not in row.sealed_key


def test_deleting_a_connector_asks_about_its_key_then_revokes_or_keeps_it(
    db: Database, settings: Settings, receiver: WebhookReceiver
) -> None:
    world = World(db)
    made = [
        connect(db, settings, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url)
        for _ in range(3)
    ]
    first, second, third = made
    with pytest.raises(Conflict) as asked, db.transaction() as uow:
        service.delete_connector(uow, world.buyer, first.id, revoke_key=None)
    assert asked.value.code == "key_choice_required"
    assert asked.value.details["key_id"] == first.key_id
    assert f"({first.key_id})" in asked.value.message
    verifier = Verifier(db)
    with db.transaction() as uow:
        service.get_connector(uow, world.buyer, first.id)  # still there
        revoked = service.delete_connector(uow, world.buyer, first.id, revoke_key=True)
        kept = service.delete_connector(uow, world.buyer, second.id, revoke_key=False)
    assert (revoked.key_id, revoked.key_revoked) == (first.key_id, True)
    assert "is revoked" in revoked.message
    assert not verifier.verify(first.key or "").valid
    assert (kept.key_id, kept.key_revoked) == (second.key_id, False)
    assert "keeps working" in kept.message
    assert verifier.verify(second.key or "").valid

    set_key_policy(db, world.admin, world.api.id, revocation_requires_approval=True)
    with pytest.raises(Conflict) as refused, db.transaction() as uow:
        service.delete_connector(uow, world.buyer, third.id, revoke_key=True)
    assert refused.value.code == "revocation_requires_approval"
    with db.transaction() as uow:
        assert service.get_connector(uow, world.buyer, third.id).id == third.id
        keys.revoke_key(uow, world.admin, third.key_id or "")
    with db.transaction() as uow:
        done = service.delete_connector(uow, world.buyer, third.id, revoke_key=None)
    assert (done.key_revoked, "already revoked" in done.message) == (False, True)
