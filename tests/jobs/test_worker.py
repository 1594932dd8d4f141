"""Two workers at once deliver every outbox message exactly once (real commits, two pools):
connector exports, e-mails and notification webhooks. On SQLite they take turns."""

import json
import socket
import threading
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

from sqlalchemy import select

from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import OutboxMessage
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import ConnectorCreate
from keyward.domains.connectors.updates import EXPORT
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import notify
from keyward.domains.outbox import service as outbox
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import WebhookEndpointCreate
from keyward.jobs.locking import TurnLock, lock_path
from keyward.jobs.worker import Worker, default_handlers
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.factories import (
    admin,
    make_acquisition,
    make_api,
    make_offering,
    make_party,
    make_workspace,
)
from tests.jobs.receivers import hook_receiver, smtp_server
from tests.servers import webhook_receiver
from tests.verifier.support import eventually

MESSAGES = 40


def run_together(workers: list[Worker]) -> list[int]:
    """Drain the outbox with every worker at once, each in a thread; what each handled."""
    start = threading.Barrier(len(workers))
    handled: list[int] = []

    def work(worker: Worker) -> None:
        start.wait()
        handled.append(worker.drain())

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return handled


def test_two_workers_deliver_each_message_exactly_once(
    fresh_url: str, backend: str, tmp_path: Path
) -> None:
    settings = settings_for(fresh_url, connector_file_root=tmp_path)
    setup_db = Database.connect(fresh_url)
    set_up = make_workspace(setup_db)
    actor = admin(setup_db, set_up)
    offering = make_offering(setup_db, actor, make_api(setup_db, actor).id)
    buyer = make_party(setup_db, actor)
    acquisition = make_acquisition(setup_db, actor, offering.id, buyer.organization_id)
    with webhook_receiver() as receiver:
        verifier = Verifier(setup_db)
        with setup_db.transaction() as uow:
            connector = service.create_connector(
                uow,
                buyer.actor,
                acquisition.id,
                ConnectorCreate.model_validate({"kind": "webhook", "url": receiver.url}),
                verify=lambda key: verifier.verify(key),
                sealer=Sealer(settings.server_secrets()),
                settings=settings,
            )
            for _ in range(MESSAGES - 1):
                outbox.enqueue(
                    uow,
                    set_up.workspace.id,
                    EXPORT,
                    {"connector_id": connector.id, "api_version": 1},
                )
        databases = [Database.connect(fresh_url) for _ in range(2)]
        workers = [
            Worker(database, settings, {EXPORT: default_handlers(database, settings)[EXPORT]})
            for database in databases
        ]
        handled = run_together(workers)
        delivered = Counter(r.headers["Keyward-Delivery"] for r in receiver.requests)
    assert sum(handled) == MESSAGES
    if backend == "postgresql":
        assert min(handled) > 0, "both workers took part"
    assert len(delivered) == MESSAGES
    assert set(delivered.values()) == {1}
    with setup_db.transaction(write=False) as uow:
        statuses = Counter(
            uow.session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == EXPORT))
        )
    assert statuses == {"done": MESSAGES}
    for database in (setup_db, *databases):
        database.dispose()


NOTIFICATIONS = 15


def test_two_workers_send_each_notification_exactly_once(
    fresh_url: str, backend: str, tmp_path: Path
) -> None:
    with smtp_server() as mailbox, hook_receiver() as hooks:
        settings = settings_for(
            fresh_url,
            connector_file_root=tmp_path,
            smtp_host=mailbox.host,
            smtp_port=mailbox.port,
            smtp_security="none",
        )
        setup_db = Database.connect(fresh_url)
        set_up = make_workspace(setup_db)
        actor = admin(setup_db, set_up)
        with setup_db.transaction() as uow:
            webhooks.create_endpoint(
                uow,
                actor,
                WebhookEndpointCreate(url=hooks.url),
                sealer=Sealer(settings.server_secrets()),
                settings=settings,
            )
            for n in range(NOTIFICATIONS):
                notify(
                    uow,
                    set_up.workspace.id,
                    Event.SPEC_UPDATED,
                    {"api": {"id": "api_x", "name": "API"}, "api_version": n},
                    recipients=[set_up.admin_member_id],
                )
        hooks.delay = 0.02
        databases = [Database.connect(fresh_url) for _ in range(2)]
        handled = run_together([Worker(database, settings) for database in databases])
        deliveries = Counter(h.headers["Keyward-Delivery"] for h in hooks.received)
        versions = Counter(json.loads(h.body)["data"]["api_version"] for h in hooks.received)
        subjects = Counter(
            m.message["Subject"] for m in mailbox.mails if "new spec" in m.message["Subject"]
        )
    with setup_db.transaction(write=False) as uow:
        statuses = Counter(uow.session.scalars(select(OutboxMessage.status)))
    assert statuses == {"done": sum(handled)}, "all delivered, each attempted once"
    assert sum(handled) >= 2 * NOTIFICATIONS
    assert len(deliveries) == NOTIFICATIONS
    assert set(deliveries.values()) == {1}
    assert versions == dict.fromkeys(range(NOTIFICATIONS), 1)
    assert len(subjects) == NOTIFICATIONS
    assert set(subjects.values()) == {1}
    if backend == "sqlite":
        assert hooks.most_in_flight == 1, "workers on one SQLite file take turns"
    for database in (setup_db, *databases):
        database.dispose()


def test_a_worker_on_another_process_waits_its_turn_on_sqlite(tmp_path: Path) -> None:
    """The turn lock is an OS file lock: held by one holder, refused to every other."""
    database = Database.connect(f"sqlite:///{tmp_path / 'one.db'}")
    path = lock_path(database)
    assert path is not None
    stop = threading.Event()
    with TurnLock(path).turn(stop) as mine:
        assert mine
        other = TurnLock(path)
        stop.set()
        with other.turn(stop) as theirs:
            assert not theirs, "refused while the first holds it"
    with TurnLock(path).turn(threading.Event()) as again:
        assert again
    assert lock_path(Database.connect("postgresql://127.0.0.1/x")) is None
    database.dispose()


def test_a_slow_receiver_delays_nobody_else(fresh_url: str, tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    trickling = threading.Event()
    done = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(65536)
        trickling.set()
        with suppress(OSError):
            while not done.is_set():
                connection.sendall(b"H")
                time.sleep(0.1)
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    settings = settings_for(
        fresh_url, connector_file_root=tmp_path, worker_concurrency=8, delivery_deadline=5.0
    )
    database = Database.connect(fresh_url)
    try:
        with hook_receiver() as hooks:
            set_up = make_workspace(database)
            actor = admin(database, set_up)
            slow = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
            with database.transaction() as uow:
                for url in (slow, hooks.url):
                    webhooks.create_endpoint(
                        uow,
                        actor,
                        WebhookEndpointCreate(url=url),
                        sealer=Sealer(settings.server_secrets()),
                        settings=settings,
                    )
                notify(uow, set_up.workspace.id, Event.SPEC_UPDATED, {"api_version": 1})
            worker = threading.Thread(target=Worker(database, settings).run_once)
            worker.start()
            # The other endpoint hears while the slow one still trickles (its deadline is 5 s).
            eventually(lambda: bool(hooks.received) and trickling.is_set(), within=4.0)
            assert worker.is_alive()
            done.set()
            worker.join(timeout=10)
    finally:
        listener.close()
        database.dispose()
