"""Migration 0012 fills `usage_hours` from the minutes already in `key_usage` with exactly the
counts the usage writer adds as it goes (on SQLite and PostgreSQL)."""

from datetime import timedelta

from alembic import command
from sqlalchemy import text

from keyward.core.clock import ManualClock
from keyward.db.engine import Database
from keyward.db.migrate import alembic_config, upgrade
from tests.conftest import START
from tests.domains.usage_market import make_market, send
from tests.factories import make_key


def hours(database: Database) -> set[tuple[str, str, str, int]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT subject_id, hour, status_class, count FROM usage_hours")
        ).all()
    # Times as the driver gives them (text on SQLite, aware datetimes on PostgreSQL).
    return {(subject, str(hour), status, count) for subject, hour, status, count in rows}


def test_the_back_fill_gives_the_hours_the_writer_added(fresh_url: str) -> None:
    clock = ManualClock(START)
    database = Database.connect(fresh_url, clock=clock)
    market = make_market(database)
    account_key = make_key(database, market.admin)
    market.keys["account"] = account_key.id
    send(database, clock, market, {"alice": [200, 404], "bob": [500], "eve": [200], "carol": [301]})
    clock.advance(timedelta(minutes=59))
    send(database, clock, market, {"alice": [200], "account": [200, 200]})
    clock.advance(timedelta(minutes=2))
    send(database, clock, market, {"alice": [200], "bob": [204]})
    written = hours(database)
    subjects = {subject for subject, *_ in written}
    assert subjects == {
        *market.keys.values(),
        market.acquisition_id,
        market.strangers_acquisition_id,
        market.second_acquisition_id,
        market.offering_id,
        market.other_offering_id,
        market.api_id,
    }
    api_hours = sorted(
        (hour, status, count) for s, hour, status, count in written if s == market.api_id
    )
    assert [(status, count) for _, status, count in api_hours] == [
        ("2xx", 3),
        ("3xx", 1),
        ("4xx", 1),
        ("5xx", 1),
        ("2xx", 2),
    ]
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0011")
    with database.engine.begin() as connection:
        upgrade(connection)
    assert hours(database) == written
    database.dispose()
