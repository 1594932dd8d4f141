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
        400: "Malformed request: invalid JSON, or two different keys sent",
        401: "No key, or a key that is not valid (see `error.code`)",
        403: "The key lacks a permission",
        404: "No such resource in this workspace",
        409: "The request conflicts with the resource's state",
        413: "The request body is over the size limit",
        415: "The request body is not JSON",
        422: "The request does not validate",
        429: "Past a rate the operator set (`rate_limited`: keys created a minute, key requests "
        "or invitations an hour); retry after `Retry-After` seconds",
        503: "keyward cannot answer for now (`verification_unavailable`: storage is out of reach "
        "and the key cannot be confirmed); retry after `Retry-After` seconds",
    }
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": described[status]}
        for status in sorted({400, 401, 403, 422, *statuses})
    }
    for waited in (429, 503):
        if waited in responses:
            responses[waited]["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": {"type": "integer"},
                }
            }
    return responses


WITH_BODY = (413, 415)


def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


PageDep = Annotated[PageRequest, Depends(page_request)]
