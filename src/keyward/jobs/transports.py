"""Getting bytes out of keyward: signed webhooks over HTTP, files below the operator's storage
destinations.

Connector exports and notification webhooks share one signing scheme. Each delivery carries
`Keyward-Delivery: <id>` and `Keyward-Signature: t=<unix seconds>,v1=<hex>`, where the hex is
HMAC-SHA256 with the endpoint's secret over `<id>.<t>.<body>`. While a rotated secret's grace
runs, the header carries a `v1=` for each secret, the new one first. Receivers check it with
`verify_signature`, which also refuses timestamps too far from their clock (replays).
"""

import hashlib
import hmac
import os
import secrets
import ssl
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
import httpcore2 as httpcore
import httpx2 as httpx

from keyward.core.egress import EgressPolicy
from keyward.core.storage import InvalidStoragePath, storage_segments
from keyward.domains.egress import resolve
from keyward.settings import StorageDestination

SIGNATURE_HEADER = "Keyward-Signature"
DELIVERY_HEADER = "Keyward-Delivery"
TOLERANCE = 300
# The most of a receiver's answer read.
MAX_RESPONSE_BYTES = 64 * 1024


class DeliveryFailed(Exception):
    """The destination did not take the delivery; worth another attempt later."""


class PermanentFailure(Exception):
    """Retrying cannot help (the receiver refused the delivery, the connector's creator lost
    access, no SMTP server is configured...): the message is given up at once."""


def signature(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<delivery_id>.<timestamp>.<body>`, hex."""
    signed = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(
    signing_secrets: Sequence[str], delivery_id: str, body: bytes, timestamp: int
) -> str:
    """`t=<timestamp>` then one `v1=` per secret, in the order given (the current secret first,
    then one still in its grace), so a receiver holding either verifies the delivery."""
    signatures = (
        f"v1={signature(secret, delivery_id, str(timestamp), body)}" for secret in signing_secrets
    )
    return ",".join([f"t={timestamp}", *signatures])


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


class _Deadline:
    """A wall-clock deadline for one delivery: every read and write waits at most what is left
    of it, so a receiver trickling one byte at a time cannot hold a worker past it."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds

    def left(self, timeout: float | None) -> float:
        remaining = self.ends - time.monotonic()
        if remaining <= 0:
            raise httpcore.WriteTimeout("the delivery ran out of time")
        return remaining if timeout is None else min(timeout, remaining)


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.left(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname, self._deadline.left(timeout))
        return _BoundedStream(stream, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _CheckedBackend(httpcore.SyncBackend):
    """Connects only to addresses the egress policy allows, resolved here and connected to
    as resolved (a name cannot resolve elsewhere in between), within the deadline."""

    def __init__(self, policy: EgressPolicy, deadline: _Deadline) -> None:
        self._policy = policy
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._policy.allowed(host, resolve(host, port), port)
        if not addresses:
            raise httpcore.ConnectError("not a destination keyward may reach")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(
                    address, port, self._deadline.left(timeout), local_address, socket_options
                )
            except httpcore.ConnectError as error:
                failure = error
                continue
            return _BoundedStream(stream, self._deadline)
        raise failure or httpcore.ConnectError("no address answered")


def post_webhook(
    url: str,
    body: bytes,
    *,
    secret: str,
    delivery_id: str,
    policy: EgressPolicy,
    previous_secret: str | None = None,
    user_agent: str = "keyward",
    timeout: float = 10.0,
    deadline: float = 30.0,
) -> str:
    """POST `body`, signed with `secret` (and with `previous_secret` too, while a rotation's
    grace runs), to an address the egress policy allows; returns what the receiver answered.
    Redirects are not followed; the whole exchange lasts at most `deadline` seconds and reads
    at most `MAX_RESPONSE_BYTES` of the answer.

    2xx is delivered. A 4xx other than 408 and 429 says the receiver will never take this
    delivery (PermanentFailure), as does a destination the policy refuses; anything else, or no
    answer, is worth a retry (DeliveryFailed).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not policy.allowed(host, resolve(host, port), port):
        raise PermanentFailure("the destination is not one keyward may reach")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature_header(
            [secret] if previous_secret is None else [secret, previous_secret],
            delivery_id,
            body,
            int(time.time()),
        ),
    }
    limit = _Deadline(deadline)
    transport = httpx.HTTPTransport()
    # The transport's pool, with the backend that checks addresses: httpx offers no other way.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(),
        network_backend=_CheckedBackend(policy, limit),
    )
    try:
        with (
            httpx.Client(transport=transport, timeout=timeout, trust_env=False) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            received = 0
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > MAX_RESPONSE_BYTES:
                    break
    except httpx.HTTPError as error:
        raise DeliveryFailed(f"{type(error).__name__} posting to the webhook") from None
    status = response.status_code
    if 200 <= status < 300:
        return f"HTTP {status}"
    if 400 <= status < 500 and status not in (408, 429):
        raise PermanentFailure(f"the webhook refused the delivery: HTTP {status}")
    raise DeliveryFailed(f"the webhook answered HTTP {status}")


def write_files(root: Path, path: str, files: dict[str, bytes]) -> str:
    """Write each `suffix -> content` at `root/path + suffix`, readable by keyward alone
    (0600), each file whole or not at all. `path` is checked here as when the connector was
    made; a symbolic link never leads the write out of `root`."""
    try:
        segments = storage_segments(path)
    except InvalidStoragePath:
        raise PermanentFailure(
            "the connector's path is not a plain path below its destination"
        ) from None
    base = root.resolve()
    directory = base.joinpath(*segments[:-1])
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not directory.resolve().is_relative_to(base):
            raise PermanentFailure("the connector's path leads outside its destination")
        for suffix, content in files.items():
            final = directory / (segments[-1] + suffix)
            staged = directory / f".{segments[-1]}{suffix}.{secrets.token_hex(8)}"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with os.fdopen(os.open(staged, flags, 0o600), "wb") as handle:
                handle.write(content)
            os.replace(staged, final)
    except OSError as error:
        # The reason, never the path: the tenant reads deliveries.
        raise DeliveryFailed(
            f"could not write to the destination: {os.strerror(error.errno or 0)}"
        ) from None
    return f"wrote {len(files)} file(s)"


def write_s3(destination: StorageDestination, path: str, files: dict[str, bytes]) -> str:
    """Write each `suffix -> content` at `path + suffix` below the destination's bucket and
    folder, with the operator's credentials."""
    try:
        segments = storage_segments(path)
    except InvalidStoragePath:
        raise PermanentFailure(
            "the connector's path is not a plain path below its destination"
        ) from None
    assert destination.bucket is not None  # noqa: S101 - a validated s3 destination has one
    folder = [part for part in destination.prefix.split("/") if part]
    target = "/".join([destination.bucket, *folder, *segments])
    storage = fsspec.filesystem(
        "s3",
        key=destination.key.get_secret_value() if destination.key else None,
        secret=destination.secret.get_secret_value() if destination.secret else None,
        endpoint_url=destination.endpoint_url,
        client_kwargs={"region_name": destination.region} if destination.region else {},
        skip_instance_cache=True,
    )
    try:
        for suffix, content in files.items():
            storage.pipe_file(target + suffix, content)
    except (OSError, ValueError) as error:
        raise DeliveryFailed(f"could not write to the bucket ({type(error).__name__})") from None
    return f"wrote {len(files)} file(s)"
