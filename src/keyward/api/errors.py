"""Turning every failure into `{"error": {"code", "message", "details"}}` with the right status.

Refusals (401 for a known key, 403, 409) are written to the audit log in their own transaction,
because the transaction that attempted the change has been rolled back.
"""

import logging
import re
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from keyward.api.auth import CHALLENGES
from keyward.api.runtime import runtime
from keyward.core.actors import Actor
from keyward.core.errors import KeywardError, RateLimited, error_body
from keyward.domains.audit import refusals

log = logging.getLogger(__name__)

# Seconds a client waits before retrying a 503, as the gateway tells its clients.
RETRY_AFTER_UNAVAILABLE = "5"

_HTTP_CODES = {
    400: "invalid_json",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    response = JSONResponse(error_body(code, message, details), status)
    if status == 401:
        for challenge in CHALLENGES:
            response.headers.append("WWW-Authenticate", challenge)
    elif status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_UNAVAILABLE
    return response


def _audit_refusal(request: Request, error: KeywardError) -> None:
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        return
    route = request.scope.get("route")
    refusals.record_refusal(
        runtime(request).database,
        actor,
        getattr(route, "name", None) or f"{request.method} {request.url.path}",
        error,
        named=request.path_params.values(),
        method=request.method,
    )


def keyward_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(KeywardError, error)
    if error.audited:
        _audit_refusal(request, error)
    response = error_response(error.status, error.code, error.message, error.details)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def validation_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(RequestValidationError, error)
    problems = [
        {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in error.errors()
    ]
    if any(p["type"] == "json_invalid" for p in problems):
        return error_response(
            400, "invalid_json", "The request body is not valid JSON.", {"errors": problems}
        )
    return error_response(
        422,
        "validation_failed",
        "The request is not valid: see details.errors for each problem.",
        {"errors": problems},
    )


_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def allowed_methods(app: FastAPI, path: str) -> set[str]:
    """Every method the app answers at `path`, read from its OpenAPI document.

    (Starlette's 405 names only the methods of the first route that matched the path.)
    """
    allowed: set[str] = set()
    for template, operations in app.openapi()["paths"].items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            allowed |= {m.upper() for m in operations if m in _METHODS}
    if "GET" in allowed:
        allowed.add("HEAD")
    return allowed


def http_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(HTTPException, error)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    message = {
        # FastAPI answers 400 only when it cannot parse a body (not UTF-8, nested too deep).
        400: "The request body is not valid JSON (UTF-8, of reasonable depth).",
        404: "There is nothing at this path.",
        405: f"{request.method} is not allowed on this path.",
    }.get(error.status_code, str(error.detail))
    details = None
    if error.status_code == 400:
        details = {"errors": [{"loc": ["body"], "message": message, "type": "json_invalid"}]}
    response = error_response(error.status_code, code, message, details)
    if error.headers:
        response.headers.update(error.headers)
    if error.status_code == 405:
        response.headers["Allow"] = ", ".join(
            sorted(allowed_methods(request.app, request.url.path))
        )
    return response


def integrity_error(request: Request, error: Exception) -> JSONResponse:
    log.info("integrity conflict on %s %s", request.method, request.url.path)
    return error_response(
        409, "conflict", "The request conflicted with a concurrent change; retry it."
    )


def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.error("database error on %s %s: %s", request.method, request.url.path, type(error).__name__)
    return error_response(
        503, "database_unavailable", "The database is not reachable right now; retry shortly."
    )


def data_error(request: Request, error: Exception) -> JSONResponse:
    # Input validation should have caught it; the value is refused, not retried.
    log.warning("data refused by the database on %s %s", request.method, request.url.path)
    return error_response(422, "validation_failed", "A value in the request cannot be stored.")


def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error(
        "unexpected %s on %s %s",
        type(error).__name__,
        request.method,
        request.url.path,
        exc_info=error,
    )
    return error_response(
        500,
        "internal_error",
        "Something went wrong on our side; the request id helps find it in the logs.",
        {"request_id": getattr(request.state, "request_id", None)},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(KeywardError, keyward_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(InterfaceError, database_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
