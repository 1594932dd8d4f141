"""Gateways as operators see them, and waiting until every live gateway enforces a change."""

import time
from datetime import datetime
from typing import Final

from keyward.core.actors import Actor
from keyward.db import gateways
from keyward.db.engine import Database, UnitOfWork
from keyward.db.models import GatewayHeartbeat
from keyward.domains import access
from keyward.domains.gateways import repository
from keyward.domains.gateways.schemas import (
    Enforcement,
    GatewayLag,
    GatewayOut,
    GatewayPage,
    LaggingGateway,
)
from keyward.domains.pagination import PageRequest, split_page

# Seconds between two looks at the gateways' positions while waiting for them.
LOOK_EVERY: Final = 0.02


def list_gateways(uow: UnitOfWork, actor: Actor, page: PageRequest) -> GatewayPage:
    """The gateway processes of the installation, live or not, newest first (to whoever may
    read the workspace's settings: gateways serve every workspace, and their rows name none).
    Rows of gateways that stopped cleanly are gone; those silent for long are pruned."""
    access.gate(actor, "workspace", "read", workspace_wide=True)
    now = uow.clock.now()
    last = gateways.last_seq(uow.session)
    rows, next_cursor = split_page(
        repository.page_of_gateways(uow.session, page), page, lambda row: row.id
    )
    return GatewayPage(
        data=[_gateway(uow, row, last, now) for row in rows],
        next_cursor=next_cursor,
        feed_position=last,
    )


def _gateway(uow: UnitOfWork, row: GatewayHeartbeat, last: int, now: datetime) -> GatewayOut:
    behind = max(0, last - row.applied_seq)
    oldest = gateways.first_unapplied_at(uow.session, row.applied_seq) if behind else None
    seconds = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return GatewayOut(
        id=row.id,
        address=row.address,
        version=row.version,
        hostname=row.hostname,
        pid=row.pid,
        started_at=row.started_at,
        applied=row.applied_seq,
        lag=GatewayLag(changes=behind, seconds=round(seconds, 3)),
        last_heartbeat_at=row.last_beat_at,
        live=gateways.is_live(row, now),
    )


def await_enforcement(database: Database, position: int, wait: float) -> Enforcement:
    """Wait, at most `wait` seconds, until every live gateway has applied the change-feed
    `position` (what a committed unit of work recorded), and say whether they did.

    Call it after the commit, outside any transaction, off the event loop: it sleeps. With no
    live gateway there is nothing to wait for, and nothing enforced: `enforced_at` is null.
    """
    deadline = time.monotonic() + wait
    while True:
        with database.transaction(write=False) as uow:
            now = database.clock.now()
            live = gateways.live_gateways(uow.session, now)
        lagging = [row for row in live if row.applied_seq < position]
        if not live:
            return Enforcement(enforced_at=None, gateways=0)
        if not lagging:
            return Enforcement(enforced_at=now, gateways=len(live))
        if time.monotonic() >= deadline:
            return Enforcement(
                enforced_at=None,
                gateways=len(live),
                lagging=[
                    LaggingGateway(
                        id=row.id,
                        address=row.address,
                        applied=row.applied_seq,
                        behind=position - row.applied_seq,
                    )
                    for row in lagging
                ],
            )
        time.sleep(LOOK_EVERY)
