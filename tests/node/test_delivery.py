"""Inbox delivery over a WebSocket connection: a command is sent once per connection even while the
record of its delivery still rides with the run desk's next batch."""

from __future__ import annotations

import json

import gevent
import pytest
from sqlalchemy import select

from common.db import db
from node.hub.connections import Connection
from node.robots import suppliers
from node.robots.inbox import enqueue_command
from node.robots.models import Robot, RobotCommand
from node.runs import delivery


class SentFrames:
    """Stands in for the socket (not for any of our components): keeps what was sent."""

    def __init__(self) -> None:
        self.frames: list[dict] = []

    def send(self, text: str) -> None:
        out = json.loads(text)
        out["body"] = json.loads(out["body"])  # the body is a JSON string (table A.1)
        self.frames.append(out)

    def close(self, reason: int = 1000, message: str = "") -> None:
        pass


@pytest.fixture
def hub(app):
    with app.app_context():
        suppliers.add_supplier("acme", "Acme", ["robotframework"], actor="test")
        db.session.add(Robot(id="d1", supplier_code="acme", state="enabled", online=True))
        db.session.commit()
        db.session.remove()
    desk, connections = app.extensions["rpa.runs"].desk, app.extensions["rpa.hub"].connections
    desk._ride_delay = 1.0  # long enough that the record is still riding when the test looks
    desk.start()
    ws = SentFrames()
    conn = Connection(connections, "d1", "c1", ws, "http://node")
    connections.add(conn)
    yield app, conn, ws
    desk.stop()


def _enqueue(app, body: dict) -> None:
    with app.app_context():
        enqueue_command("d1", "Stop", None, body)
        db.session.commit()  # the bus wakes the connection after this commit
        db.session.remove()


def _undelivered(app) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(
            select(RobotCommand).where(RobotCommand.robot_id == "d1", RobotCommand.delivered_at.is_(None))
        ).all()
        out = [r.body for r in rows]
        db.session.remove()
        return out


def test_a_command_whose_delivery_is_not_yet_recorded_is_not_sent_again(hub):
    """A second wake-up before the record is written sends only the new command."""
    app, conn, ws = hub
    _enqueue(app, {"runInstanceId": "first"})
    gevent.sleep(0.1)
    assert [f["body"]["runInstanceId"] for f in ws.frames] == ["first"]
    assert _undelivered(app) == [{"runInstanceId": "first"}]  # its record still rides
    _enqueue(app, {"runInstanceId": "second"})  # wakes the connection again before the record is written
    gevent.sleep(0.1)
    assert [f["body"]["runInstanceId"] for f in ws.frames] == ["first", "second"]
    gevent.sleep(1.2)  # the ride delay: both records written, nothing sent again
    assert _undelivered(app) == []
    conn.wake()
    gevent.sleep(0.1)
    assert len(ws.frames) == 2


def test_take_commands_leaves_out_the_skipped_ids_and_still_fills_its_limit(app):
    """Skipped ids do not count against the limit."""
    with app.app_context():
        for n in range(4):
            enqueue_command("d9", "Stop", None, {"n": n})
        db.session.commit()
        ids = [c[0] for c in delivery.take_commands("d9", "http://node", 10)]
        assert len(ids) == 4
        got = delivery.take_commands("d9", "http://node", 2, skip={ids[0], ids[1]})
        assert [c[0] for c in got] == ids[2:]
        got = delivery.take_commands("d9", "http://node", 2, skip={ids[1]})
        assert [c[0] for c in got] == [ids[0], ids[2]]
        db.session.remove()


def test_a_record_that_fails_is_not_sent_again_on_this_connection(hub, monkeypatch, caplog):
    """Fault injection: the run desk fails to write the record. The command stays undelivered in the
    inbox (the next connection gets it again), but this connection, which has sent it, does not."""
    from node.runs import desk as batches

    app, _conn, ws = hub

    def broken(items):
        raise RuntimeError("disk full")

    monkeypatch.setattr(batches, "apply_marks", broken)
    _enqueue(app, {"runInstanceId": "first"})
    gevent.sleep(1.3)  # sent; its record fails after the ride delay
    assert "not recorded" in caplog.text
    assert _undelivered(app) == [{"runInstanceId": "first"}]
    _enqueue(app, {"runInstanceId": "second"})
    gevent.sleep(0.1)
    assert [f["body"]["runInstanceId"] for f in ws.frames] == ["first", "second"]
