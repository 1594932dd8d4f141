"""Gateway rows a page at a time (the rest of their SQL is `keyward.db.gateways`, which the
verifier shares)."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import GatewayHeartbeat
from keyward.domains.pagination import PageRequest, paginate


def page_of_gateways(session: Session, page: PageRequest) -> Sequence[GatewayHeartbeat]:
    """The gateways, newest first, after `page.cursor` (+1 row to tell whether more follow)."""
    query = paginate(select(GatewayHeartbeat), GatewayHeartbeat.id, page)
    return session.execute(query).scalars().all()
