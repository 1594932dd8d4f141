"""Failures the product reports to users: a stable snake_case code, a status, a sentence.

Services raise these; the API turns them into `{"error": {"code", "message", "details"}}` and the
CLI into the same JSON on stderr. A key that fails verification is not an error but a verdict.
"""

from collections.abc import Mapping
from typing import Any, ClassVar


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The one shape of every error keyward answers, from the API, the gateway and the CLI."""
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


class KeywardError(Exception):
    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    # Refusals are recorded in the audit log even though the transaction that tried is rolled back.
    audited: ClassVar[bool] = False

    def __init__(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class InvalidInput(KeywardError):
    status = 422
    default_code = "validation_failed"


class Unauthenticated(KeywardError):
    status = 401
    default_code = "key_invalid"
    audited = True


class PermissionDenied(KeywardError):
    status = 403
    default_code = "permission_denied"
    audited = True


class NotFound(KeywardError):
    status = 404
    default_code = "not_found"


class Conflict(KeywardError):
    status = 409
    default_code = "conflict"
    audited = True


class RateLimited(KeywardError):
    """Too many of an action in a while: nothing was done; `retry_after` seconds from now it
    may be."""

    status = 429
    default_code = "rate_limited"
    audited = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: int,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, code=code, details={**(details or {}), "retry_after": retry_after}
        )
        self.retry_after = retry_after


class TooLarge(KeywardError):
    status = 413
    default_code = "payload_too_large"


class Unavailable(KeywardError):
    """A dependency keyward needs to answer is out of reach for now; retrying later helps."""

    status = 503
    default_code = "unavailable"


class Hidden(NotFound):
    """What the caller may not see, answered exactly like what does not exist, and audited as
    the refusal it is."""

    audited = True
