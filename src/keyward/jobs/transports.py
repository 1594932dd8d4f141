"""Getting bytes out of keyward: signed webhooks over HTTP, and storage URLs through fsspec."""

import hashlib
import hmac
import time
from typing import Any

import fsspec
import httpx2 as httpx


class DeliveryFailed(Exception):
    """The destination did not take the delivery; worth another attempt later."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex: receivers recompute and compare it."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def post_webhook(
    url: str, body: bytes, *, secret: str, delivery_id: str, timeout: float = 10.0
) -> str:
    """POST `body`, signed; returns what the receiver answered. Redirects are not followed."""
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "keyward-connector",
        "Keyward-Delivery": delivery_id,
        "Keyward-Signature": f"t={timestamp},v1={signature(secret, timestamp, body)}",
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{type(error).__name__} posting to the webhook") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"the webhook answered HTTP {response.status_code}")
    return f"HTTP {response.status_code}"


def write_storage(url: str, files: dict[str, bytes], options: dict[str, Any]) -> str:
    """Write each `suffix -> content` at `url + suffix` through fsspec (file://, s3://...)."""
    try:
        for suffix, content in files.items():
            with fsspec.open(url + suffix, "wb", **options) as handle:
                handle.write(content)
    except (OSError, ValueError) as error:
        raise DeliveryFailed(f"{type(error).__name__} writing to storage: {error}") from None
    return f"wrote {len(files)} file(s)"
