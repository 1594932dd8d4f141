"""The engine's tests share a real upstream on 127.0.0.1 and a recorder of what the handler saw."""

from collections.abc import Iterator

import pytest

from tests.gateway.http_support import Origin, Recorder, running_upstream


@pytest.fixture
def origin() -> Iterator[Origin]:
    with running_upstream() as origin:
        yield origin


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
