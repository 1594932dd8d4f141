"""Audit events as the API shows them, and the filters for listing them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyward.domains.fields import Output


class AuditEventOut(Output):
    id: str
    occurred_at: datetime
    actor_type: str
    actor_key_id: str | None
    actor_member_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    code: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    target: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    # Up to this time, excluded.
    until: datetime | None = None
