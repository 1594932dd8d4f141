"""Bodies stream with backpressure: a side that does not read stops the other side being
read, so the gateway holds about one write buffer of a body, never all of it."""

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

from keyward.gateway.http import Limits
from tests.gateway.http_support import (
    Client,
    Gateway,
    Origin,
    gated,
    get,
    proxy,
    running_gateway,
)

SIZE = 64 << 20
PIECE = b"u" * (1 << 20)
# Kernel socket buffers on the way hold some megabytes; a gateway without backpressure would
# take the whole body at once.
MOST_IN_FLIGHT = SIZE // 2
SMALL = Limits(high_water=64 * 1024, upstream_timeout=5.0)


@pytest.fixture
def gateway(origin: Origin) -> Iterator[Gateway]:
    with running_gateway(proxy(origin.upstream), SMALL) as gateway:
        yield gateway


class Upload(threading.Thread):
    """Sends a SIZE-byte POST body in the background, counting what the socket took."""

    def __init__(self, client: Client, path: str) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.path = path
        self.sent = 0

    def run(self) -> None:
        self.client.send(get(self.path, f"Content-Length: {SIZE}", method="POST"))
        for _ in range(SIZE // len(PIECE)):
            self.client.sock.sendall(PIECE)
            self.sent += len(PIECE)


def expected_digest() -> str:
    digest = hashlib.sha256()
    for _ in range(SIZE // len(PIECE)):
        digest.update(PIECE)
    return digest.hexdigest()


def test_upstream_not_reading_stops_reading_the_client(gateway: Gateway) -> None:
    with gateway.connect() as client:
        upload = Upload(client, "/hold/0.5/sink")
        upload.start()
        time.sleep(0.4)
        assert upload.sent < MOST_IN_FLIGHT
        response = client.read_response()
        upload.join()
    assert response.body.decode() == expected_digest()


def test_handler_deciding_stops_reading_the_body_at_high_water(origin: Origin) -> None:
    decided = threading.Event()
    with (
        running_gateway(gated(origin.upstream, decided), SMALL) as gateway,
        gateway.connect() as client,
    ):
        upload = Upload(client, "/sink")
        upload.start()
        time.sleep(0.3)
        assert upload.sent < MOST_IN_FLIGHT
        decided.set()
        response = client.read_response()
        upload.join()
    assert response.body.decode() == expected_digest()


def test_client_not_reading_stops_reading_the_upstream(gateway: Gateway, origin: Origin) -> None:
    with gateway.connect() as client:
        client.send(get(f"/big/{SIZE}"))
        time.sleep(0.4)
        assert 0 < origin.written[1] < MOST_IN_FLIGHT
        response = client.read_response()
    assert len(response.body) == SIZE
