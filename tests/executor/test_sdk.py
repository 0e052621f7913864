"""The SDK: messages, supplier secret, both transports against a fake node over real sockets."""

from __future__ import annotations

import hashlib
import json

import pytest

from executor.sdk import (
    Command,
    ConnectionLost,
    ExecuteBody,
    HttpTransport,
    IntegrityError,
    ProtocolError,
    RunContext,
    RunInstanceLog,
    WsTransport,
    build_supplier_secret,
    make_transport,
)
from executor.sdk.messages import frame, truncate_utf8
from executor.sdk.ws import ws_url
from protocol.secret import sign


def test_supplier_secret_has_ts_nonce_and_valid_signature():
    """The supplier secret is ts.nonce.sig with an HMAC the node can recompute."""
    value = build_supplier_secret("r1", "ACME", "raw", now=1700000000, nonce="n" * 20)
    ts, nonce, sig = value.split(".", 2)
    assert ts == "1700000000" and nonce == "n" * 20
    assert sig == sign("r1", "ACME", 1700000000, nonce, "raw")
    assert "=" not in sig and "raw" not in value


def test_supplier_secret_uses_a_fresh_nonce_each_call():
    """Two calls never reuse a nonce (the node refuses replays)."""
    assert (
        build_supplier_secret("r", "S", "x").split(".")[1]
        != build_supplier_secret("r", "S", "x").split(".")[1]
    )


def test_execute_body_parses_string_body_and_ignores_unknown_fields():
    """An Execute body given as a JSON string parses; unknown fields and non-string values are tolerated."""
    body = {
        "runInstanceId": "r1",
        "packageDownloadUri": "http://x/p",
        "arguments": [{"name": "n", "type": "int", "value": 3}, {"name": "b", "type": "bool", "value": True}],
        "videoRecordRequired": True,
        "videoRecordMode": 2,
        "userId": 7,
        "userName": "alice",
        "checkpointUri": "http://x/c",
        "attempt": 2,
        "somethingNew": {"a": 1},
    }
    cmd = Command.from_frame({"action": "Execute", "body": json.dumps(body)})
    job = cmd.execute()
    assert isinstance(job, ExecuteBody)
    assert [a.value for a in job.arguments] == ["3", "true"]
    assert job.user_id == "7" and job.attempt == 2 and job.checkpoint_uri == "http://x/c"
    assert job.to_wire()["runInstanceId"] == "r1"


def test_command_from_http_heartbeat_answer_and_bad_body():
    """HTTP answers use Action/Body; an unparsable body does not raise."""
    assert Command.from_frame({"Action": "Stop", "Body": None}).action == "Stop"
    err = Command.from_frame({"action": "Error", "body": '{"errorCode": 10001, "message": "logs"}'})
    assert err.error_code == 10001 and err.message == "logs"
    assert Command.from_frame({"action": "Execute", "body": "{not json"}).body == {"raw": "{not json"}


def test_frame_body_is_a_json_string():
    """Frames carry body as a string holding JSON (table A.1)."""
    out = json.loads(frame("Heartbeat", {"runInstanceId": None}))
    assert out["action"] == "Heartbeat" and json.loads(out["body"]) == {"runInstanceId": None}


def test_log_content_is_cut_to_64_kib_of_utf8():
    """Oversized log content is truncated to fit the node's limit, on a character boundary."""
    text = "电" * 40000
    cut = truncate_utf8(text)
    assert len(cut.encode()) <= 64 * 1024 and cut.endswith("[truncated]")
    log = RunInstanceLog(content=text, log_level=2)
    assert len(log.content.encode()) <= 64 * 1024
    wire = log.to_wire()
    assert wire["screenshot"] is None and wire["logLevel"] == 2 and "+" in wire["logAt"]


def test_ws_url_keeps_prefix_and_scheme():
    """The WS URL is the node URL with ws(s) and /robothub/{id}."""
    assert ws_url("http://h:8/p/", "r 1") == "ws://h:8/p/robothub/r%201"
    assert ws_url("https://h", "r") == "wss://h/robothub/r"


def test_make_transport_rejects_unknown_protocol():
    """Only ws and http exist."""
    with pytest.raises(ValueError):
        make_transport("smtp", "http://x", "r", "S", "s")


@pytest.mark.parametrize("protocol", ["ws", "http"])
def test_transport_round_trip(fake_node, protocol, tmp_path):
    """Register, heartbeat, logs, finish, video, upload, personal file and a command, on both transports."""
    t = make_transport(protocol, fake_node.url, "robot-1", "ACME", "s3cret")
    assert t.connect() is None and t.connected
    t.heartbeat("run-1", metrics={"cpu": 1.0})
    t.report_logs("run-1", [RunInstanceLog(content="hello"), {"content": "two", "logLevel": 1}])
    f = tmp_path / "out.txt"
    f.write_text("data")
    info = t.upload_file("file", f)
    assert info["fileName"] == "out.txt"
    t.put_personal_file(info["fileId"], "out.txt", "run-1", "u1", "alice")
    t.report_finish("run-1", 0)
    t.report_video("run-1", info["fileId"])
    fake_node.send("robot-1", "Stop")
    cmd = None
    for _ in range(20):
        cmd = t.next_command(timeout=0.5)
        if cmd:
            break
    assert cmd is not None and cmd.action == "Stop"
    fake_node.wait(lambda: fake_node.videos.get("run-1"))
    assert fake_node.log_texts("run-1") == ["hello", "two"]
    assert fake_node.finishes["run-1"] == [{"runInstanceId": "run-1", "status": 0}]
    assert fake_node.personal[0]["userName"] == "alice"
    assert fake_node.heartbeats[0][1]["metrics"] == {"cpu": 1.0}
    t.close()


@pytest.mark.parametrize("cls", [WsTransport, HttpTransport])
def test_bad_secret_raises_protocol_error(fake_node, cls):
    """A wrong supplier secret is refused with 10002, a fatal ProtocolError."""
    t = cls(fake_node.url, "robot-2", "ACME", "wrong")
    with pytest.raises(ProtocolError) as exc:
        t.connect()
    assert exc.value.code == 10002 and exc.value.fatal


@pytest.mark.parametrize("cls", [WsTransport, HttpTransport])
def test_unreachable_node_raises_connection_lost(cls):
    """No node listening: ConnectionLost, so the caller retries."""
    t = cls("http://127.0.0.1:9", "r", "ACME", "s3cret", timeout=2)
    with pytest.raises(ConnectionLost):
        t.connect()


def test_http_heartbeat_command_is_not_lost(fake_node):
    """A command handed out in an explicit heartbeat answer is returned by the next next_command."""
    t = HttpTransport(fake_node.url, "robot-3", "ACME", "s3cret")
    t.connect()
    fake_node.send("robot-3", "Stop")
    t.heartbeat()
    assert t.next_command(0).action == "Stop"


def test_download_verifies_sha256(fake_node, tmp_path):
    """A download appears only when its SHA-256 matches."""
    t = HttpTransport(fake_node.url, "robot-4", "ACME", "s3cret")
    url, sha = fake_node.add_blob(b"package bytes")
    assert t.download(url, tmp_path / "p.zip", sha).read_bytes() == b"package bytes"
    with pytest.raises(IntegrityError):
        t.download(url, tmp_path / "q.zip", hashlib.sha256(b"other").hexdigest())
    assert not (tmp_path / "q.zip").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.zip"]


def test_run_context_uploads_with_supplier_credentials(fake_node, tmp_path):
    """A robot process can deliver a file to the run user with the env vars the executor sets."""
    env = {
        "RPA_NODE_URL": fake_node.url,
        "RPA_ROBOT_ID": "robot-5",
        "RPA_RUN_ID": "run-5",
        "RPA_USER_ID": "u9",
        "RPA_USER_NAME": "bob",
        "RPA_ROBOT_CONNECT_ID": "stale",
        "RPA_SUPPLIER_CODE": "ACME",
        "RPA_SUPPLIER_SECRET": "s3cret",
    }
    f = tmp_path / "summary.csv"
    f.write_text("a,b\n")
    info = RunContext.from_env(env).deliver_to_user(f)
    assert fake_node.files[info["fileId"]][1] == b"a,b\n"
    assert fake_node.personal == [
        {
            "fileId": info["fileId"],
            "fileName": "summary.csv",
            "runInstanceId": "run-5",
            "userId": "u9",
            "userName": "bob",
        }
    ]
