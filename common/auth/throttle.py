"""Sign-in throttling, per account and per client address (the ``limits`` library: a moving window
in Redis in production, in memory in embedded mode).

Only failed sign-ins count. An account with ``ACCOUNT_LIMIT`` failures in the window, or an address
with ``ADDRESS_LIMIT``, is refused — before its password is even checked — until the window frees a
slot; the caller answers 429 with ``Retry-After``. A successful sign-in clears the account's count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

KEY = "rpa.throttle"
ACCOUNT_LIMIT = parse("5 per 5 minutes")  # guessing one account's password
ADDRESS_LIMIT = parse("30 per 5 minutes")  # one client trying many accounts


class Throttled(Exception):
    """Too many failed sign-ins; ``retry_after`` seconds until the next attempt is heard."""

    def __init__(self, retry_after: int, who: str) -> None:
        super().__init__(f"too many failed sign-ins for {who}; try again in {retry_after} s")
        self.retry_after = retry_after
        self.who = who


@dataclass
class SignInThrottle:
    limiter: MovingWindowRateLimiter

    def _wait(self, item, *identifiers: str) -> int:
        stats = self.limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    def check(self, username: str, address: str) -> None:
        """Throttled if the account or the address has used up its failures."""
        if not self.limiter.test(ACCOUNT_LIMIT, "account", username.lower()):
            raise Throttled(self._wait(ACCOUNT_LIMIT, "account", username.lower()), f"account {username!r}")
        if not self.limiter.test(ADDRESS_LIMIT, "address", address):
            raise Throttled(self._wait(ADDRESS_LIMIT, "address", address), f"address {address}")

    def failed(self, username: str, address: str) -> bool:
        """Count a failure; True when this one used up the account's or the address's allowance."""
        account_ok = self.limiter.hit(ACCOUNT_LIMIT, "account", username.lower())
        address_ok = self.limiter.hit(ADDRESS_LIMIT, "address", address)
        account_left = self.limiter.test(ACCOUNT_LIMIT, "account", username.lower())
        address_left = self.limiter.test(ADDRESS_LIMIT, "address", address)
        return not (account_ok and address_ok and account_left and address_left)

    def succeeded(self, username: str) -> None:
        """A right password clears the account's failures (the address keeps its count)."""
        self.limiter.clear(ACCOUNT_LIMIT, "account", username.lower())


def init_app(app, redis_url: str) -> None:
    """Give ``app`` its own throttle: Redis (shared by every process of the tier) or memory."""
    storage = storage_from_string(redis_url if redis_url else "memory://")
    app.extensions[KEY] = SignInThrottle(MovingWindowRateLimiter(storage))


def throttle() -> SignInThrottle:
    """The current app's sign-in throttle."""
    return current_app.extensions[KEY]
