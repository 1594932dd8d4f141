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


def _refuse_beyond(
    uow: UnitOfWork,
    created_at: InstrumentedAttribute[datetime],
    where: list[ColumnElement[bool]],
    limit: int,
    window: timedelta,
    done: str,
    setting: str,
    **details: str,
) -> None:
    """Raise `RateLimited` when `limit` rows matching `where` were added within `window`, with
    `Retry-After` the seconds until the oldest of them leaves it; `done` says what the member
    did that many times ("You created 30 keys")."""
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
        return
    wait = max(1, math.ceil((oldest + window - now).total_seconds()))
    per = "minute" if window == MINUTE else "hour"
    raise RateLimited(
        f"{done} within {'a' if per == 'minute' else 'an'} {per}, as many as this server "
        f"allows; retry in {wait} s.",
        retry_after=wait,
        details={"limit": limit, "per": per, **details, "setting": setting},
    )


def check_key_creation(uow: UnitOfWork, member_id: str, acquisition_id: str | None) -> None:
    """Refuse a key the member (or the acquisition) may not be given now."""
    limit = uow.rates.keys_per_minute
    if limit <= 0:
        return
    setting = "KEYWARD_KEYS_CREATED_PER_MINUTE"
    mine = [ApiKey.creator_member_id == member_id]
    _refuse_beyond(
        uow, ApiKey.created_at, mine, limit, MINUTE, f"You created {limit} keys", setting
    )
    if acquisition_id is not None:
        _refuse_beyond(
            uow,
            ApiKey.created_at,
            [ApiKey.acquisition_id == acquisition_id],
            limit,
            MINUTE,
            f"The acquisition was given {limit} keys",
            setting,
            acquisition_id=acquisition_id,
        )


def check_key_request(uow: UnitOfWork, member_id: str | None) -> None:
    """Refuse an approval request (each e-mails approvers) the member may not file now."""
    limit = uow.rates.key_requests_per_hour
    if limit <= 0 or member_id is None:
        return
    _refuse_beyond(
        uow,
        KeyRequest.created_at,
        [KeyRequest.requested_by == member_id],
        limit,
        HOUR,
        f"You filed {limit} key requests",
        "KEYWARD_KEY_REQUESTS_PER_HOUR",
    )


def check_invitation(uow: UnitOfWork, member_id: str | None, purpose: str) -> None:
    """Refuse an invitation e-mail the member may not send now."""
    limit = uow.rates.invitations_per_hour
    if limit <= 0 or member_id is None:
        return
    _refuse_beyond(
        uow,
        PasswordLink.created_at,
        [PasswordLink.created_by == member_id, PasswordLink.purpose == purpose],
        limit,
        HOUR,
        f"You sent {limit} invitations",
        "KEYWARD_INVITATIONS_PER_HOUR",
    )
