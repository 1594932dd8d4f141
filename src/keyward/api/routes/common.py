"""What every router shares: error documentation and pagination parameters."""

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

from keyward.domains.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses an operation can answer."""
    described = {
        400: "Malformed request",
        401: "No key, or a key that is not valid (see `error.code`)",
        403: "The key lacks a permission",
        404: "No such resource in this workspace",
        409: "The request conflicts with the resource's state",
        422: "The request does not validate",
    }
    return {
        status: {"model": ErrorBody, "description": described[status]}
        for status in (401, 403, 422, *statuses)
    }


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


PageDep = Annotated[PageRequest, Depends(page_request)]
