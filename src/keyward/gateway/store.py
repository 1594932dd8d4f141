"""The gateway's reads: every API with its current spec, and every offering."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from keyward.db.models import Api, ApiVersion, Offering


@dataclass(frozen=True, slots=True)
class ApiRow:
    id: str
    workspace_id: str
    name: str
    mount_path: str
    base_path: str
    upstream_url: str
    key_locations: list[dict[str, str]]
    document: dict[str, Any]


def apis(session: Session) -> list[ApiRow]:
    """Every API of every workspace: the gateway serves them all, each under its mount path."""
    rows = session.execute(
        select(Api, ApiVersion.normalized).join(
            ApiVersion,
            and_(ApiVersion.api_id == Api.id, ApiVersion.number == Api.current_version),
        )
    )
    return [
        ApiRow(
            api.id,
            api.workspace_id,
            api.name,
            api.mount_path,
            api.base_path,
            api.upstream_url,
            api.key_locations,
            document,
        )
        for api, document in rows
    ]


def offerings(session: Session) -> Sequence[Offering]:
    return session.scalars(select(Offering)).all()
