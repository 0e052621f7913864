"""The supplier secret of the protocol (protocol.md §1): never the raw secret on the wire."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time


def sign(robot_id: str, supplier_code: str, ts: int, nonce: str, raw_secret: str) -> str:
    """Return base64url (no padding) of HMAC-SHA256 over ``robotId.supplierCode.ts.nonce``."""
    msg = f"{robot_id}.{supplier_code}.{ts}.{nonce}".encode()
    digest = hmac.new(raw_secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_supplier_secret(
    robot_id: str, supplier_code: str, raw_secret: str, *, now: float | None = None, nonce: str | None = None
) -> str:
    """Build the ``{ts}.{nonce}.{sig}`` value an executor sends as ``supplierSecret``.

    A fresh nonce each call: the node refuses a nonce it has seen in the last 600 s.
    """
    ts = int(time.time() if now is None else now)
    nonce = nonce or secrets.token_urlsafe(24)
    return f"{ts}.{nonce}.{sign(robot_id, supplier_code, ts, nonce, raw_secret)}"
