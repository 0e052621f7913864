"""Process tuning for a server holding thousands of sockets: garbage collector, open files, TCP.

Measured (bench/hub_capacity.py): with 2,500–5,000 executors a node's full (generation 2) collections
scanned 0.5–0.9 million long-lived objects — connection state, not garbage — and paused the process
for 0.4–1 s every few seconds, which was the whole p99. The policy here moves survivors into the
permanent generation every ``freeze_interval`` seconds, so a regular full collection only scans what
was created since, and runs a real full collection (``gc.unfreeze(); gc.collect()``) once every
``full_interval`` seconds to reclaim cyclic garbage among long-lived objects.

At 10,000 executors some 17,000 objects a second outlive the young generations; with a 30 s freeze
the unfrozen set reached 500,000 between freezes and full collections paused 0.1–0.48 s every 3–4 s
(gc trace, bench/diag). Freezing every second keeps it small (pauses ≈ 20 ms). ``gc.collect(0)``
before a freeze is cheap; ``gc.collect(1)`` there cost 7 % of the CPU at that load. The price: a
cycle that becomes garbage after being frozen waits for the next full collection (hourly, which at
10,000 executors is itself a pause of about half a second).
"""

from __future__ import annotations

import gc
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterable

import gevent

log = logging.getLogger(__name__)


class GcPolicy:
    """A greenlet applying the freeze/full-collection policy."""

    def __init__(self, freeze_interval: float = 1.0, full_interval: float = 3600.0) -> None:
        self.freeze_interval = freeze_interval
        self.full_interval = full_interval
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            gc.collect()
            gc.freeze()  # everything imported and built at start-up
            self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        last_full = time.monotonic()
        while True:
            gevent.sleep(self.freeze_interval)
            if time.monotonic() - last_full >= self.full_interval:
                started = time.perf_counter()
                gc.unfreeze()
                freed = gc.collect()
                gc.freeze()
                last_full = time.monotonic()
                log.info(
                    "GC: full collection freed %d objects in %.0f ms",
                    freed,
                    (time.perf_counter() - started) * 1000,
                )
            else:
                gc.collect(0)  # the youngest cycles first (cheap: at most a few hundred objects)
                gc.freeze()

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise this process's open-files limit (soft, and hard when privileged); return the soft limit.

    One descriptor per executor (``rpa/serve.py`` stops simple-websocket's dup), plus the
    database, log files and API clients: 10,000 executors need more than the usual 1,024.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, wanted)
    for new in ((target, max(hard, target)), (min(target, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, new)
            return new[0]
        except (ValueError, OSError):
            continue
    return soft


def set_nodelay(sock: socket.socket) -> None:
    """Send small answers at once: without TCP_NODELAY a keep-alive client's delayed ACK costs ~40 ms
    when a response goes out as headers and body in two writes."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


def nodelay_first(wsgi_app: Callable) -> Callable:
    """WSGI middleware for gunicorn: TCP_NODELAY on the request's socket before it is handled.

    Without it a frame written while the previous one is unacknowledged waits for the client's
    delayed ACK (~40 ms): every Execute on a WebSocket (whose request lasts the whole connection)
    and the second write of an answer sent as headers, then body. (``rpa node run`` sets it on
    accept instead.)"""

    def app_with_nodelay(environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            set_nodelay(sock)
        return wsgi_app(environ, start_response)

    return app_with_nodelay
