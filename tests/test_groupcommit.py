"""The group-commit writer: batches, per-item isolation, timeouts that change nothing, clean stop."""

from __future__ import annotations

import gevent
import pytest

from common.envelope import ApiError
from common.groupcommit import GroupCommit


class Recorder(GroupCommit[str, str]):
    """Applies items by remembering them; "slow" holds the writer, "bad" fails its batch."""

    name = "Recorder"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.applied: list[list[str]] = []

    def apply(self, items):
        if "slow" in items:
            gevent.sleep(0.3)
        if "bad" in items:
            raise RuntimeError("bad item")
        self.applied.append(list(items))
        return [f"ok:{item}" for item in items]


@pytest.fixture
def writer(app):
    rec = Recorder(app)
    rec.start()
    yield rec
    rec.stop()


def test_concurrent_items_share_a_batch_and_a_bad_one_fails_alone(writer):
    jobs = [gevent.spawn(writer.submit, item) for item in ("a", "bad", "c")]
    gevent.joinall(jobs)
    assert jobs[0].value == "ok:a" and jobs[2].value == "ok:c"
    assert isinstance(jobs[1].exception, RuntimeError)
    assert ["a", "bad", "c"] not in writer.applied  # the failed batch was rolled back...
    assert ["a"] in writer.applied and ["c"] in writer.applied  # ...and its good items applied alone


def test_a_timed_out_item_is_withdrawn_and_never_applied(writer):
    slow = gevent.spawn(writer.submit, "slow")
    gevent.sleep(0.05)  # the writer is now inside the slow batch
    with pytest.raises(ApiError) as err:
        writer.submit("late", timeout=0.05)
    assert err.value.status == 503 and "nothing was changed" in err.value.hint
    assert slow.get() == "ok:slow"
    gevent.sleep(0.1)
    assert all("late" not in batch for batch in writer.applied)


def test_stop_waits_for_the_batch_being_written(writer):
    slow = gevent.spawn(writer.submit, "slow")
    gevent.sleep(0.05)
    writer.stop()
    assert slow.dead and slow.value == "ok:slow"


def test_a_riding_item_goes_with_the_next_batch_and_costs_no_commit_of_its_own(writer):
    """A record that rides is written in the transaction of the next item that wakes the writer."""
    riding = writer.ride("mark")
    gevent.sleep(0.005)  # well inside ride_delay: nothing woke the writer
    assert writer.applied == [] and not riding.ready()
    assert writer.submit("start") == "ok:start"
    assert writer.applied == [["mark", "start"]]  # one batch, one transaction
    assert riding.get(timeout=1) == "ok:mark"


def test_a_riding_item_alone_is_written_after_the_ride_delay(writer):
    """Nothing else comes: the ride delay writes it; its failure is its result."""
    riding = writer.ride("mark")
    assert riding.get(timeout=1) == "ok:mark"
    assert writer.applied == [["mark"]]
    bad = writer.ride("bad")
    assert isinstance(bad.get(timeout=1), RuntimeError)  # the failure is the result, not raised


def test_stop_writes_what_still_rides(app):
    """Stopping (SIGTERM drain) writes what still rides before the writer ends."""
    rec = Recorder(app)
    rec.start()
    riding = rec.ride("mark")
    rec.stop()
    assert riding.ready() and riding.value == "ok:mark"
    assert rec.applied == [["mark"]]


def test_a_unit_of_work_runs_its_hooks_after_commit_and_never_after_rollback(app):
    """Bus notifications (hooks) follow a commit, never a rollback."""
    from sqlalchemy import text

    from common.db import connection, db, on_commit, unit_of_work

    seen: list[str] = []
    with app.app_context():
        with unit_of_work(db.engine) as conn:
            assert connection() is conn
            conn.execute(text("CREATE TABLE t (v INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
            on_commit(lambda: seen.append("committed"))
            assert seen == []  # not before the commit
        assert seen == ["committed"]
        with pytest.raises(RuntimeError), unit_of_work(db.engine) as conn:
            conn.execute(text("INSERT INTO t VALUES (2)"))
            on_commit(lambda: seen.append("rolled back"))
            raise RuntimeError("boom")
        assert seen == ["committed"]
        assert db.session.execute(text("SELECT v FROM t")).scalars().all() == [1]
        db.session.remove()


def test_a_failing_after_commit_hook_does_not_make_the_commit_look_failed(app, caplog):
    """A hook that raises is logged; the committed unit is not reported as failed."""
    from sqlalchemy import text

    from common.db import db, on_commit, unit_of_work

    def broken() -> None:
        raise RuntimeError("hook")

    with app.app_context():
        with unit_of_work(db.engine) as conn:  # no exception escapes: the writes stay applied once
            conn.execute(text("CREATE TABLE h (v INTEGER)"))
            on_commit(broken)
        assert "after-commit hook" in caplog.text
        db.session.remove()


class Notifier(Recorder):
    """Registers an after-commit hook per item, as the run desk does for bus notifications."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.fired: list[str] = []

    def apply(self, items):
        from common.db import on_commit

        for item in items:
            on_commit(lambda item=item: self.fired.append(item))
        return super().apply(items)


def test_hooks_of_a_failed_batch_are_dropped_and_each_good_item_notifies_once(app):
    """The batch [a, bad] rolls back (its hooks with it); a is then written alone and notifies once."""
    rec = Notifier(app)
    rec.start()
    try:
        jobs = [gevent.spawn(rec.submit, item) for item in ("a", "bad")]
        gevent.joinall(jobs)
        assert jobs[0].value == "ok:a" and isinstance(jobs[1].exception, RuntimeError)
        assert rec.fired == ["a"]
    finally:
        rec.stop()
