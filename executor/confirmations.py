"""When a report sent over WebSocket counts as delivered.

The standard's WebSocket binding answers nothing to ReportLogs or ReportFinish, and a successful
socket write proves nothing: the node may die, or refuse the frame for a passing reason, with the
bytes in its buffers. So each heartbeat carries a ``confirm`` token (an extension), and the node
answers ``Confirm {token}`` once it has handled every frame sent before that heartbeat (committed,
or refused for good). Reports written before a confirmed heartbeat leave the spool; the others are
sent again after a reconnect.

A node that does not know the extension never answers. When a connection has had no Confirm at all
for ``fallback_after`` seconds since its first token, the executor falls back to the old rule (a
later heartbeat written on the same connection counts), and logs that once per connection.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Confirmations:
    """Tokens of heartbeats sent on each connection generation, and what they vouch for."""

    def __init__(self, fallback_after: float) -> None:
        self.fallback_after = fallback_after
        self._lock = threading.Lock()
        self._seq = 0
        self._tokens: dict[str, tuple[int, float]] = {}  # token -> (generation, written before)
        self._first_sent: dict[int, float] = {}  # generation -> when its first token was sent
        self._confirming: set[int] = set()  # generations whose node answered a Confirm
        self._fallback: set[int] = set()  # generations of a node that does not confirm

    def token(self, generation: int, before: float) -> str:
        """A token for a heartbeat about to be written on ``generation`` at monotonic ``before``."""
        with self._lock:
            self._seq += 1
            token = f"c{generation}-{self._seq}"
            self._tokens = {k: v for k, v in self._tokens.items() if v[0] >= generation}
            self._tokens[token] = (generation, before)
            self._first_sent.setdefault(generation, before)
            return token

    def confirmed(self, token: object) -> tuple[int, float] | None:
        """The node answered ``Confirm {token}``: (generation, before) to acknowledge, or None."""
        with self._lock:
            hit = self._tokens.pop(token, None) if isinstance(token, str) else None
            if hit is None:
                return None
            generation, before = hit
            self._confirming.add(generation)
            self._tokens = {
                k: v for k, v in self._tokens.items() if not (v[0] == generation and v[1] <= before)
            }
            return hit

    def written(self, generation: int, before: float) -> float | None:
        """A heartbeat written at ``before`` on ``generation`` succeeded. Returns the time up to
        which writes count as delivered under the fallback rule, or None (wait for Confirm)."""
        with self._lock:
            if generation in self._confirming:
                return None
            if generation not in self._fallback:
                first = self._first_sent.get(generation)
                if first is None or time.monotonic() - first < self.fallback_after:
                    return None
                self._fallback.add(generation)
                log.warning(
                    "The node answers no Confirm: reports count as delivered once a later heartbeat "
                    "is written (a node crash can lose the last ones)"
                )
            return before
