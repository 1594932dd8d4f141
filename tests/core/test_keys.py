"""The key format: shape, checksum, prefix, display start, hash and derived state."""

import hashlib
import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyward.core.keys import (
    BASE62,
    DEFAULT_PREFIX,
    KeyState,
    display_start,
    generate_key,
    hash_key,
    is_well_formed,
    key_prefix,
    key_state,
)

KEY_SHAPE = re.compile(
    r"(?P<prefix>[a-z][a-z0-9]{1,11})_(?P<random>[0-9A-Za-z]{32})(?P<check>[0-9A-Za-z]{6})"
)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _crc32_base62(body: str) -> str:
    """The checksum as the format defines it, computed here independently of keyward."""
    value = zlib.crc32(body.encode("utf-8"))
    digits = []
    for _ in range(6):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def _key(prefix: str, random_part: str) -> str:
    body = f"{prefix}_{random_part}"
    return body + _crc32_base62(body)


RANDOM = "3hK9aZ0qLmN4bY7cXw2VdT5eRu8fSg1H"
VALID = _key("kw", RANDOM)

prefixes: st.SearchStrategy[str] = st.from_regex(r"[a-z][a-z0-9]{1,11}", fullmatch=True)
random_parts: st.SearchStrategy[str] = st.text(alphabet=BASE62, min_size=32, max_size=32)
any_text: st.SearchStrategy[str] = st.text(st.characters(exclude_categories=()), max_size=80)


def test_generated_key_is_prefix_random_part_and_checksum() -> None:
    new = generate_key()
    match = KEY_SHAPE.fullmatch(new.secret)
    assert match is not None
    assert match["prefix"] == DEFAULT_PREFIX == "kw"
    assert len(new.secret) == len("kw_") + 32 + 6
    assert is_well_formed(new.secret)


def test_checksum_is_base62_crc32_of_prefix_and_random_part() -> None:
    secret = generate_key("acme").secret
    body, check = secret[:-6], secret[-6:]
    decoded = 0
    for char in check:
        decoded = decoded * 62 + BASE62.index(char)
    assert decoded == zlib.crc32(body.encode("ascii"))


def test_generated_key_carries_workspace_prefix() -> None:
    secret = generate_key("acme").secret
    assert secret.startswith("acme_")
    assert key_prefix(secret) == "acme"


def test_twelve_character_prefix_makes_a_well_formed_key() -> None:
    secret = generate_key("a" * 12).secret
    assert secret.startswith("a" * 12 + "_")
    assert is_well_formed(secret)


def test_generated_keys_are_unique() -> None:
    keys = [generate_key() for _ in range(2000)]
    assert len({k.secret for k in keys}) == 2000
    assert len({k.secret[3:10] for k in keys}) == 2000
    assert len({k.hash for k in keys}) == 2000


def test_display_start_shows_only_prefix_and_four_characters() -> None:
    assert display_start(VALID) == f"kw_{RANDOM[:4]}…"
    new = generate_key("acme")
    assert new.start == new.secret[: len("acme_") + 4] + "…"
    assert new.secret[len("acme_") + 4 :] not in new.start


def test_hash_key_is_sha256_of_the_secret() -> None:
    assert (
        hash_key("abc").hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    new = generate_key()
    assert new.hash == hashlib.sha256(new.secret.encode()).digest()
    assert hash_key(new.secret) == new.hash


def test_hand_built_key_with_correct_checksum_is_well_formed() -> None:
    assert is_well_formed(VALID)


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (VALID[:-1] + ("A" if VALID[-1] != "A" else "B"), "last checksum character changed"),
        (f"kw_{RANDOM}" + _crc32_base62(f"kw_{RANDOM[::-1]}"), "checksum of another key"),
        (f"kw_{RANDOM}", "no checksum"),
        (_key("kw", RANDOM[:-1]), "random part one character short"),
        (_key("kw", RANDOM + "x"), "random part one character long"),
        (VALID[:-1], "truncated by one character"),
        (_key("kw", RANDOM[:-1] + "-"), "dash outside base62"),
        (_key("kw", RANDOM[:-1] + "+"), "plus outside base62"),
        (_key("kw", RANDOM[:-1] + "é"), "non-ASCII letter in the random part"),
        (_key("kw", RANDOM[:-1] + "７"), "full-width digit in the random part"),
        (_key("KW", RANDOM), "uppercase prefix"),
        (_key("1kw", RANDOM), "prefix starting with a digit"),
        (_key("k", RANDOM), "one-character prefix"),
        (_key("a" * 13, RANDOM), "thirteen-character prefix"),
        (_key("", RANDOM), "empty prefix"),
        (_key("k-w", RANDOM), "dash in the prefix"),
        (_key("kw_x", RANDOM), "underscore in the prefix"),
        ("kw" + RANDOM + _crc32_base62("kw" + RANDOM), "no separator"),
        ("", "empty string"),
        ("_", "separator only"),
        (" " + VALID, "leading space"),
        (VALID + " ", "trailing space"),
        (VALID + "\x00", "trailing NUL"),
        (VALID + "A" * 1000, "valid key followed by more characters"),
        ("kw_" + "A" * 1_000_000, "a megabyte of base62"),
        ("\ud800", "lone surrogate"),
        (VALID[:10] + "\udfff" + VALID[11:], "lone surrogate inside a key"),
    ],
)
def test_malformed_key_is_refused_without_raising(secret: str, why: str) -> None:
    assert is_well_formed(secret) is False, why


def test_key_with_trailing_newline_is_not_well_formed() -> None:
    assert is_well_formed(VALID + "\n") is False


@settings(max_examples=100)
@given(prefix=prefixes)
def test_every_generated_key_is_well_formed(prefix: str) -> None:
    secret = generate_key(prefix).secret
    assert secret.startswith(prefix + "_")
    assert is_well_formed(secret)


@settings(max_examples=300)
@given(
    prefix=prefixes,
    random_part=random_parts,
    position=st.integers(min_value=0),
    replacement=st.sampled_from(BASE62),
)
def test_single_character_change_fails_checksum(
    prefix: str, random_part: str, position: int, replacement: str
) -> None:
    secret = _key(prefix, random_part)
    assert is_well_formed(secret)
    position %= len(secret)
    if secret[position] == replacement:
        replacement = BASE62[(BASE62.index(replacement) + 1) % len(BASE62)]
    changed = secret[:position] + replacement + secret[position + 1 :]
    assert is_well_formed(changed) is False


@settings(max_examples=300)
@given(
    text=st.one_of(
        any_text,
        any_text.map(lambda t: VALID + t),
        any_text.map(lambda t: t + VALID),
        st.tuples(st.integers(0, len(VALID)), any_text).map(
            lambda p: VALID[: p[0]] + p[1] + VALID[p[0] :]
        ),
    )
)
def test_arbitrary_text_never_raises(text: str) -> None:
    assert isinstance(is_well_formed(text), bool)


@pytest.mark.parametrize(
    "prefix", ["", "k", "K", "Kw", "1kw", "kw_", "k-w", "k w", "kw ", "ké", "a" * 13]
)
def test_generate_key_refuses_invalid_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid key prefix"):
        generate_key(prefix)


def test_generate_key_refuses_prefix_with_trailing_newline() -> None:
    with pytest.raises(ValueError, match="invalid key prefix"):
        generate_key("kw\n")


@pytest.mark.parametrize(
    ("revoked", "expires_at", "expected"),
    [
        (False, None, KeyState.ACTIVE),
        (False, NOW + timedelta(microseconds=1), KeyState.ACTIVE),
        (False, NOW, KeyState.EXPIRED),
        (False, NOW - timedelta(days=1), KeyState.EXPIRED),
        (True, None, KeyState.REVOKED),
        (True, NOW + timedelta(days=1), KeyState.REVOKED),
        (True, NOW - timedelta(days=1), KeyState.REVOKED),
    ],
)
def test_key_state_revoked_beats_expired_and_expiry_is_inclusive(
    revoked: bool, expires_at: datetime | None, expected: KeyState
) -> None:
    assert key_state(revoked, expires_at, NOW) is expected
