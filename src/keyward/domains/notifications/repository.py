"""SQL for notifications: who hears about what, what is about to expire, and which reminders
are already sent."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from keyward.db.models import (
    Acquisition,
    Api,
    ApiKey,
    Member,
    Offering,
    Organization,
    OrganizationMember,
    SentReminder,
    WebhookEndpoint,
)


def organization_member_ids(session: Session, organization_id: str) -> list[str]:
    return list(
        session.scalars(
            select(OrganizationMember.member_id)
            .where(OrganizationMember.organization_id == organization_id)
            .order_by(OrganizationMember.member_id)
        )
    )


def keys_expiring(
    session: Session, after: datetime, until: datetime
) -> Sequence[Row[ApiKey, Api | None]]:
    """Unrevoked keys whose expiry lies in (after, until], with their API (none for account
    keys), in id order."""
    return session.execute(
        select(ApiKey, Api)
        .outerjoin(Acquisition, Acquisition.id == ApiKey.acquisition_id)
        .outerjoin(Offering, Offering.id == Acquisition.offering_id)
        .outerjoin(Api, Api.id == Offering.api_id)
        .where(
            ApiKey.revoked_at.is_(None),
            ApiKey.expires_at.is_not(None),
            ApiKey.expires_at > after,
            ApiKey.expires_at <= until,
        )
        .order_by(ApiKey.id)
    ).all()


def acquisitions_expiring(
    session: Session, after: datetime, until: datetime
) -> Sequence[Row[Acquisition, Offering, Api, Organization]]:
    """Acquisitions whose validity ends in (after, until], in id order."""
    return session.execute(
        select(Acquisition, Offering, Api, Organization)
        .join(Offering, Offering.id == Acquisition.offering_id)
        .join(Api, Api.id == Offering.api_id)
        .join(Organization, Organization.id == Acquisition.organization_id)
        .where(
            Acquisition.valid_until.is_not(None),
            Acquisition.valid_until > after,
            Acquisition.valid_until <= until,
        )
        .order_by(Acquisition.id)
    ).all()


def record_reminder(
    session: Session,
    workspace_id: str,
    subject_id: str,
    event: str,
    due_at: datetime,
    now: datetime,
) -> bool:
    """Insert the reminder unless it is already there; True when this call inserted it.

    A concurrent sweep inserting the same reminder waits for ours to commit (PostgreSQL) or
    for the write lock (SQLite), then inserts nothing.
    """
    values = {
        "workspace_id": workspace_id,
        "subject_id": subject_id,
        "event": event,
        "due_at": due_at,
        "created_at": now,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(SentReminder)
        .values(values)
        .on_conflict_do_nothing()
        .returning(SentReminder.subject_id)
    )
    return session.execute(statement).first() is not None


def reminders_sent(
    session: Session, subject_ids: list[str], event: str
) -> dict[tuple[str, datetime], datetime]:
    """(subject id, due at) → when the reminder `event` was sent, for those subjects."""
    if not subject_ids:
        return {}
    rows = session.execute(
        select(SentReminder.subject_id, SentReminder.due_at, SentReminder.created_at).where(
            SentReminder.subject_id.in_(subject_ids), SentReminder.event == event
        )
    )
    return {(subject_id, due_at): sent_at for subject_id, due_at, sent_at in rows}


def active_members(session: Session, workspace_id: str, member_ids: list[str]) -> Sequence[Member]:
    return session.scalars(
        select(Member)
        .where(
            Member.workspace_id == workspace_id,
            Member.id.in_(member_ids),
            Member.active.is_(True),
        )
        .order_by(Member.id)
    ).all()


def active_endpoints(session: Session, workspace_id: str) -> Sequence[WebhookEndpoint]:
    return session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.active.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
