"""The event loop the gateway runs fastest on: uvloop where it is installed."""

import asyncio
from collections.abc import Callable

_loop_factory: Callable[[], asyncio.AbstractEventLoop]
try:
    from uvloop import new_event_loop as _loop_factory
except ImportError:  # uvloop builds for Unix only
    _loop_factory = asyncio.new_event_loop


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop event loop, or asyncio's own where uvloop is not installed.

    The engine runs on whatever loop calls `GatewayServer.start`; pass this one as the loop
    factory to choose uvloop: `asyncio.Runner(loop_factory=new_event_loop)`.
    """
    return _loop_factory()
