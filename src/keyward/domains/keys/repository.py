"""SQL for API keys. Every read is scoped to a workspace; lookups by hash live in the verifier."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from keyward.core.keys import KeyState
from keyward.db.models import ApiKey
from keyward.domains.keys.schemas import KeyFilter
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    )


def add(session: Session, key: ApiKey) -> None:
    session.add(key)
    session.flush()


def delete(session: Session, key: ApiKey) -> None:
    session.delete(key)
    session.flush()


def list_keys(
    session: Session, workspace_id: str, filters: KeyFilter, page: PageRequest, now: datetime
) -> Sequence[ApiKey]:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id)
    if filters.kind is not None:
        query = query.where(ApiKey.kind == filters.kind.value)
    if filters.acquisition_id is not None:
        query = query.where(ApiKey.acquisition_id == filters.acquisition_id)
    if filters.creator_member_id is not None:
        query = query.where(ApiKey.creator_member_id == filters.creator_member_id)
    if filters.state is KeyState.REVOKED:
        query = query.where(ApiKey.revoked_at.is_not(None))
    elif filters.state is KeyState.EXPIRED:
        query = query.where(ApiKey.revoked_at.is_(None), ApiKey.expires_at <= now)
    elif filters.state is KeyState.ACTIVE:
        query = query.where(
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )
    return session.scalars(paginate(query, ApiKey.id, page)).all()


def unrevoked_created_by(session: Session, workspace_id: str, member_id: str) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(
            ApiKey.workspace_id == workspace_id,
            ApiKey.creator_member_id == member_id,
            ApiKey.revoked_at.is_(None),
        )
    ).all()
