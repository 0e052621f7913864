"""Suppliers (vendors), the engines their robots run, and the check of an executor's supplierSecret
(protocol.md §1)."""

from __future__ import annotations

import logging
import re
import secrets
import time

from sqlalchemy import select

from common import audit
from common.db import connection, db
from common.envelope import CONFLICT, ApiError
from node.robots.models import Supplier
from node.robots.runtime import robots_runtime
from node.runtime import runtime
from protocol.codes import BAD_REQUEST, SUPPLIER_AUTH_FAILED
from protocol.secret import matches, sign, split_supplier_secret

log = logging.getLogger(__name__)

CODE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DEFAULT_ENGINES = ["robotframework"]


def add_supplier(
    code: str, name: str, engines: list[str] | None = None, *, actor: str
) -> tuple[Supplier, str]:
    """Register a supplier; returns it and its raw secret (shown once, stored only sealed)."""
    if not CODE_RE.match(code or ""):
        raise ApiError(BAD_REQUEST, "code: 1-64 characters of letters, digits, . _ -")
    if db.session.get(Supplier, code) is not None:
        raise ApiError(CONFLICT, f"code: supplier {code!r} already exists", 409)
    raw = secrets.token_urlsafe(32)
    sup = Supplier(
        code=code,
        name=(name or code)[:128],
        secret_sealed=runtime().box.seal(raw),
        engines=list(engines or DEFAULT_ENGINES),
        enabled=True,
    )
    db.session.add(sup)
    audit.record(
        "supplier.add",
        target=f"supplier:{code}",
        detail={"name": sup.name, "engines": sup.engines},
        actor=actor,
    )
    db.session.commit()
    robots_runtime().engines.forget()
    log.info("Supplier %s: added (engines %s)", code, ",".join(sup.engines))
    return sup, raw


def list_suppliers() -> list[Supplier]:
    """Every supplier, by code."""
    return list(db.session.scalars(select(Supplier).order_by(Supplier.code)))


def verify_supplier_secret(robot_id: str, supplier_code: str, value: str) -> Supplier:
    """Check ``{ts}.{nonce}.{sig}`` for this robot and supplier; refuse skew and replayed nonces.

    Raises ApiError 10002 (401) with a reason that does not leak the secret.
    """
    rt = runtime()
    sup = db.session.get(Supplier, supplier_code)
    if sup is None or not sup.enabled:
        raise ApiError(SUPPLIER_AUTH_FAILED, "supplierCode: unknown or disabled supplier", 401)
    parts = split_supplier_secret(value)
    if parts is None:
        raise ApiError(SUPPLIER_AUTH_FAILED, "supplierSecret: expected '{ts}.{nonce}.{sig}'", 401)
    ts, nonce, sig = parts
    if abs(time.time() - ts) > rt.config.secret_max_skew:
        raise ApiError(SUPPLIER_AUTH_FAILED, "supplierSecret: timestamp too far from the node's clock", 401)
    expected = sign(robot_id, supplier_code, ts, nonce, rt.box.open(sup.secret_sealed))
    if not matches(expected, sig):
        raise ApiError(SUPPLIER_AUTH_FAILED, "supplierSecret: signature does not match", 401)
    if not rt.redis.set(f"rpa:nonce:{supplier_code}:{nonce}", 1, nx=True, ex=rt.config.nonce_ttl):
        raise ApiError(SUPPLIER_AUTH_FAILED, "supplierSecret: nonce already used (replay)", 401)
    return sup


def engines_by_supplier() -> dict[str, set[str]]:
    """Engines each enabled supplier's robots run (kept a few seconds; see ``EnginesCache``)."""
    cache = robots_runtime().engines
    hit = cache.fresh()
    if hit is not None:
        return hit
    # the caller's connection: a writer inside its unit of work must not take a second one
    rows = connection().execute(select(Supplier.code, Supplier.engines).where(Supplier.enabled))
    return cache.keep({code: set(engines or []) for code, engines in rows})
