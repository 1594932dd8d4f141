"""Running a gateway: the access log is a stream of its own, apart from keyward's log.

What reaches stderr is tested end to end in tests/e2e/test_logs.py; this checks what stderr
cannot show: an access log that is off costs the request path nothing, whatever keyward's level.
"""

import logging
from collections.abc import Iterator

import pytest

from keyward.gateway.runner import access_log, access_logging


@pytest.fixture
def keyward_at_debug() -> Iterator[None]:
    keyward = logging.getLogger("keyward")
    level = keyward.level
    keyward.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        keyward.setLevel(level)


@pytest.mark.usefixtures("keyward_at_debug")
def test_an_access_log_that_is_off_makes_no_lines_whatever_keywards_level() -> None:
    with access_logging(False):
        assert not access_log.isEnabledFor(logging.CRITICAL)
        assert not access_log.propagate
    with access_logging(True):
        assert access_log.isEnabledFor(logging.INFO)
        assert not access_log.propagate, "its lines never also reach keyward's handler"
    assert (access_log.level, access_log.propagate) == (logging.NOTSET, True), "as before"
