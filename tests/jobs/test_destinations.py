"""Tenant-chosen destinations never reach what they should not, tried as the attacks that did:
writing outside the export root (a `?` or `#`, `localhost`, a protocol switch, a symbolic link,
a connector made before destinations existed), posting to loopback and link-local addresses or
over plain HTTP, repointing an upstream at keyward itself, and a receiver that trickles its
answer to hold the worker. Real files, a real worker, real HTTP servers on 127.0.0.1."""

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.egress import Allowance, EgressPolicy, Refusal
from keyward.core.errors import InvalidInput
from keyward.core.storage import InvalidStoragePath, storage_segments
from keyward.db.engine import Database
from keyward.db.models import Connector, Delivery
from keyward.domains.apis import service as apis
from keyward.domains.apis.schemas import ApiUpdate
from keyward.domains.connectors.schemas import ConnectorCreate
from keyward.jobs.transports import DeliveryFailed, PermanentFailure, post_webhook, write_files
from keyward.settings import Settings
from tests.conftest import settings_for
from tests.factories import make_api
from tests.jobs.test_connectors import World, connect, export_worker
from tests.servers import WebhookReceiver, webhook_receiver

STRICT = {"egress_allow": "", "egress_allow_http": False, "upstream_allow": ""}
SEGMENTS = ["..", ".", "", "a", "b.json", "%2e%2e", "~", "x?y", "x#y", "\\", "c:", "-x"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


def _deliveries(db: Database) -> list[Delivery]:
    with db.transaction(write=False) as uow:
        return list(uow.session.query(Delivery).order_by(Delivery.id))


# Storage


def test_no_storage_connector_names_a_url_a_protocol_or_options(
    db: Database, tmp_path: Path
) -> None:
    permissive = settings_for(db.url, connector_file_root=tmp_path / "exports")
    world = World(db)
    for body in (
        {"kind": "storage", "url": f"file://{tmp_path}/exports/a?/../../../owned"},
        {"kind": "storage", "url": "file://localhost/var/owned"},
        {"kind": "storage", "url": "s3://bucket/owned"},
    ):
        with pytest.raises(InvalidInput) as refused:
            connect(db, permissive, world.buyer, world.acquisition.id, **body)
        assert refused.value.code == "invalid_destination"
    with pytest.raises(ValueError, match="storage_options"):
        ConnectorCreate.model_validate(
            {
                "kind": "storage",
                "path": "x.json",
                "storage_options": {"protocol": "file", "auto_mkdir": "1"},
            }
        )
    assert not any(tmp_path.rglob("owned*"))


def test_a_connector_from_before_destinations_writes_nowhere_outside_the_root(
    db: Database, tmp_path: Path
) -> None:
    settings_ = settings_for(db.url, connector_file_root=tmp_path / "exports")
    world = World(db)
    made = connect(db, settings_, world.buyer, world.acquisition.id, kind="storage", path="ok.json")
    root = (tmp_path / "exports").resolve()
    with db.transaction() as uow:
        row = uow.session.get(Connector, made.id)
        assert row is not None
        # As connectors were stored before: a URL, with what urlsplit drops and fsspec keeps.
        row.destination = row.path = None
        row.url = f"file://{root}/a?/../../../escaped.json"
    export_worker(db, settings_).drain()
    assert not (tmp_path / "escaped.json").exists()
    assert not any(tmp_path.rglob("escaped.json"))
    [failed] = [d for d in _deliveries(db) if d.status == "failed"]
    assert "plain path" in failed.detail
    assert str(tmp_path) not in failed.detail


def test_a_symbolic_link_below_the_root_does_not_lead_a_write_out(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(PermanentFailure, match="outside"):
        write_files(root, "link/spec.json", {"": b"{}"})
    # A link in the file's place is replaced, never followed.
    (root / "file.json").symlink_to(outside / "target.json")
    write_files(root, "file.json", {"": b"{}"})
    assert not (root / "file.json").is_symlink()
    assert list(outside.iterdir()) == []


@settings(max_examples=300)
@given(
    path=st.one_of(
        st.text(max_size=40),
        st.lists(
            st.sampled_from(SEGMENTS),
            max_size=5,
        ).map("/".join),
    )
)
def test_no_path_spelling_writes_outside_the_root(
    tmp_path_factory: pytest.TempPathFactory, path: str
) -> None:
    base = tmp_path_factory.mktemp("spelling")
    root = base / "root"
    root.mkdir()
    try:
        storage_segments(path)
    except InvalidStoragePath:
        with pytest.raises(PermanentFailure):
            write_files(root, path, {"": b"x"})
        return
    write_files(root, path, {"": b"x"})
    written = [p for p in base.rglob("*") if p.is_file()]
    assert written
    assert all(p.resolve().is_relative_to(root.resolve()) for p in written)


# Egress


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://2130706433/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.5/hook",
        "https://[::ffff:127.0.0.1]/hook",
    ],
)
def test_webhooks_and_connectors_may_not_point_inside(db: Database, url: str) -> None:
    strict = settings_for(db.url, **STRICT)
    world = World(db)
    with pytest.raises(InvalidInput) as refused:
        connect(db, strict, world.buyer, world.acquisition.id, kind="webhook", url=url)
    assert refused.value.code == "destination_not_allowed"


def test_plain_http_deliveries_need_the_operators_consent(db: Database) -> None:
    strict = settings_for(db.url, **STRICT)
    world = World(db)
    with pytest.raises(InvalidInput) as refused:
        connect(
            db,
            strict,
            world.buyer,
            world.acquisition.id,
            kind="webhook",
            url="http://hooks.example.com/x",
        )
    assert refused.value.code == "insecure_destination"


def test_a_delivery_checks_the_address_it_connects_to_whatever_was_allowed_before(
    db: Database, receiver: WebhookReceiver
) -> None:
    world = World(db)
    permissive = settings_for(db.url)
    connect(db, permissive, world.buyer, world.acquisition.id, kind="webhook", url=receiver.url)
    strict = settings_for(db.url, **{**STRICT, "egress_allow_http": True})
    export_worker(db, strict).drain()
    assert receiver.requests == []
    [failed] = _deliveries(db)
    assert (failed.status, failed.detail) == (
        "failed",
        "the destination is not one keyward may reach",
    )


def test_an_upstream_may_not_be_keyward_itself_or_loopback(db: Database) -> None:
    world = World(db)
    strict = Settings(database_url=db.url, egress_allow="", upstream_allow="")
    for url in ("http://127.0.0.1:8000/", "http://[::1]:8080/v1", "http://169.254.169.254/"):
        with pytest.raises(InvalidInput) as refused, db.transaction() as uow:
            apis.update_api(
                uow,
                world.admin,
                world.api.id,
                ApiUpdate.model_validate({"upstream_url": url}),
                strict,
            )
        assert refused.value.code == "destination_not_allowed"
    allowed = Settings(database_url=db.url, upstream_allow="127.0.0.1:9000")
    with db.transaction() as uow:
        moved = apis.update_api(
            uow,
            world.admin,
            world.api.id,
            ApiUpdate.model_validate({"upstream_url": "http://127.0.0.1:9000/"}),
            allowed,
        )
    assert moved.upstream_url == "http://127.0.0.1:9000/"
    private = make_api(db, world.admin)
    with db.transaction() as uow:
        apis.update_api(
            uow,
            world.admin,
            private.id,
            ApiUpdate.model_validate({"upstream_url": "http://10.1.2.3:8080/"}),
            strict,
        )


def test_the_policy_refuses_what_is_not_public_unless_allowed() -> None:
    tenant = EgressPolicy(Allowance.parse("hooks.internal,10.9.0.0/16,127.0.0.1:9999"))
    upstream = EgressPolicy(private=True, own_ports=frozenset({8000, 8080}))
    demo = EgressPolicy(Allowance.parse("127.0.0.0/8,127.0.0.1:8000"), own_ports=frozenset({8000}))
    assert tenant.refusal("x", "127.0.0.1", 80) is Refusal.LOOPBACK
    assert tenant.refusal("x", "::ffff:127.0.0.1", 80) is Refusal.LOOPBACK
    assert tenant.refusal("x", "169.254.169.254", 80) is Refusal.LINK_LOCAL
    assert tenant.refusal("x", "192.168.1.1", 443) is Refusal.PRIVATE
    assert tenant.refusal("x", "100.64.0.1", 443) is Refusal.PRIVATE
    assert tenant.refusal("x", "224.0.0.1", 443) is Refusal.MULTICAST
    assert tenant.refusal("x", "0.0.0.0", 443) is Refusal.UNSPECIFIED  # noqa: S104
    assert tenant.refusal("x", "93.184.216.34", 443) is None
    assert tenant.refusal("hooks.internal", "10.0.0.1", 443) is None
    assert tenant.refusal("x", "10.9.3.4", 443) is None
    assert tenant.refusal("x", "127.0.0.1", 9999) is None
    assert tenant.refusal("x", "127.0.0.1", 9998) is Refusal.LOOPBACK
    assert upstream.refusal("x", "10.0.0.1", 443) is None
    assert upstream.refusal("x", "10.0.0.1", 8080) is None
    assert upstream.refusal("x", "127.0.0.1", 8080) is Refusal.OWN_PORT
    assert upstream.refusal("x", "127.0.0.1", 443) is Refusal.LOOPBACK
    # Allowing loopback does not open keyward's own ports; naming host:port does.
    assert demo.refusal("x", "127.0.0.2", 8000) is Refusal.OWN_PORT
    assert demo.refusal("x", "127.0.0.1", 8000) is None
    with pytest.raises(ValueError, match="neither"):
        Allowance.parse("http://x/")


# Slow receivers


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        while not stop.is_set():
            try:
                connection.sendall(b"H")
            except OSError:
                return
            time.sleep(0.2)
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    policy = EgressPolicy(Allowance.parse("127.0.0.1"))
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryFailed):
            post_webhook(
                f"http://127.0.0.1:{port}/hook",
                b"{}",
                secret="s",
                delivery_id="msg_1",
                policy=policy,
                timeout=5.0,
                deadline=1.0,
            )
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)


def test_the_key_file_of_a_write_is_readable_by_keyward_alone(tmp_path: Path) -> None:
    write_files(tmp_path, "a/spec.json", {"": b"{}", ".key.json": b"{}"})
    for name in ("spec.json", "spec.json.key.json"):
        assert os.stat(tmp_path / "a" / name).st_mode & 0o077 == 0
