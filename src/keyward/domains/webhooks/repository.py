"""SQL for webhook endpoints. Always scoped to a workspace."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import WebhookEndpoint
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.id == endpoint_id
        )
    )


def add(session: Session, endpoint: WebhookEndpoint) -> None:
    session.add(endpoint)
    session.flush()


def delete(session: Session, endpoint: WebhookEndpoint) -> None:
    session.delete(endpoint)
    session.flush()


def list_endpoints(
    session: Session, workspace_id: str, page: PageRequest
) -> Sequence[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
    return session.scalars(paginate(query, WebhookEndpoint.id, page)).all()
