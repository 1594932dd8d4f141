"""Writes held to the end of the event loop's turn, so that the kernel gets them together."""

import asyncio
import contextvars
import logging
from typing import Final, Protocol

log: Final = logging.getLogger("keyward.gateway")


class Sender(Protocol):
    def write_out(self) -> None:
        """Hand what the connection has queued to its transport."""


class Outbox:
    """The connections with bytes queued in this turn of the event loop: they are written once
    the turn's callbacks have run, before the loop polls again.

    One turn handles every request and response that arrived together. A write to a socket
    whose reader sleeps wakes that reader, and on loopback (an upstream beside the gateway, a
    benchmark) the writer's own system call does the waking and the reader's TCP work. Written
    one by one, each answer and each upstream request paid for a wake-up of its own, which cost
    more than the rest of the kernel's work on a request; written together, a reader woken by
    the first finds the others waiting.
    """

    __slots__ = ("_context", "_loop", "_queued")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queued: list[Sender] = []
        # Writing out reads no context variable: one context for every turn, not a copy each.
        self._context = contextvars.Context()

    def add(self, sender: Sender) -> None:
        """Write out `sender` at the end of this turn; once per turn is enough."""
        if not self._queued:
            self._loop.call_soon(self._write_out, context=self._context)
        self._queued.append(sender)

    def _write_out(self) -> None:
        queued = self._queued
        self._queued = []
        for sender in queued:
            try:
                sender.write_out()
            except Exception:
                # One connection's failure must not keep the others' bytes from being sent.
                log.exception("writing out a connection's queued bytes failed")
