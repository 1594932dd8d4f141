"""Sealing secrets keyward must be able to read back (a connector's key, its webhook secret).

Keys are otherwise stored only as hashes; a connector needs the plaintext to deliver it, so
that one copy is encrypted with the server secret (Fernet: AES-128-CBC with HMAC-SHA256) under
a key derived from it with HKDF, and opened only at delivery.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"keyward connector sealing v1"


class SealBroken(Exception):
    """The sealed value was made with another server secret, or was tampered with."""


class Sealer:
    def __init__(self, server_secret: bytes) -> None:
        if len(server_secret) < 16:
            raise ValueError("the server secret must be at least 16 bytes")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            server_secret
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(sealed).decode("utf-8")
        except InvalidToken:
            raise SealBroken(
                "a sealed secret cannot be opened: the server secret changed or it was altered"
            ) from None
