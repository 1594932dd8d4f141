"""Clients presenting unknown or invalid keys, counted per address and per network prefix.

Key checksums are public, so anyone can mint well-formed keys, and each unknown one costs a
storage lookup. A client address (or its /24 of IPv4, /64 of IPv6) that presented more unknown
or invalid keys than allowed within a window is refused any further lookup until that window
ends. Counts are per process and in memory, in fixed windows that open at a client's first
failure. Memory is bounded: past `remembered` clients, the windows already over go first, then
the oldest ones.
"""

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, final

# How many addresses (and, apart, prefixes) are counted at once.
REMEMBERED: Final = 10_000


@final
class Blocked:
    """Why a client is refused lookups: the address or prefix over its count, and for how long."""

    __slots__ = ("client", "retry_after")

    def __init__(self, client: str, retry_after: int) -> None:
        self.client = client
        self.retry_after = retry_after


@final
class _Window:
    __slots__ = ("count", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.count = 0


@final
class _Counter:
    """Failures per client within windows of `window` seconds, for at most `remembered`."""

    __slots__ = ("_remembered", "_window", "_windows", "limit")

    def __init__(self, limit: int, window: float, remembered: int) -> None:
        self.limit = limit
        self._window = window
        self._remembered = remembered
        # In the order the windows opened: the first one ends first.
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def failed(self, client: str, now: float) -> None:
        windows = self._windows
        current = windows.get(client)
        if current is None:
            if len(windows) >= self._remembered:
                self._forget(now)
            current = windows[client] = _Window(now)
        elif now - current.start >= self._window:
            current.start, current.count = now, 0
            windows.move_to_end(client)  # reopened: it ends last
        current.count += 1

    def retry_after(self, client: str, now: float) -> int:
        """Seconds until `client` may have keys looked up again; 0 when it may now."""
        current = self._windows.get(client)
        if current is None or current.count < self.limit:
            return 0
        left = current.start + self._window - now
        return max(1, math.ceil(left)) if left > 0 else 0

    def _forget(self, now: float) -> None:
        """Drop the windows over, or else the oldest one, to make room for one more client."""
        windows = self._windows
        while windows:
            client, oldest = next(iter(windows.items()))
            if now - oldest.start < self._window:
                break
            del windows[client]
        if len(windows) >= self._remembered:
            windows.popitem(last=False)

    def __len__(self) -> int:
        return len(self._windows)


def prefix_of(address: str) -> str:
    """The network `address` belongs to: its /24 for IPv4 (an IPv4-mapped IPv6 address too),
    its /64 for IPv6; anything else (a Unix socket's empty name) stands for itself."""
    if ":" not in address:
        head, dot, _ = address.rpartition(".")
        return f"{head}.0/24" if dot else address
    try:
        parsed = ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return address
    mapped = parsed.ipv4_mapped
    if mapped is not None:
        return prefix_of(str(mapped))
    network = ipaddress.IPv6Network((int(parsed) >> 64 << 64, 64))
    return str(network)


@final
class FailedKeys:
    """Unknown or invalid keys per client address and per network prefix (a limit of 0 turns
    that count off): `failed` counts one, `blocked` says whether a lookup is refused."""

    __slots__ = ("_addresses", "_clock", "_prefixes")

    def __init__(
        self,
        per_address: int,
        per_prefix: int,
        window: float,
        *,
        remembered: int = REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = _Counter(per_address, window, remembered)
        self._prefixes = _Counter(per_prefix, window, remembered)
        self._clock = clock

    @property
    def active(self) -> bool:
        return self._addresses.limit > 0 or self._prefixes.limit > 0

    def failed(self, address: str) -> None:
        """Count one unknown or invalid key presented from `address`."""
        now = self._clock()
        if self._addresses.limit > 0:
            self._addresses.failed(address, now)
        if self._prefixes.limit > 0:
            self._prefixes.failed(prefix_of(address), now)

    def blocked(self, address: str) -> Blocked | None:
        """Why `address` may not have a key looked up now, or None when it may."""
        now = self._clock()
        if self._addresses.limit > 0:
            wait = self._addresses.retry_after(address, now)
            if wait:
                return Blocked(address, wait)
        if self._prefixes.limit > 0:
            prefix = prefix_of(address)
            wait = self._prefixes.retry_after(prefix, now)
            if wait:
                return Blocked(prefix, wait)
        return None

    def counted(self) -> tuple[int, int]:
        """How many addresses and prefixes are being counted now."""
        return len(self._addresses), len(self._prefixes)
