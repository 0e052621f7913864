"""The supplier secret (``docs/protocol.md`` §1): the raw secret never travels; an executor sends
``{ts}.{nonce}.{sig}``, the signature being HMAC-SHA256 over ``robotId.supplierCode.ts.nonce``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from protocol.limits import NONCE_MAX, NONCE_MIN

NONCE_RE = re.compile(rf"^[A-Za-z0-9_-]{{{NONCE_MIN},{NONCE_MAX}}}$")


def sign(robot_id: str, supplier_code: str, ts: int, nonce: str, raw_secret: str) -> str:
    """Return base64url (no padding) of HMAC-SHA256 over ``robotId.supplierCode.ts.nonce``."""
    msg = f"{robot_id}.{supplier_code}.{ts}.{nonce}".encode()
    digest = hmac.new(raw_secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_supplier_secret(
    robot_id: str, supplier_code: str, raw_secret: str, *, now: float | None = None, nonce: str | None = None
) -> str:
    """Build the ``{ts}.{nonce}.{sig}`` value an executor sends as ``supplierSecret``.

    A fresh nonce each call: a node refuses a nonce it has seen recently (replay protection).
    """
    ts = int(time.time() if now is None else now)
    nonce = nonce or secrets.token_urlsafe(24)
    return f"{ts}.{nonce}.{sign(robot_id, supplier_code, ts, nonce, raw_secret)}"


def split_supplier_secret(value: str | None) -> tuple[int, str, str] | None:
    """``(ts, nonce, sig)`` of a well-formed ``supplierSecret``, else None."""
    parts = (value or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not NONCE_RE.match(parts[1]):
        return None
    return int(parts[0]), parts[1], parts[2]


def matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())
