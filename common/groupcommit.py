"""Group commit: many callers' writes share one transaction, and each caller waits for the commit.

A caller ``submit``s an item and blocks (its greenlet) until the batch holding it is committed, so
its answer still means "durable", while the database sees one transaction per batch instead of one
per request. Batches form by themselves under load: the writer greenlet takes everything queued
when it runs, optionally after a short ``window``; what arrives during a commit forms the next batch.

A batch that raises is rolled back and its items are applied again one by one, so a bad item fails
alone. ``apply`` may also return an exception instance as one item's result: that caller gets it
raised, the others commit (for refusals that are data, not faults).

An item may also ``ride``: queued without waiting and without waking the writer, it goes with the
next batch (or after ``ride_delay``). Records of something already done use it, so they cost no
transaction of their own.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

import gevent
from flask import Flask
from gevent.event import AsyncResult, Event

from common.db import db, unit_of_work
from common.envelope import ApiError
from protocol.codes import THROTTLED

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """One writer greenlet per process and purpose; subclasses write a batch in ``apply``."""

    name = "group commit"

    def __init__(
        self, app: Flask, window: float = 0.0, max_items: int = 1000, ride_delay: float = 0.02
    ) -> None:
        self._app = app
        self._window = window
        self._max_items = max_items
        self._ride_delay = ride_delay
        self._ride_timer = None  # the loop timer that writes riding items nobody else woke for
        self._queue: deque[tuple[Item, AsyncResult]] = deque()
        self._wake = Event()
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = False
        self.batches = 0

    def apply(self, items: Sequence[Item]) -> list[Result | Exception]:
        """Write ``items`` in the batch's transaction (``common.db.connection()``; do not commit);
        one result per item."""
        raise NotImplementedError

    def weight(self, item: Item) -> int:
        """How much of ``max_items`` an item uses (a log message counts its lines)."""
        return 1

    def start(self) -> None:
        """Start the writer greenlet (until then, ``submit`` writes inline)."""
        if self._greenlet is None:
            self._stopping = False
            self._greenlet = gevent.spawn(self._loop)

    def submit(self, item: Item, timeout: float = 30.0) -> Result:
        """Queue ``item``; return its result once its batch is committed (or raise its error)."""
        if self._greenlet is None:  # not started (a CLI or a test without the server): write inline
            return self._unwrap(self._commit([item])[0])
        result = AsyncResult()
        entry = (item, result)
        self._queue.append(entry)
        self._wake.set()
        try:
            return self._unwrap(result.get(timeout=timeout))
        except gevent.Timeout:
            try:
                self._queue.remove(entry)
            except ValueError:  # already in a batch being written: its outcome is on the way
                return self._unwrap(result.get())
            raise ApiError(
                THROTTLED, f"{self.name}: the node is overloaded; nothing was changed, retry", 503
            ) from None

    def ride(self, item: Item) -> AsyncResult:
        """Queue ``item`` without waiting for it and without waking the writer: it is written with
        the next batch, or ``ride_delay`` seconds later if nothing else comes first. For records
        of something already done, whose caller need not wait. The returned result is set once
        the item is written: its value is the item's result, or the exception it failed with."""
        result = AsyncResult()
        if self._greenlet is None:  # not started: write inline, as ``submit`` does
            try:
                result.set(self._commit([item])[0])
            except Exception as exc:
                result.set(exc)
            return result
        self._queue.append((item, result))
        if self._ride_timer is None:
            self._ride_timer = gevent.get_hub().loop.timer(self._ride_delay)
            self._ride_timer.start(self._ride_due)
        return result

    def _ride_due(self) -> None:
        timer, self._ride_timer = self._ride_timer, None
        if timer is not None:
            timer.close()
        if self._queue:
            self._wake.set()

    @staticmethod
    def _unwrap(value: Result | Exception) -> Result:
        if isinstance(value, Exception):
            raise value
        return value

    def _commit(self, items: Sequence[Item]) -> list[Result | Exception]:
        with self._app.app_context():
            try:
                with unit_of_work(db.engine):
                    results = self.apply(items)
            finally:
                db.session.remove()  # a read through the ORM (a cache refilled) used its own
        self.batches += 1
        return results

    def _loop(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            gevent.sleep(self._window)  # 0: let greenlets that are ready now join this batch
            try:
                self.flush()
            except Exception:  # a bug in apply (e.g. a result missing): keep serving the others
                log.exception("%s: flush failed", self.name)

    def flush(self) -> None:
        """Commit everything queued now (also used when draining at shutdown)."""
        while self._queue:
            items, waiters, used = [], [], 0
            while self._queue and used < self._max_items:
                item, result = self._queue.popleft()
                items.append(item)
                waiters.append(result)
                used += self.weight(item)
            try:
                results = self._commit(items)
            except Exception:
                log.warning("%s: a batch of %d failed; applying its items one by one", self.name, len(items))
                self._commit_each(items, waiters)
            else:
                for waiter, value in zip(waiters, results, strict=True):
                    waiter.set(value)

    def _commit_each(self, items: list[Item], waiters: list[AsyncResult]) -> None:
        """Isolate a failure: one bad item fails alone, never the others that shared its batch."""
        for item, waiter in zip(items, waiters, strict=True):
            try:
                waiter.set(self._commit([item])[0])
            except Exception as exc:
                log.exception("%s: an item failed", self.name)
                waiter.set(exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the writer after the batch it is writing (never in the middle of a commit), then
        write what is still queued."""
        self._ride_due()  # no timer left behind; what rides is written by the flush below
        if self._greenlet is not None:
            self._stopping = True
            self._wake.set()
            self._greenlet.join(timeout=timeout)
            if not self._greenlet.dead:
                log.warning("%s: writer did not stop within %.0fs; stopping it", self.name, timeout)
                self._greenlet.kill(block=True, timeout=2)
            self._greenlet = None
        self.flush()
