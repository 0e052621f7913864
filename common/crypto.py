"""Secrets at rest (Fernet, key derived from the node secret) and keyed hashes of tokens."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretBox", "InvalidToken", "token_digest"]


class SecretBox:
    """Encrypts values stored in the database (supplier secrets, licenses, secret arguments)."""

    def __init__(self, secret_key: str, purpose: str = "at-rest") -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()


def token_digest(token: str) -> str:
    """SHA-256 hex of a bearer token: only the digest is stored."""
    return hashlib.sha256(token.encode()).hexdigest()
