"""How fast a member may create keys, file approval requests and send invitations.

Each is counted from the rows it leaves (keys by creator and by acquisition, key requests by
requester, invitation links by sender), in the transaction that would add one, so the count
holds across API processes and restarts with nothing kept apart. Beyond the operator's rate
(`unit_of_work.rates`, 0 for none) the action is refused with `RateLimited` (429, `Retry-After`
the seconds until the oldest counted row leaves the window) before anything is made or sent.
A replayed creation (an Idempotency-Key seen before) makes no row and is never counted.
"""

import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute

from keyward.core.errors import RateLimited
from keyward.core.rates import ActionRates
from keyward.db.engine import Database, UnitOfWork
from keyward.db.models import ApiKey, KeyRequest, PasswordLink
from keyward.domains.journal.files import open_journal
from keyward.settings import Settings

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def govern(database: Database, settings: Settings) -> None:
    """Hold every unit of work of `database` to what the operator set: the management rates
    (KEYWARD_KEYS_CREATED_PER_MINUTE, KEYWARD_KEY_REQUESTS_PER_HOUR,
    KEYWARD_INVITATIONS_PER_HOUR) and the revocation journal (KEYWARD_REVOCATION_JOURNAL), so
    every command and server that may create things or take access away is bound by them."""
    database.rates = ActionRates(
        keys_per_minute=settings.keys_created_per_minute,
        key_requests_per_hour=settings.key_requests_per_hour,
        invitations_per_hour=settings.invitations_per_hour,
    )
    database.journal = open_journal(settings.revocation_journal)


def _retry_after(
    uow: UnitOfWork,
    created_at: InstrumentedAttribute[datetime],
    where: list[ColumnElement[bool]],
    limit: int,
    window: timedelta,
) -> int:
    """Seconds until one more row may be added, when `limit` rows matching `where` were added
    within `window`; 0 when one may be now."""
    now = uow.clock.now()
    query: Select[datetime] = (
        select(created_at)
        .where(*where, created_at > now - window)
        .order_by(created_at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    oldest = uow.session.scalar(query)
    if oldest is None:
        return 0
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def check_key_creation(uow: UnitOfWork, member_id: str, acquisition_id: str | None) -> None:
    """Refuse a key the member (or the acquisition) may not be given now."""
    limit = uow.rates.keys_per_minute
    if limit <= 0:
        return
    wait = _retry_after(
        uow, ApiKey.created_at, [ApiKey.creator_member_id == member_id], limit, MINUTE
    )
    if wait:
        raise RateLimited(
            f"You created {limit} keys within a minute, as many as this server allows; "
            f"retry in {wait} s.",
            retry_after=wait,
            details={"limit": limit, "per": "minute", "setting": "KEYWARD_KEYS_CREATED_PER_MINUTE"},
        )
    if acquisition_id is None:
        return
    wait = _retry_after(
        uow, ApiKey.created_at, [ApiKey.acquisition_id == acquisition_id], limit, MINUTE
    )
    if wait:
        raise RateLimited(
            f"The acquisition was given {limit} keys within a minute, as many as this server "
            f"allows; retry in {wait} s.",
            retry_after=wait,
            details={
                "limit": limit,
                "per": "minute",
                "acquisition_id": acquisition_id,
                "setting": "KEYWARD_KEYS_CREATED_PER_MINUTE",
            },
        )


def check_key_request(uow: UnitOfWork, member_id: str | None) -> None:
    """Refuse an approval request (each e-mails approvers) the member may not file now."""
    limit = uow.rates.key_requests_per_hour
    if limit <= 0 or member_id is None:
        return
    wait = _retry_after(
        uow, KeyRequest.created_at, [KeyRequest.requested_by == member_id], limit, HOUR
    )
    if wait:
        raise RateLimited(
            f"You filed {limit} key requests within an hour, as many as this server allows; "
            f"retry in {wait} s.",
            retry_after=wait,
            details={"limit": limit, "per": "hour", "setting": "KEYWARD_KEY_REQUESTS_PER_HOUR"},
        )


def check_invitation(uow: UnitOfWork, member_id: str | None, purpose: str) -> None:
    """Refuse an invitation e-mail the member may not send now."""
    limit = uow.rates.invitations_per_hour
    if limit <= 0 or member_id is None:
        return
    where = [PasswordLink.created_by == member_id, PasswordLink.purpose == purpose]
    wait = _retry_after(uow, PasswordLink.created_at, where, limit, HOUR)
    if wait:
        raise RateLimited(
            f"You sent {limit} invitations within an hour, as many as this server allows; "
            f"retry in {wait} s.",
            retry_after=wait,
            details={"limit": limit, "per": "hour", "setting": "KEYWARD_INVITATIONS_PER_HOUR"},
        )
