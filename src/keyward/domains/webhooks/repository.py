"""SQL for webhook endpoints. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from keyward.db.models import OutboxMessage, WebhookEndpoint, Workspace
from keyward.domains.notifications.events import WEBHOOK
from keyward.domains.pagination import PageRequest, paginate


def add(session: Session, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)
    session.flush()


def delete(session: Session, endpoint: WebhookEndpoint) -> None:
    session.delete(endpoint)
    session.flush()


def count_locked(session: Session, workspace_id: str) -> int:
    """The workspace's endpoints, its row locked for the rest of the transaction (SQLite
    writers already hold the database's write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
    query = select(func.count()).select_from(WebhookEndpoint)
    return session.scalar(query.where(WebhookEndpoint.workspace_id == workspace_id)) or 0


def list_endpoints(
    session: Session, workspace_id: str, page: PageRequest, *, visible: ColumnElement[bool]
) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id, visible)
    return session.scalars(paginate(query, WebhookEndpoint.id, page)).all()


def _of_endpoint(workspace_id: str, endpoint_id: str) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.workspace_id == workspace_id,
        OutboxMessage.kind == WEBHOOK,
        OutboxMessage.payload["endpoint_id"].as_string() == endpoint_id,
    )


def list_deliveries(
    session: Session, workspace_id: str, endpoint_id: str, page: PageRequest
) -> Sequence[OutboxMessage]:
    """The endpoint's deliveries (its outbox messages), newest first."""
    query = select(OutboxMessage).where(_of_endpoint(workspace_id, endpoint_id))
    return session.scalars(paginate(query, OutboxMessage.id, page)).all()


def get_delivery(
    session: Session, workspace_id: str, endpoint_id: str, delivery_id: str
) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.id == delivery_id, _of_endpoint(workspace_id, endpoint_id)
        )
    ).first()
