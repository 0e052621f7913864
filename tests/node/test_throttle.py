"""Sign-in is throttled per account and per client address: 429 with Retry-After, audited."""

from __future__ import annotations

import re

from sqlalchemy import select

from common.audit import AuditEvent
from common.auth.throttle import ACCOUNT_LIMIT, ADDRESS_LIMIT
from tests.support import ADMIN_PASSWORD


def _token(client, username: str, password: str):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


def test_an_account_is_throttled_after_repeated_failures_even_for_the_right_password(app, client):
    """After the account's allowance of wrong passwords, even the right one waits (429 with
    Retry-After, 10008); the throttle is audited; another account is not affected."""
    for _ in range(ACCOUNT_LIMIT.amount):
        assert _token(client, "admin", "wrong-password").status_code == 401
    r = _token(client, "admin", ADMIN_PASSWORD)
    assert r.status_code == 429 and r.get_json()["resultValue"]["errorCode"] == 10008
    assert 0 < int(r.headers["Retry-After"]) <= ACCOUNT_LIMIT.get_expiry()
    assert r.get_json()["resultHint"].startswith("username:")
    with app.app_context():
        events = (
            app.extensions["sqlalchemy"]
            .session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.throttled"))
            .all()
        )
        assert [e.target for e in events] == ["user:admin"]
    assert _token(client, "someone-else", "x").status_code == 401  # not 429: the account is the key


def test_a_right_password_clears_the_accounts_failures(client):
    """Failures below the allowance are forgotten once the right password is given."""
    for _ in range(ACCOUNT_LIMIT.amount - 1):
        assert _token(client, "admin", "wrong-password").status_code == 401
    assert _token(client, "admin", ADMIN_PASSWORD).status_code == 200
    for _ in range(ACCOUNT_LIMIT.amount - 1):
        assert _token(client, "admin", "wrong-password").status_code == 401
    assert _token(client, "admin", ADMIN_PASSWORD).status_code == 200


def test_one_address_trying_many_accounts_is_throttled(client):
    """A client guessing across accounts meets the address's allowance."""
    for i in range(ADDRESS_LIMIT.amount):
        assert _token(client, f"user{i}", "x").status_code == 401
    r = _token(client, "admin", ADMIN_PASSWORD)
    assert r.status_code == 429 and "address" in r.get_json()["resultHint"]


def test_the_sign_in_form_is_throttled_with_a_message(client):
    """The portal's form says how long to wait, with 429 and Retry-After."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    for _ in range(ACCOUNT_LIMIT.amount):
        r = client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": token})
        assert r.status_code == 401
    r = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert "登录失败次数过多" in r.get_data(as_text=True)
