"""The key format: generation, offline shape and checksum checks, hashing, display start.

A key reads `<prefix>_<32 base62 random chars><6 base62 chars of CRC32>`, e.g.
`kw_3hK9…`. 32 base62 characters carry 190.5 bits of randomness. The CRC32 covers
`<prefix>_<random>` so a mistyped or truncated key is refused without touching storage, and
secret scanners can recognise keyward keys with few false positives.
"""

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
START_LENGTH = 4
MAX_KEY_LENGTH = 12 + 1 + RANDOM_LENGTH + CHECKSUM_LENGTH

PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,11}\Z")
_KEY_PATTERN = re.compile(
    rf"^([a-z][a-z0-9]{{1,11}})_([0-9A-Za-z]{{{RANDOM_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})\Z"
)
DEFAULT_PREFIX = "kw"


def _base62(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        chars.append(BASE62[digit])
    return "".join(reversed(chars))


def checksum(body: str) -> str:
    """Six base62 characters of the CRC32 of `body` (62**6 > 2**32, so no information is lost)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def validate_prefix(prefix: str) -> bool:
    return PREFIX_PATTERN.match(prefix) is not None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key. `secret` must leave the process exactly once."""

    secret: str
    hash: bytes
    start: str


def generate_key(prefix: str = DEFAULT_PREFIX) -> NewKey:
    if not validate_prefix(prefix):
        raise ValueError(f"invalid key prefix {prefix!r}")
    body = f"{prefix}_{''.join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))}"
    secret = body + checksum(body)
    return NewKey(secret=secret, hash=hash_key(secret), start=display_start(secret))


def is_well_formed(secret: str) -> bool:
    """Whether `secret` has the shape and checksum of a keyward key. Touches no storage."""
    if len(secret) > MAX_KEY_LENGTH:
        return False
    match = _KEY_PATTERN.match(secret)
    if match is None:
        return False
    prefix, random_part, check = match.groups()
    return secrets.compare_digest(check, checksum(f"{prefix}_{random_part}"))


def key_prefix(secret: str) -> str:
    """The prefix of a well-formed key (the part before the last `_`)."""
    return secret.rpartition("_")[0]


def hash_key(secret: str) -> bytes:
    """SHA-256 of the key: the only form in which a key is stored."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def display_start(secret: str) -> str:
    """What a person sees of a key after creation: `kw_AbCd…`."""
    prefix, _, rest = secret.rpartition("_")
    return f"{prefix}_{rest[:START_LENGTH]}…"


class KeyKind(StrEnum):
    ACCOUNT = "account"  # calls keyward's management API
    ACQUISITION = "acquisition"  # consumes an acquired API through the gateway


class KeyState(StrEnum):
    PENDING = "pending"  # issued, awaiting an approver's decision
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def key_state(
    revoked: bool, expires_at: datetime | None, now: datetime, *, awaiting_approval: bool = False
) -> KeyState:
    """Expired is derived from the clock; revoked is final."""
    if revoked:
        return KeyState.REVOKED
    if awaiting_approval:
        return KeyState.PENDING
    if expires_at is not None and expires_at <= now:
        return KeyState.EXPIRED
    return KeyState.ACTIVE
