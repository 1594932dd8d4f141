"""The management API's own HTTP limits, on a real `keyward serve`: a request head over 16 KiB
is answered 431 in keyward's JSON error shape, as at the gateway, and one that never ends is cut
off without being read to its end. HTTP does not depend on the database: SQLite only."""

import contextlib
import json
import socket
from collections.abc import Iterator

import pytest

from keyward.api.protocol import MAX_HEAD_BYTES
from tests.backends import SqliteDatabases
from tests.e2e.processes import Server, serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("serve")
    databases = SqliteDatabases(folder)
    with serve(databases.create(), folder) as running:
        yield running


def _exchange(server: Server, head: bytes, *, more: bytes = b"") -> bytes:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head)
        with contextlib.suppress(OSError):  # the server stopped reading, which is the point
            connection.sendall(more)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def _head(filler: int) -> bytes:
    return b"GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * filler + b"\r\n\r\n"


def test_a_head_over_the_limit_is_a_431_in_the_error_shape(server: Server) -> None:
    answer = _exchange(server, _head(MAX_HEAD_BYTES))
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 431 ")
    assert b"content-type: application/json" in status
    error = json.loads(body)["error"]
    assert (error["code"], error["details"]) == ("headers_too_large", {})


def test_a_head_within_the_limit_reaches_the_api(server: Server) -> None:
    answer = _exchange(
        server, _head(MAX_HEAD_BYTES - 200).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    )
    assert answer.startswith(b"HTTP/1.1 401 ")


def test_a_head_that_never_ends_is_cut_off(server: Server) -> None:
    endless = b"GET /v1/me HTTP/1.1\r\nX-Filler: " + b"a" * (4 * MAX_HEAD_BYTES)
    answer = _exchange(server, endless, more=b"a" * (1024 * 1024))
    assert answer.startswith(b"HTTP/1.1 431 ")
