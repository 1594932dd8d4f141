"""Getting bytes out of keyward: signed webhooks over HTTP, and storage URLs through fsspec.

Connector exports and notification webhooks share one signing scheme. Each delivery carries
`Keyward-Delivery: <id>` and `Keyward-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 with the endpoint's secret over `<id>.<t>.<body>`. Receivers check it with
`verify_signature`, which also refuses timestamps too far from their clock (replays).
"""

import hashlib
import hmac
import time
from typing import Any

import fsspec
import httpx2 as httpx

SIGNATURE_HEADER = "Keyward-Signature"
DELIVERY_HEADER = "Keyward-Delivery"
TOLERANCE = 300


class DeliveryFailed(Exception):
    """The destination did not take the delivery; worth another attempt later."""


class PermanentFailure(Exception):
    """Retrying cannot help (the receiver refused the delivery, the connector's creator lost
    access, no SMTP server is configured...): the message is given up at once."""


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<delivery_id>.<timestamp>.<body>`, hex."""
    signed = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, delivery_id: str, body: bytes, timestamp: int) -> str:
    return f"t={timestamp},v1={signature(secret, delivery_id, str(timestamp), body)}"


def verify_signature(
    secret: str,
    delivery_id: str,
    header: str,
    body: bytes,
    now: float,
    tolerance: int = TOLERANCE,
) -> bool:
    """Whether `header` (a Keyward-Signature value) signs this delivery id and body with
    `secret`, at a time within `tolerance` seconds of `now` (POSIX seconds). Any malformed
    header, stale or future timestamp, or wrong signature is False."""
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, delivery_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def post_webhook(
    url: str,
    body: bytes,
    *,
    secret: str,
    delivery_id: str,
    user_agent: str = "keyward",
    timeout: float = 10.0,
) -> str:
    """POST `body`, signed; returns what the receiver answered. Redirects are not followed.

    2xx is delivered. A 4xx other than 408 and 429 says the receiver will never take this
    delivery (PermanentFailure); anything else, or no answer, is worth a retry (DeliveryFailed).
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature_header(secret, delivery_id, body, int(time.time())),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{type(error).__name__} posting to the webhook") from None
    status = response.status_code
    if 200 <= status < 300:
        return f"HTTP {status}"
    if 400 <= status < 500 and status not in (408, 429):
        raise PermanentFailure(f"the webhook refused the delivery: HTTP {status}")
    raise DeliveryFailed(f"the webhook answered HTTP {status}")


def write_storage(url: str, files: dict[str, bytes], options: dict[str, Any]) -> str:
    """Write each `suffix -> content` at `url + suffix` through fsspec (file://, s3://...)."""
    try:
        for suffix, content in files.items():
            with fsspec.open(url + suffix, "wb", **options) as handle:
                handle.write(content)
    except (OSError, ValueError) as error:
        raise DeliveryFailed(f"{type(error).__name__} writing to storage: {error}") from None
    return f"wrote {len(files)} file(s)"
