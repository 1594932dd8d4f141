"""The gateway's reads: every API with its current spec, and every offering."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from keyward.db.models import Api, ApiVersion, Offering


def apis(session: Session) -> list[tuple[Api, dict[str, Any]]]:
    """Every API of every workspace with its current spec: the gateway serves them all."""
    rows = session.execute(
        select(Api, ApiVersion.normalized).join(
            ApiVersion,
            and_(ApiVersion.api_id == Api.id, ApiVersion.number == Api.current_version),
        )
    )
    return [(api, document) for api, document in rows]


def offerings(session: Session) -> Sequence[Offering]:
    return session.scalars(select(Offering)).all()
