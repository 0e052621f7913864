"""Unit behaviour of the reference executor: exit codes, spool, reporter, arguments, settings, packages."""

from __future__ import annotations

import io
import zipfile

import pytest

from executor import errors
from executor.errors import RunError, map_exit
from executor.packages import ArgumentSpec, Manifest, dependency_key, safe_extract
from executor.reporter import Reporter
from executor.sdk import ConnectionLost, ProtocolError
from executor.sdk import messages as m
from executor.settings import ExecutorSettings
from executor.spool import Spool
from executor.variables import build_variables


@pytest.mark.parametrize(
    ("rc", "kw", "status", "code", "text"),
    [
        (0, {}, 0, None, "All tasks passed"),
        (0, {"cancelled": True}, 1, None, "cancelled"),
        (-9, {"cancelled": True}, 1, None, "cancelled"),
        (3, {}, 2, errors.TASKS_FAILED, "3 tasks failed"),
        (1, {}, 2, errors.TASKS_FAILED, "1 task failed"),
        (250, {}, 2, errors.TASKS_FAILED, "250 or more tasks failed"),
        (252, {}, 2, errors.INVALID_DATA, "252"),
        (253, {}, 2, errors.TERMINATED, "terminated"),
        (-9, {}, 2, errors.TERMINATED, "terminated"),
        (0, {"killed": True}, 2, errors.TERMINATED, "terminated"),
        (255, {}, 2, errors.INTERNAL_ERROR, "internal error"),
        (251, {}, 2, errors.INTERNAL_ERROR, "unexpected"),
        (-15, {"timed_out": True}, 2, errors.TIMEOUT, "timeout"),
    ],
)
def test_exit_code_mapping(rc, kw, status, code, text):
    """Robot exit codes and the executor's own flags map to the documented status and error code."""
    out = map_exit(
        rc,
        cancelled=kw.get("cancelled", False),
        killed=kw.get("killed", False),
        timed_out=kw.get("timed_out", False),
    )
    assert (out.status, out.error_code) == (status, code)
    assert text.lower() in out.message.lower()


def test_spool_keeps_order_across_restarts(tmp_path):
    """Entries come back oldest first, also from a new Spool on the same folder, until acknowledged."""
    s = Spool(tmp_path)
    a = s.append("ReportLogs", {"n": 1})
    s.append("ReportFinish", {"n": 2})
    s2 = Spool(tmp_path)
    s2.append("ReportVideoRecord", {"n": 3})
    assert [e.body["n"] for e in s2.pending()] == [1, 2, 3]
    s2.ack(a)
    assert [e.action for e in Spool(tmp_path).pending()] == ["ReportFinish", "ReportVideoRecord"]
    assert len(s2) == 2


def test_spool_sets_aside_unreadable_entries(tmp_path):
    """A corrupt file does not block the spool."""
    s = Spool(tmp_path)
    (tmp_path / "000000000000.json").write_text("{broken")
    s.append("ReportLogs", {"n": 1})
    assert [e.body for e in s.pending()] == [{"n": 1}]
    assert (tmp_path / "000000000000.bad").exists()


class FakeTransport:
    def __init__(self, protocol="ws"):
        self.protocol = protocol
        self.generation = 1
        self.connected = True
        self.sent = []
        self.fail_with = None

    def send(self, action, body):
        if self.fail_with:
            raise self.fail_with
        self.sent.append((action, body))


def test_reporter_http_acks_on_success(tmp_path):
    """Over HTTP an entry is delivered (removed) as soon as the node answered."""
    spool, t = Spool(tmp_path), FakeTransport("http")
    spool.append("ReportLogs", {"n": 1})
    Reporter(spool, lambda: t, lambda: None).drain()
    assert t.sent == [("ReportLogs", {"n": 1})] and len(spool) == 0


def test_reporter_ws_waits_for_a_later_heartbeat_and_resends_after_reconnect(tmp_path):
    """Over WS an entry stays spooled until a later heartbeat on the same connection; a new connection resends it."""
    spool, t = Spool(tmp_path), FakeTransport("ws")
    lost = []
    r = Reporter(spool, lambda: t, lambda: lost.append(1))
    spool.append("ReportLogs", {"n": 1})
    assert r.drain() == 1 and r.drain() == 0  # not written twice on one connection
    assert len(spool) == 1
    t.generation = 2  # reconnected before confirmation
    assert r.drain() == 1 and len(t.sent) == 2
    r.confirm(1, before=1e12)  # a heartbeat of the old connection confirms nothing now
    assert len(spool) == 1
    import time

    r.confirm(2, before=time.monotonic())
    assert len(spool) == 0


def test_reporter_drops_refused_entries_and_reports_lost_connections(tmp_path):
    """A 10001 refusal drops the entry (it would block everything); a lost connection keeps it."""
    spool, t = Spool(tmp_path), FakeTransport("http")
    lost = []
    r = Reporter(spool, lambda: t, lambda: lost.append(1))
    spool.append("ReportLogs", {"n": 1})
    t.fail_with = ConnectionLost("down")
    r.drain()
    assert len(spool) == 1 and lost
    t.fail_with = ProtocolError(10001, "logs")
    r.drain()
    assert len(spool) == 0


def test_build_variables_defaults_required_and_secrets():
    """Defaults fill missing arguments, required ones must be present, secrets go to the variable file."""
    manifest = Manifest(
        name="p",
        version="1",
        arguments=[
            ArgumentSpec(name="limit", default="5"),
            ArgumentSpec(name="who", required=True),
        ],
    )
    args = [
        m.Argument(name="who", value="alice"),
        m.Argument(name="password", type="secret", value="p@ss:word"),
        m.Argument(name="cfg", type="json", value='{"a": [1, 2]}'),
        m.Argument(name="note", value="two\nlines"),
    ]
    options, varfile = build_variables(manifest, args, lambda n, u: "/x")
    assert options == ["--variable", "who:alice", "--variable", "limit:5"]
    assert varfile == {"password": "p@ss:word", "cfg": {"a": [1, 2]}, "note": "two\nlines"}
    with pytest.raises(RunError) as exc:
        build_variables(manifest, [], lambda n, u: "/x")
    assert exc.value.code == errors.ARGUMENTS_INVALID


def test_file_arguments_are_downloaded():
    """A file argument holding a URL is replaced by the downloaded local path."""
    options, _ = build_variables(
        Manifest(name="p", version="1"),
        [m.Argument(name="f", type="file", value="http://n/f?sig=1")],
        lambda n, u: f"/in/{n}",
    )
    assert options == ["--variable", "f:/in/f"]


def test_settings_precedence(tmp_path, monkeypatch):
    """TOML < RPA_EXECUTOR_* environment < command line; the secret can come from the environment."""
    cfg = tmp_path / "e.toml"
    cfg.write_text(
        '[executor]\nnode = "http://a"\nrobot_id = "r1"\nsupplier = "S"\nheartbeat_interval = 3\nprotocol = "http"\n'
    )
    monkeypatch.setenv("RPA_EXECUTOR_SECRET", "from-env")
    monkeypatch.setenv("RPA_EXECUTOR_HEARTBEAT_INTERVAL", "7")
    s = ExecutorSettings.load(cfg, node="http://b", protocol=None)
    s.validate()
    assert (s.node, s.secret, s.heartbeat_interval, s.protocol) == ("http://b", "from-env", 7.0, "http")
    assert "from-env" not in repr(s)
    with pytest.raises(ValueError):
        ExecutorSettings.load(None, colour="red")


def test_safe_extract_refuses_path_traversal(tmp_path):
    """A package entry that would land outside the extraction folder is refused."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../evil.txt", "x")
    (tmp_path / "p.zip").write_bytes(buf.getvalue())
    with pytest.raises(RunError):
        safe_extract(tmp_path / "p.zip", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_dependency_key_ignores_order():
    """The same dependency set in any order shares one environment."""
    assert dependency_key(["a==1", "b"]) == dependency_key(["b", "a==1"]) != dependency_key(["a==2", "b"])


def test_manifest_rejects_bad_dependencies(tmp_path):
    """dependencies must be a list of requirement strings."""
    (tmp_path / "manifest.json").write_text('{"name": "x", "dependencies": "requests"}')
    with pytest.raises(RunError):
        Manifest.load(tmp_path / "manifest.json")


def test_the_default_work_dir_is_outside_the_working_directory(tmp_path, monkeypatch):
    """Without --work-dir an executor keeps its data under $XDG_DATA_HOME/rpa-executor/<id>, not in
    the folder it was started from; an earlier ./executor-data is still used (it may hold unsent
    reports)."""
    from executor.settings import ExecutorSettings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = ExecutorSettings.load(node="http://n", robot_id="r-7", supplier="s", secret="x")
    assert settings.work_dir == (tmp_path / "xdg" / "rpa-executor" / "r-7").resolve()
    (tmp_path / "executor-data").mkdir()
    legacy = ExecutorSettings.load(node="http://n", robot_id="r-7", supplier="s", secret="x")
    assert legacy.work_dir == (tmp_path / "executor-data").resolve()
