"""Sends spooled reports in order and decides when one counts as delivered.

HTTP: delivered when the node answered 200. WebSocket: the node answers nothing on success, so an
entry written to the socket waits for a heartbeat that was written later on the *same* connection
(TCP keeps order, and a connection that still carries a later frame has carried the earlier ones);
after a reconnect, unconfirmed entries are sent again (at-least-once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from executor.sdk import errors as codes
from executor.sdk import messages as m
from executor.sdk.errors import ConnectionLost, ProtocolError
from executor.sdk.transport import Transport
from executor.spool import Spool

log = logging.getLogger(__name__)

#: Refusals that will never succeed on a retry: the entry is dropped (and logged) so it does not
#: block everything behind it.
DROP_CODES = frozenset({codes.BAD_REQUEST, codes.UNKNOWN_RUN, codes.TOO_LARGE})


class Reporter:
    """Drains a :class:`Spool` through the current transport in a background thread."""

    def __init__(
        self,
        spool: Spool,
        transport: Callable[[], Transport | None],
        on_lost: Callable[[], None],
        interval: float = 0.1,
    ) -> None:
        self.spool = spool
        self._transport = transport
        self._on_lost = on_lost
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._sent: dict[str, tuple[int, float]] = {}  # entry id -> (generation, time written)
        self._thread = threading.Thread(target=self._loop, name="rpa-reporter", daemon=True)
        self.throttled_until = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """Send now rather than at the next tick."""
        self._wake.set()

    def confirm(self, generation: int, before: float) -> None:
        """A heartbeat written at monotonic time ``before`` on connection ``generation`` succeeded."""
        with self._lock:
            done = [k for k, (gen, at) in self._sent.items() if gen == generation and at <= before]
            for entry_id in done:
                del self._sent[entry_id]
        for entry_id in done:
            self.spool.ack(entry_id)

    def unconfirmed(self) -> int:
        with self._lock:
            return len(self._sent)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.drain()
            except Exception:  # a bug here must not silently stop all reporting
                log.exception("Reporter: unexpected error")
                time.sleep(1)

    def drain(self) -> int:
        """Send what is pending on the current connection; returns how many entries were sent."""
        with self._drain_lock:
            return self._drain()

    def _drain(self) -> int:
        t = self._transport()
        if t is None or not t.connected or time.monotonic() < self.throttled_until:
            return 0
        gen = t.generation
        sent = 0
        for entry in self.spool.pending():
            with self._lock:
                prev = self._sent.get(entry.id)
            if prev is not None and prev[0] == gen:
                continue  # written on this connection, waiting for confirmation
            try:
                t.send(entry.action, entry.body)
            except ConnectionLost as exc:
                log.warning("Reporter: connection lost while sending %s: %s", entry.action, exc)
                self._on_lost()
                return sent
            except ProtocolError as exc:
                if exc.code in DROP_CODES:
                    log.error("Reporter: node refused %s %s (%s); dropped", entry.action, entry.id, exc)
                    self.spool.ack(entry.id)
                    continue
                if exc.code == codes.THROTTLED:
                    self.throttled_until = time.monotonic() + 2
                    return sent
                log.warning("Reporter: %s refused (%s); reconnecting", entry.action, exc)
                self._on_lost()
                return sent
            sent += 1
            if entry.action == m.REPORT_FINISH:
                log.info("Run %s: ReportFinish sent", entry.body.get("runInstanceId"))
            if t.protocol == "http":
                self.spool.ack(entry.id)
            else:
                with self._lock:
                    self._sent[entry.id] = (gen, time.monotonic())
        return sent
