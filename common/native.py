"""Run a call that releases the GIL (a database driver's C work) in gevent's native thread pool.

Under gevent the whole server is one OS thread: a long SQLite statement stalls every connection and
leaves the second core idle. Handing the call to a native thread lets the loop go on parsing and
answering meanwhile. Only for calls that run in C with the GIL released (sqlite3's statement steps
and COMMIT): Python work in a native thread would compete with the loop for the GIL instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import gevent
from gevent import monkey

T = TypeVar("T")


def in_native_thread(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in gevent's thread pool, the calling greenlet waiting; inline when the process
    is not gevent's (a CLI command or a plain test).

    The caller must own what ``fn`` touches (a checked-out connection) until it returns. If the
    waiting greenlet is killed, the call still finishes before the kill goes on, so the connection
    is never used by two threads at once.
    """
    if not monkey.is_module_patched("threading"):
        return fn(*args)
    result = gevent.get_hub().threadpool.spawn(fn, *args)
    try:
        return result.get()
    except BaseException:
        if not result.ready():
            result.wait()
        raise
