"""SQL for webhook endpoints. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from keyward.db.models import WebhookEndpoint
from keyward.domains.pagination import PageRequest, paginate


def add(session: Session, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)
    session.flush()


def delete(session: Session, endpoint: WebhookEndpoint) -> None:
    session.delete(endpoint)
    session.flush()


def list_endpoints(
    session: Session, workspace_id: str, page: PageRequest, *, visible: ColumnElement[bool]
) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id, visible)
    return session.scalars(paginate(query, WebhookEndpoint.id, page)).all()
