"""`Idempotency-Key` on every creating POST: one dependency runs the creation in a transaction
that records its answer, and answers a retry with that answer (same status and body, secrets
null, `Idempotent-Replayed: true`) instead of creating again."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from keyward.api.auth import ActorDep
from keyward.api.runtime import DatabaseDep
from keyward.core.actors import Actor
from keyward.db.engine import Database, UnitOfWork
from keyward.domains.idempotency import service as idempotency

Answer = TypeVar("Answer", bound=BaseModel)

REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class Creation:
    """One creating request, with the Idempotency-Key it came with, if any."""

    database: Database
    actor: Actor
    response: Response
    route: APIRoute
    path_params: dict[str, str]
    idempotency_key: str | None

    def run(
        self,
        body: BaseModel | None,
        create: Callable[[UnitOfWork], Answer],
        *,
        status: Callable[[Answer], int] | None = None,
    ) -> Answer:
        """Create in one transaction (`status`: the answer's status when not the route's).

        With an Idempotency-Key already used for this request by this caller in the last 24
        hours, nothing is created: the first answer comes back, its secrets null. Used for
        another request: 422 `idempotency_key_reused`.
        """
        request_hash = idempotency.fingerprint(self.route.name, body, self.path_params)
        answer_type: type[Answer] = self.route.response_model
        with self.database.transaction() as uow:

            def made() -> tuple[Answer, int]:
                answer = create(uow)
                code = status(answer) if status is not None else self.route.status_code
                return answer, code or 200

            answer, code, replayed = idempotency.created_once(
                uow,
                self.actor,
                self.idempotency_key,
                request_hash,
                answer_type,
                made,
            )
        self.response.status_code = code
        if replayed:
            self.response.headers[REPLAYED_HEADER] = "true"
        return answer


def creation(
    request: Request,
    response: Response,
    actor: ActorDep,
    database: DatabaseDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="Retrying with the same value (within 24 hours) answers as the first "
            "time, with any secret null, instead of creating again.",
        ),
    ] = None,
) -> Creation:
    route: APIRoute = request.scope["route"]
    return Creation(database, actor, response, route, dict(request.path_params), idempotency_key)


CreationDep = Annotated[Creation, Depends(creation)]
"""Every creating POST takes this (a test holds every such route to it)."""
