"""Migration 0014 adds an endpoint's previous signing secret and the end of its grace, both
empty for the endpoints already there, and takes them away again on downgrade (on SQLite and
PostgreSQL), the endpoint and its current secret kept."""

from alembic import command
from sqlalchemy import inspect, text

from keyward.core.clock import ManualClock
from keyward.core.sealing import Sealer
from keyward.db.engine import Database
from keyward.db.migrate import alembic_config, upgrade
from keyward.domains.webhooks import service as webhooks
from keyward.domains.webhooks.schemas import WebhookEndpointCreate
from tests.conftest import START, settings_for
from tests.factories import admin, make_workspace

SEALER = Sealer([b"s" * 32])
COLUMNS = {"previous_sealed_secret", "previous_secret_until"}


def _row(database: Database, endpoint: str) -> dict[str, object]:
    with database.engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM webhook_endpoints WHERE id = :id"), {"id": endpoint}
        ).one()
    return dict(row._mapping)


def test_the_previous_secret_columns_come_and_go_and_the_endpoint_stays(fresh_url: str) -> None:
    database = Database.connect(fresh_url, clock=ManualClock(START))
    actor = admin(database, make_workspace(database))
    with database.transaction() as uow:
        endpoint = webhooks.create_endpoint(
            uow,
            actor,
            WebhookEndpointCreate(url="https://one.example.com/hook"),
            sealer=SEALER,
            settings=settings_for(fresh_url),
        ).id
    with database.transaction() as uow:
        webhooks.rotate_secret(uow, actor, endpoint, sealer=SEALER)
    sealed = _row(database, endpoint)["sealed_secret"]
    assert _row(database, endpoint)["previous_sealed_secret"] is not None
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0013")
    with database.engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("webhook_endpoints")}
    assert not columns & COLUMNS
    assert _row(database, endpoint)["sealed_secret"] == sealed
    with database.engine.begin() as connection:
        upgrade(connection)
    after = _row(database, endpoint)
    assert (after["previous_sealed_secret"], after["previous_secret_until"]) == (None, None)
    assert after["sealed_secret"] == sealed
    database.dispose()
