"""Sweeps: the worker's turn at the reminders and expiry notices due now (see
`domains.notifications.reminders`), and at each workspace's unused keys policy (see
`domains.keys.unused`)."""

from keyward.db.engine import Database
from keyward.domains.keys import unused
from keyward.domains.notifications import reminders
from keyward.settings import Settings


def sweep(database: Database, settings: Settings) -> int:
    """Notify everything due now, by the database's clock; returns how many notifications."""
    with database.transaction() as uow:
        sent = reminders.notify_due(uow, settings.reminder_days(), database.clock.now())
    with database.transaction() as uow:
        return sent + unused.apply_policies(uow, database.clock.now())
