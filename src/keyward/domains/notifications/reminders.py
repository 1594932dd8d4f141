"""Expiry reminders: N days before a key or an acquisition expires, and a notice once
it has expired. Never for revoked keys.

Every reminder is recorded in `sent_reminders` (subject, `event[:N]`, the expiry it is about)
in the transaction that notifies, so repeated sweeps and concurrent workers send it once; a
renewed key or a reacquired acquisition expires at another time and is reminded afresh. When
several reminders are due at once (a worker that was stopped), only the nearest is sent. A
reminder whose day came before its subject existed is skipped (a 7-day key gets no 14-day
reminder), and an expiry more than `EXPIRED_NOTICE_WINDOW` old is not announced at all.
"""

import math
from datetime import datetime, timedelta
from typing import Any

from keyward.db.engine import UnitOfWork
from keyward.db.models import Acquisition, Api, ApiKey, Offering, Organization
from keyward.domains.notifications import repository
from keyward.domains.notifications.events import Event
from keyward.domains.notifications.service import key_data, notify

EXPIRED_NOTICE_WINDOW = timedelta(days=7)
DAY = timedelta(days=1)


def _days_left(expires_at: datetime, now: datetime) -> int:
    return max(1, math.ceil((expires_at - now) / DAY))


def _due(
    uow: UnitOfWork,
    prefix: str,
    workspace_id: str,
    subject_id: str,
    created_at: datetime,
    expires_at: datetime,
    days: tuple[int, ...],
    now: datetime,
) -> int | None:
    """What to send about one subject now: 0 for "expired", N for the N-day reminder, None
    for nothing new. Records what it returns, and any farther reminder it makes moot."""
    session = uow.session
    if expires_at <= now:
        fresh = repository.record_reminder(
            session, workspace_id, subject_id, f"{prefix}.expired", expires_at, now
        )
        return 0 if fresh else None
    due = sorted(
        n for n in days if expires_at - n * DAY <= now and expires_at - n * DAY >= created_at
    )
    if not due:
        return None
    recorded = [
        repository.record_reminder(
            session, workspace_id, subject_id, f"{prefix}.expiring:{n}", expires_at, now
        )
        for n in due
    ]
    return due[0] if recorded[0] else None


def _key(
    uow: UnitOfWork, key: ApiKey, api: Api | None, days: tuple[int, ...], now: datetime
) -> bool:
    assert key.expires_at is not None  # noqa: S101 - the query selects expiring keys only
    due = _due(uow, "key", key.workspace_id, key.id, key.created_at, key.expires_at, days, now)
    if due is None:
        return False
    data: dict[str, Any] = key_data(key, api)
    if due:
        data["days"] = _days_left(key.expires_at, now)
    notify(
        uow,
        key.workspace_id,
        Event.KEY_EXPIRING if due else Event.KEY_EXPIRED,
        data,
        recipients=[key.creator_member_id],
    )
    return True


def _acquisition(
    uow: UnitOfWork,
    acquisition: Acquisition,
    offering: Offering,
    api: Api,
    organization: Organization,
    days: tuple[int, ...],
    now: datetime,
) -> bool:
    valid_until = acquisition.valid_until
    assert valid_until is not None  # noqa: S101 - the query selects expiring ones only
    due = _due(
        uow,
        "acquisition",
        acquisition.workspace_id,
        acquisition.id,
        acquisition.created_at,
        valid_until,
        days,
        now,
    )
    if due is None:
        return False
    data: dict[str, Any] = {
        "acquisition": {
            "id": acquisition.id,
            "organization_id": organization.id,
            "organization_name": organization.name,
            "offering_id": offering.id,
            "offering_name": offering.name,
            "valid_until": valid_until.isoformat(),
        },
        "api": {"id": api.id, "name": api.name},
    }
    if due:
        data["days"] = _days_left(valid_until, now)
    members = repository.organization_member_ids(uow.session, organization.id)
    notify(
        uow,
        acquisition.workspace_id,
        Event.ACQUISITION_EXPIRING if due else Event.ACQUISITION_EXPIRED,
        data,
        recipients=[*members, acquisition.created_by],
    )
    return True


def record_once(
    uow: UnitOfWork, workspace_id: str, subject_id: str, event: str, due_at: datetime
) -> bool:
    """Record that `event` about `subject_id`, due at `due_at`, is sent now; False when it
    already was (by an earlier sweep or another worker), and nothing is to be sent."""
    return repository.record_reminder(
        uow.session, workspace_id, subject_id, event, due_at, uow.clock.now()
    )


def sent_at(
    uow: UnitOfWork, subject_ids: list[str], event: str
) -> dict[tuple[str, datetime], datetime]:
    """(subject id, due at) → when `event` was sent about the subject, for those sent."""
    return repository.reminders_sent(uow.session, subject_ids, event)


def notify_due(uow: UnitOfWork, days: tuple[int, ...], now: datetime) -> int:
    """Notify every reminder and expiry notice due at `now`; returns how many were sent."""
    after = now - EXPIRED_NOTICE_WINDOW
    until = now + max(days, default=0) * DAY
    sent = 0
    for key, api in repository.keys_expiring(uow.session, after, until):
        sent += _key(uow, key, api, days, now)
    for acquisition, offering, api, organization in repository.acquisitions_expiring(
        uow.session, after, until
    ):
        sent += _acquisition(uow, acquisition, offering, api, organization, days, now)
    return sent
