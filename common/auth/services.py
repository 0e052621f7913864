"""Account services: create users, check passwords, issue and resolve API tokens."""

from __future__ import annotations

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash, generate_password_hash

from common import audit
from common.auth.models import ApiToken, User
from common.auth.permissions import ROLES
from common.auth.throttle import throttle
from common.crypto import token_digest
from common.db import db
from common.timeutil import utcnow

log = logging.getLogger(__name__)

USERNAME_RE = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
TOKEN_TTL = timedelta(hours=12)
# scrypt is memory-hard; werkzeug's default parameters (n=2**15) cost ~50 ms per check.
PASSWORD_METHOD = "scrypt"
# A fixed hash to compare against when the user does not exist, so timing does not reveal names.
_DUMMY_HASH = generate_password_hash("not-a-user", method=PASSWORD_METHOD)


class AuthError(Exception):
    """Bad credentials or a bad account request; the message is safe to show."""


def create_user(username: str, password: str, role: str = "viewer", *, actor: str = "system") -> User:
    """Create a user with a scrypt password hash; audited."""
    if not USERNAME_RE.match(username or ""):
        raise AuthError("username: 2-64 characters of letters, digits, . _ -")
    if len(password or "") < 8:
        raise AuthError("password: at least 8 characters")
    if role not in ROLES:
        raise AuthError(f"role: one of {', '.join(sorted(ROLES))}")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AuthError(f"username: {username!r} already exists")
    user = User(
        username=username, password_hash=generate_password_hash(password, method=PASSWORD_METHOD), role=role
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", target=f"user:{username}", detail={"role": role}, actor=actor)
    db.session.commit()
    log.info("User %s: created with role %s", username, role)
    return user


def authenticate(username: str, password: str, address: str = "local") -> User:
    """Return the active user whose password matches, else raise AuthError; Throttled (before the
    password is checked) after too many failures for the account or from ``address``. A failure
    that starts a throttle is audited."""
    guard = throttle()
    guard.check(username, address)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
    elif check_password_hash(user.password_hash, password or "") and user.active:
        guard.succeeded(username)
        return user
    if guard.failed(username, address):
        audit.record(
            "auth.throttled",
            target=f"user:{username[:64]}",
            detail={"address": address},
            actor=f"address:{address}",
        )
        db.session.commit()
        log.warning("Sign-in: throttling account %r / address %s after repeated failures", username, address)
    raise AuthError("wrong username or password")


def issue_token(user: User) -> tuple[str, datetime]:
    """Issue a bearer token for ``user``; the token itself is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + TOKEN_TTL
    db.session.execute(delete(ApiToken).where(ApiToken.expires_at < utcnow()))
    db.session.add(ApiToken(digest=token_digest(token), user_id=user.id, expires_at=expires))
    audit.record("auth.token", target=f"user:{user.username}", actor=f"user:{user.username}")
    db.session.commit()
    return token, expires


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the views need it (no database row attached)."""

    id: int
    username: str
    role: str


# Bearer-token lookups cost two queries; a short-lived cache keeps them off every API call.
# A revoked or expired token stops working within TOKEN_CACHE_SECONDS.
TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_SIZE = 10_000


class TokenCache(dict[str, tuple[float, Principal, datetime]]):
    """token digest → (read at, principal, expires at): one per app (``common.auth.init_app``)."""


def user_for_token(token: str) -> Principal | None:
    """The active user a bearer token belongs to, or None if unknown or expired."""
    cache: TokenCache = current_app.extensions["rpa.auth"]
    digest = token_digest(token)
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and now - hit[0] < TOKEN_CACHE_SECONDS and hit[2] > utcnow():
        return hit[1]
    row = db.session.scalar(select(ApiToken).where(ApiToken.digest == digest))
    if row is None or row.expires_at < utcnow():
        return None
    user = db.session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    principal = principal_of(user)
    if len(cache) > TOKEN_CACHE_SIZE:
        cache.clear()
    cache[digest] = (now, principal, row.expires_at)
    return principal


def principal_of(user: User) -> Principal:
    """The caller as views need it, from a user row."""
    return Principal(user.id, user.username, user.role)


def ensure_admin(password: str) -> bool:
    """Create user ``admin`` with ``password`` if no admin exists yet. Returns True if created."""
    if db.session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None:
        return False
    create_user("admin", password, "admin")
    return True
