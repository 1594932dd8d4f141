"""SQL for workspaces."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyward.db.models import Workspace
from keyward.domains.pagination import PageRequest, paginate


def get(session: Session, workspace_id: str) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def first(session: Session) -> Workspace | None:
    """The oldest workspace: the default one `keyward init` made."""
    return session.scalar(select(Workspace).order_by(Workspace.id).limit(1))


def list_workspaces(session: Session, page: PageRequest) -> Sequence[Workspace]:
    return session.scalars(paginate(select(Workspace), Workspace.id, page)).all()


def by_name(session: Session, name: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.name == name))


def add(session: Session, workspace: Workspace) -> None:
    session.add(workspace)
    session.flush()
