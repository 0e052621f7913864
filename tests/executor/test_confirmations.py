"""When a report sent over WebSocket counts as delivered: the Confirm extension and its fallback."""

from __future__ import annotations

import threading
import time

from executor.confirmations import Confirmations
from executor.sdk.ws import WsTransport


def test_a_confirm_vouches_for_its_generation_and_turns_the_fallback_off():
    c = Confirmations(fallback_after=0.0)
    first = c.token(1, 10.0)
    second = c.token(1, 20.0)
    assert c.confirmed("unknown") is None and c.confirmed(None) is None
    assert c.confirmed(second) == (1, 20.0)
    assert c.confirmed(first) is None  # an older token of the same generation is covered by it
    # This node confirms: a written heartbeat never counts by itself, however long we wait.
    c.token(1, 30.0)
    assert c.written(1, 30.0) is None


def test_a_node_that_never_confirms_falls_back_after_the_wait():
    c = Confirmations(fallback_after=0.2)
    c.token(3, time.monotonic())
    assert c.written(3, 1.0) is None  # too early to give up on Confirm
    time.sleep(0.25)
    c.token(3, time.monotonic())
    assert c.written(3, 2.0) == 2.0  # the old rule: writes before this heartbeat count
    assert c.written(3, 3.0) == 3.0


def test_tokens_of_an_older_connection_are_forgotten():
    c = Confirmations(fallback_after=60)
    old = c.token(1, 5.0)
    c.token(2, 6.0)
    assert c.confirmed(old) is None  # a Confirm of a connection that is gone acknowledges nothing


def test_nothing_counts_as_sent_on_a_connection_that_is_still_registering(fake_node):
    """During Register, the transport is already on its new generation and not yet ``connected``:
    a report written meanwhile can't be mistaken for one written on the old connection."""
    t = WsTransport(fake_node.url, "robot-c", "ACME", "s3cret", register_wait=0.6)
    seen: list[tuple[bool, int]] = []

    def watch() -> None:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if t._ws is not None:  # the new socket exists: Register is in flight
                seen.append((t.connected, t.generation))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    t.connect()
    watcher.join()
    assert seen, "the watcher never saw the connection being set up"
    assert all(connected is False and gen == 1 for connected, gen in seen[:-1])
    assert t.connected and t.generation == 1
    t.connect()  # a reconnect moves to the next generation
    assert t.generation == 2
    t.close()
