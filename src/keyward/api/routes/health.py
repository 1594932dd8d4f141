"""Liveness and readiness without authentication."""

from fastapi import APIRouter
from sqlalchemy import text

from keyward.api.runtime import DatabaseDep

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health")
def health(database: DatabaseDep) -> dict[str, str]:
    """`{"status": "ok"}` when the database answers."""
    with database.transaction(write=False) as uow:
        uow.session.execute(text("SELECT 1"))
    return {"status": "ok"}
