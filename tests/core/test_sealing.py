"""Sealed secrets: bound to their place, named by their key, opened by any key of the keyring,
and the values sealed before key ids still open."""

import base64

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

from keyward.core.sealing import LEGACY, SealBroken, Sealer, key_id, key_id_of, place

OLD = b"the old server secret, long enough"
NEW = b"the new server secret, long enough"
HERE = place("connectors", "con_1", "sealed_key")


@given(st.text())
def test_what_is_sealed_opens_in_its_place(plaintext: str) -> None:
    sealer = Sealer([NEW])
    assert sealer.open(sealer.seal(plaintext, HERE), HERE) == plaintext


def test_a_sealed_value_says_its_key_and_never_its_plaintext() -> None:
    sealed = Sealer([NEW]).seal("kw_live_secret", HERE)
    assert key_id_of(sealed) == key_id(NEW) == Sealer([NEW]).current
    assert b"kw_live_secret" not in sealed
    assert key_id(NEW) not in NEW.decode()
    assert len(key_id(NEW)) == 12


@pytest.mark.parametrize(
    "elsewhere",
    [
        place("connectors", "con_2", "sealed_key"),
        place("connectors", "con_1", "sealed_signing_secret"),
        place("webhook_endpoints", "con_1", "sealed_key"),
    ],
    ids=["another row", "another column", "another table"],
)
def test_a_value_copied_to_another_place_does_not_open(elsewhere: str) -> None:
    sealer = Sealer([NEW])
    with pytest.raises(SealBroken, match="another place"):
        sealer.open(sealer.seal("kw_live_secret", HERE), elsewhere)


def test_an_altered_value_does_not_open() -> None:
    sealer = Sealer([NEW])
    sealed = bytearray(sealer.seal("kw_live_secret", HERE))
    sealed[-1] ^= 1
    with pytest.raises(SealBroken):
        sealer.open(bytes(sealed), HERE)


def test_the_first_secret_seals_and_every_secret_opens() -> None:
    before = Sealer([OLD]).seal("sealed long ago", HERE)
    rotated = Sealer([NEW, OLD])
    assert rotated.current == key_id(NEW)
    assert rotated.key_ids == [key_id(NEW), key_id(OLD)]
    assert rotated.open(before, HERE) == "sealed long ago"
    assert key_id_of(rotated.seal("now", HERE)) == key_id(NEW)
    with pytest.raises(SealBroken, match=key_id(OLD)):
        Sealer([NEW]).open(before, HERE)


def _sealed_before_key_ids(secret: bytes, plaintext: str) -> bytes:
    """A value as keyward sealed it before key ids: Fernet under HKDF of the server secret."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"keyward connector sealing v1"
    ).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived)).encrypt(plaintext.encode())


def test_values_sealed_before_key_ids_still_open_with_any_secret() -> None:
    legacy = _sealed_before_key_ids(OLD, "kw_from_before")
    assert key_id_of(legacy) == LEGACY
    assert Sealer([NEW, OLD]).open(legacy, HERE) == "kw_from_before"
    with pytest.raises(SealBroken):
        Sealer([NEW]).open(legacy, HERE)


def test_a_keyring_needs_a_secret_of_enough_length() -> None:
    with pytest.raises(ValueError, match="no server secret"):
        Sealer([])
    with pytest.raises(ValueError, match="16 bytes"):
        Sealer([NEW, b"short"])
