"""Sealing secrets keyward must be able to read back (a connector's key, a webhook secret).

Keys are otherwise stored only as hashes; a connector needs the plaintext to deliver it, so that
one copy is encrypted and opened only at delivery. A sealed value is

    b"kw2." + key id + b"." + nonce (12 bytes) + AES-256-GCM ciphertext and tag

under a key derived with HKDF from one server secret of the keyring, the key id saying which.
The associated data is the value's place, its table, row id and column (`place`): a sealed
value copied into another row, or into another column of its own row, does not open. The
keyring's first secret seals; every secret opens, so a rotated-out secret keeps opening what it
sealed until everything is sealed again under the new one.

Values sealed before (Fernet, AES-128-CBC with HMAC-SHA256, no key id, not bound to a place)
still open with any secret of the keyring, and are sealed again by `keyward secrets reseal`.
"""

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = b"kw2."
_NONCE_BYTES = 12
_LEGACY_PURPOSE = b"keyward connector sealing v1"
_PURPOSE = b"keyward sealing v2"
_KEY_ID_PURPOSE = b"keyward sealing key id"
LEGACY = "fernet"
"""What `key_id` says of a value sealed before key ids existed."""


class SealBroken(Exception):
    """The sealed value was made with a secret the keyring lacks, for another place, or was
    altered."""


def place(table: str, row_id: str, column: str) -> str:
    """Where a sealed value is kept, as its associated data."""
    return f"{table}/{row_id}/{column}"


def _derive(secret: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret)


def key_id(secret: bytes) -> str:
    """The public id of a server secret: 12 hex digits derived from it (not the secret)."""
    return _derive(secret, _KEY_ID_PURPOSE, 6).hex()


@dataclass(frozen=True, slots=True)
class _Key:
    id: str
    aead: AESGCM
    legacy: Fernet


class Sealer:
    """Seals with the first secret of `secrets`, opens with any of them."""

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("the keyring holds no server secret")
        if any(len(secret) < 16 for secret in secrets):
            raise ValueError("every server secret must be at least 16 bytes")
        self._keys = {
            key.id: key
            for key in (
                _Key(
                    key_id(secret),
                    AESGCM(_derive(secret, _PURPOSE, 32)),
                    Fernet(base64.urlsafe_b64encode(_derive(secret, _LEGACY_PURPOSE, 32))),
                )
                for secret in secrets
            )
        }
        self.current = key_id(secrets[0])
        """The id of the key that seals."""

    @property
    def key_ids(self) -> list[str]:
        """Every key the keyring opens with, the current one first."""
        return list(self._keys)

    def seal(self, plaintext: str, place: str) -> bytes:
        """`plaintext` sealed for `place` (what it is and which row holds it)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current].aead.encrypt(
            nonce, plaintext.encode("utf-8"), place.encode("utf-8")
        )
        return _PREFIX + self.current.encode("ascii") + b"." + nonce + sealed

    def open(self, sealed: bytes, place: str) -> str:
        """The plaintext of a value sealed for `place`; `SealBroken` otherwise."""
        found = key_id_of(sealed)
        if found == LEGACY:
            return self._open_legacy(sealed)
        key = self._keys.get(found or "")
        if key is None:
            raise SealBroken(
                f"a sealed secret was sealed with key {found}, which the keyring does not hold"
            )
        body = sealed[len(_PREFIX) + len(key.id) + 1 :]
        try:
            opened = key.aead.decrypt(
                body[:_NONCE_BYTES], body[_NONCE_BYTES:], place.encode("utf-8")
            )
        except InvalidTag:
            raise SealBroken(
                "a sealed secret cannot be opened here: it belongs to another place or was altered"
            ) from None
        return opened.decode("utf-8")

    def _open_legacy(self, sealed: bytes) -> str:
        for key in self._keys.values():
            try:
                return key.legacy.decrypt(sealed).decode("utf-8")
            except InvalidToken:
                continue
        raise SealBroken(
            "a sealed secret cannot be opened: no server secret of the keyring made it, or it "
            "was altered"
        )


def key_id_of(sealed: bytes) -> str | None:
    """The id of the key that sealed a value, `LEGACY` for one sealed before key ids, or None
    for what is neither."""
    if sealed.startswith(_PREFIX):
        found, dot, _ = sealed[len(_PREFIX) :].partition(b".")
        return found.decode("ascii", "replace") if dot else None
    return LEGACY if sealed.startswith(b"gAAAAA") else None
