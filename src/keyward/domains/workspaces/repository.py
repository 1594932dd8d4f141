"""SQL for workspaces."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import Workspace


def get(session: Session, workspace_id: str) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def first(session: Session) -> Workspace | None:
    """The oldest workspace: the default one `keyward init` made."""
    return session.scalar(select(Workspace).order_by(Workspace.id).limit(1))


def by_name(session: Session, name: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.name == name))


def add(session: Session, workspace: Workspace) -> None:
    session.add(workspace)
    session.flush()
