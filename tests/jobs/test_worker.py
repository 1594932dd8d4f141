"""Two workers at once deliver every outbox message exactly once (real commits, two pools)."""

import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.models import OutboxMessage
from keyward.domains.connectors import service
from keyward.domains.connectors.schemas import ConnectorCreate
from keyward.domains.connectors.updates import EXPORT
from keyward.domains.outbox import service as outbox
from keyward.jobs.worker import Worker
from keyward.verifier import Verifier
from tests.conftest import settings_for
from tests.factories import (
    admin,
    make_acquisition,
    make_api,
    make_offering,
    make_organization,
    make_workspace,
)
from tests.servers import webhook_receiver

MESSAGES = 40


def test_two_workers_deliver_each_message_exactly_once(fresh_url: str, tmp_path: Path) -> None:
    settings = settings_for(fresh_url, connector_file_root=tmp_path)
    setup_db = Database.connect(fresh_url)
    set_up = make_workspace(setup_db)
    actor = admin(setup_db, set_up)
    offering = make_offering(setup_db, actor, make_api(setup_db, actor).id)
    acquisition = make_acquisition(
        setup_db, actor, offering.id, make_organization(setup_db, actor).id
    )
    with webhook_receiver() as receiver:
        verifier = Verifier(setup_db)
        with setup_db.transaction() as uow:
            connector = service.create_connector(
                uow,
                actor,
                acquisition.id,
                ConnectorCreate.model_validate({"kind": "webhook", "url": receiver.url}),
                verify=lambda key: verifier.verify(key),
                sealer=Sealer(settings.server_secret()),
                file_root=tmp_path,
            )
            for _ in range(MESSAGES - 1):
                outbox.enqueue(
                    uow,
                    set_up.workspace.id,
                    EXPORT,
                    {"connector_id": connector.id, "api_version": 1},
                )
        databases = [Database.connect(fresh_url) for _ in range(2)]
        workers = [Worker(database, settings) for database in databases]
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
        delivered = Counter(r.headers["Keyward-Delivery"] for r in receiver.requests)
    assert sum(handled) == MESSAGES
    assert min(handled) > 0, "both workers took part"
    assert len(delivered) == MESSAGES
    assert set(delivered.values()) == {1}
    with setup_db.transaction(write=False) as uow:
        statuses = Counter(uow.session.scalars(select(OutboxMessage.status)))
    assert statuses == {"done": MESSAGES}
    for database in (setup_db, *databases):
        database.dispose()
