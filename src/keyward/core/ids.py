"""Prefixed, opaque, time-ordered identifiers (`key_01jd…`)."""

import os
import re
import threading
import time

from keyward.core.keys import is_well_formed

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH = 26
ID_REGEX = r"^([a-z]{2,5})_([0-9a-hjkmnp-tv-z]{26})$"
_ID_PATTERN = re.compile(ID_REGEX.removesuffix("$") + r"\Z")

PREFIXES = frozenset(
    {
        "ws",
        "mem",
        "org",
        "key",
        "evt",
        "api",
        "ver",
        "off",
        "acq",
        "req",
        "con",
        "dlv",
        "msg",
        "kreq",
        "whk",
        "ntf",
        "ses",
        "lgn",
        "pwl",
        "gw",
    }
)


_last = 0
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    """A new id: the prefix, `_`, then 48 bits of milliseconds and 80 random bits in base32.

    Ids sort by creation time, which keeps cursor pagination and the audit log in order; within
    one process they are strictly increasing even inside the same millisecond.
    """
    global _last
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    fresh = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    with _lock:
        value = _last = max(fresh, _last + 1)
    chars = []
    for _ in range(_BODY_LENGTH):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"


def quote(value: str, limit: int = 64) -> str:
    """A user-supplied id, safe to put in a message: escaped, and cut short when too long.
    A key's secret pasted where its id belongs is never repeated: errors get logged."""
    if is_well_formed(value):
        return "(a key's secret, not an id)"
    return repr(value if len(value) <= limit else value[:limit] + "…")


def looks_like_id(value: str) -> bool:
    """Whether `value` has the shape of an id of any kind."""
    return _ID_PATTERN.match(value) is not None


def is_id(value: str, prefix: str) -> bool:
    """Whether `value` has the exact shape of an id with this prefix (no database needed)."""
    match = _ID_PATTERN.match(value)
    return match is not None and match.group(1) == prefix
