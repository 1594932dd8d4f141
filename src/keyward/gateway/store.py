"""The gateway's reads: every API with its current spec, and every offering."""

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from keyward.db.models import Api, ApiVersion, Offering


def apis(session: Session, ids: Collection[str] | None = None) -> list[tuple[Api, dict[str, Any]]]:
    """Every API of every workspace (or those of `ids` that exist) with its current spec: the
    gateway serves them all."""
    query = select(Api, ApiVersion.normalized).join(
        ApiVersion,
        and_(ApiVersion.api_id == Api.id, ApiVersion.number == Api.current_version),
    )
    if ids is not None:
        query = query.where(Api.id.in_(ids))
    return [(api, document) for api, document in session.execute(query)]


def offerings(session: Session, ids: Collection[str] | None = None) -> Sequence[Offering]:
    """Every offering, or those of `ids` that exist."""
    query = select(Offering)
    if ids is not None:
        query = query.where(Offering.id.in_(ids))
    return session.scalars(query).all()
