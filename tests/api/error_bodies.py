"""The one error shape every refusal of the management API has, checked in one place."""

import re
from typing import Any

from httpx2 import Response

ERROR_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert `{"error": {"code", "message", "details"}}` with `status`; return the error.

    A 401 must also tell the client how to authenticate (`WWW-Authenticate`).
    """
    summary = f"{response.request.method} {response.request.url.path[:200]}"
    assert response.status_code == status, (
        f"{summary}: {response.status_code} {response.text[:500]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json"), summary
    body = response.json()
    assert isinstance(body, dict), summary
    assert set(body) == {"error"}, f"{summary}: {body}"
    error = body["error"]
    assert isinstance(error, dict), summary
    assert set(error) == {"code", "message", "details"}, f"{summary}: {error}"
    assert isinstance(error["code"], str), summary
    assert ERROR_CODE.match(error["code"]), f"{summary}: code {error['code']!r} is not snake_case"
    assert isinstance(error["message"], str), summary
    assert error["message"].strip(), f"{summary}: empty message"
    assert isinstance(error["details"], dict), summary
    if code is not None:
        assert error["code"] == code, f"{summary}: {error}"
    if status == 401:
        assert response.headers.get_list("www-authenticate"), f"{summary}: 401 without a challenge"
    return error
