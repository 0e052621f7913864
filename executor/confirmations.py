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
    """Tokens of the heartbeats sent on the current connection generation, and what they vouch for.
    Earlier generations are forgotten: a Confirm from a connection that is gone acknowledges nothing."""

    def __init__(self, fallback_after: float) -> None:
        self.fallback_after = fallback_after
        self._lock = threading.Lock()
        self._seq = 0
        self._generation = -1
        self._tokens: dict[str, float] = {}  # token -> monotonic time before its heartbeat was written
        self._first_sent = 0.0  # when this generation's first token was sent
        self._confirming = False  # this generation's node answered a Confirm
        self._fallback = False  # this generation's node does not confirm

    def token(self, generation: int, before: float) -> str:
        """A token for a heartbeat about to be written on ``generation`` at monotonic ``before``."""
        with self._lock:
            if generation != self._generation:
                self._generation, self._tokens, self._first_sent = generation, {}, before
                self._confirming = self._fallback = False
            self._seq += 1
            token = f"c{generation}-{self._seq}"
            self._tokens[token] = before
            return token

    def confirmed(self, token: object) -> tuple[int, float] | None:
        """The node answered ``Confirm {token}``: (generation, before) to acknowledge, or None."""
        with self._lock:
            before = self._tokens.pop(token, None) if isinstance(token, str) else None
            if before is None:
                return None
            self._confirming = True
            self._tokens = {k: v for k, v in self._tokens.items() if v > before}  # older ones are covered
            return self._generation, before

    def written(self, generation: int, before: float) -> float | None:
        """A heartbeat written at ``before`` on ``generation`` succeeded. Returns the time up to
        which writes count as delivered under the fallback rule, or None (wait for Confirm)."""
        with self._lock:
            if generation != self._generation or self._confirming:
                return None
            if not self._fallback:
                if time.monotonic() - self._first_sent < self.fallback_after:
                    return None
                self._fallback = True
                log.warning(
                    "The node answers no Confirm: reports count as delivered once a later heartbeat "
                    "is written (a node crash can lose the last ones)"
                )
            return before
