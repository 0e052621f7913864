"""Property-based tests: random and malformed input on both transports never breaks the node.

HTTP bodies go through the in-process app (fast, many examples); WebSocket frames go to a real node
process (fewer examples). Never a 5xx, always the envelope / an Error frame with a protocol code, the
connection stays usable, and every log line accepted can be read back intact (protocol.md §2-§5).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.sdk.secret import build_supplier_secret
from tests.support import WsRobot, package_zip

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
ROUND_TRIP = settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
LIVE = settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK, database=None)

RUN = "__RUN__"  # placeholder for the run the test robot executes, substituted at send time
HTTP_PATHS = [
    f"/robots/connect/{p}"
    for p in ("register", "heartbeat", "reportLogs", "reportFinish", "reportVideoRecord")
] + ["/design/personalfile"]
UPLOAD_SOURCES = ["file", "demand", "icon", "video", "screenshot", "checkpoint", "package"]
WS_ACTIONS = ["Register", "Heartbeat", "ReportLogs", "ReportFinish", "ReportVideoRecord"]
ALLOWED_WS_CODES = {10001, 10003, 10006}
HINT = re.compile(r"^[^\s:][^:]{0,160}:")  # "logs[0].logLevel: ...": the hint names what is wrong

# --- strategies ------------------------------------------------------------------------------------------

# Any size: errorCode beyond a 32-bit column must be refused with 10001, never a 500.
small_ints = st.integers()
scalars = st.none() | st.booleans() | small_ints | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=16,
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
# The whole calendar, the ends included: out-of-range instants are 10001, never a 500.
any_iso = st.one_of(
    st.datetimes(timezones=offsets),
    st.datetimes(),
).map(datetime.isoformat)
log_at = st.one_of(
    any_iso,
    small_ints,
    st.integers(min_value=-(2**40), max_value=2**50),
    st.floats(),
    st.text(max_size=30),
    st.none(),
    st.booleans(),
)
log_line = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "content": st.text(max_size=80) | scalars,
            "logAt": log_at,
            "logLevel": st.sampled_from([0, 1, 2]) | scalars,
            "screenshot": st.none() | st.text(max_size=45) | small_ints,
        },
    ),
    scalars,
)
run_ids = st.sampled_from([RUN, RUN, "r_" + "0" * 24]) | st.text(max_size=50) | small_ints | st.none()


def _body(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional=fields)


FIELD_BODIES = {
    "Register": _body(
        supplierCode=st.text(max_size=70) | scalars,
        supplierSecret=st.text(max_size=300) | scalars,
        version=st.text(max_size=70) | scalars,
    ),
    "Heartbeat": _body(
        runInstanceId=run_ids, metrics=_body(cpu=scalars, memory=scalars, disk=scalars) | scalars
    ),
    "ReportLogs": _body(runInstanceId=run_ids, logs=st.lists(log_line, max_size=6) | scalars),
    "ReportFinish": _body(
        runInstanceId=run_ids, status=st.sampled_from([0, 1, 2]) | scalars, errorCode=scalars
    ),
    "ReportVideoRecord": _body(runInstanceId=run_ids, videoId=st.text(max_size=45) | scalars),
    "PersonalFile": _body(
        fileId=st.text(max_size=45) | scalars,
        fileName=st.text(max_size=260) | scalars,
        runInstanceId=run_ids,
        userId=st.text(max_size=70) | scalars,
        userName=scalars,
    ),
}
HTTP_ACTION = {
    "register": "Register",
    "heartbeat": "Heartbeat",
    "reportLogs": "ReportLogs",
    "reportFinish": "ReportFinish",
    "reportVideoRecord": "ReportVideoRecord",
    "personalfile": "PersonalFile",
}


def substitute(value, run_id: str):  # noqa: ANN001, ANN201
    """``value`` with the RUN placeholder replaced by the real run id, at any depth."""
    if value == RUN:
        return run_id
    if isinstance(value, dict):
        return {k: substitute(v, run_id) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, run_id) for v in value]
    return value


# Content round-trips exactly (whitespace, Chinese, emoji), except NUL, which the node stores as U+FFFD
# because PostgreSQL text cannot hold it.
chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1, max_size=20)
round_trip_content = st.one_of(
    st.text(max_size=200), chinese, st.sampled_from(["日志 ✓ 🤖", "a\nb\tc", "", "    at Foo.bar()  "])
)
valid_log_at = st.one_of(
    st.integers(min_value=0, max_value=4102444800000),  # epoch ms up to 2100
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),  # naive: node zone
)
valid_line = st.fixed_dictionaries(
    {"content": round_trip_content, "logAt": valid_log_at, "logLevel": st.sampled_from([0, 1, 2])}
)


def wire_line(line: dict) -> dict:
    at = line["logAt"]
    return {**line, "logAt": at if isinstance(at, int) else at.isoformat()}


def instant(log_at: int | datetime) -> datetime:
    """The instant a valid logAt stands for (naive ISO is Asia/Shanghai, the node's default zone)."""
    if isinstance(log_at, int):
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=log_at)
    if log_at.tzinfo is None:
        log_at = log_at.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return log_at.astimezone(UTC)


def assert_same_lines(sent: list[dict], got: list[dict]) -> None:
    """Every sent line is read back once: same content, level and instant (to the millisecond)."""
    assert len(got) == len(sent), (len(sent), len(got))
    key = lambda x: (x["content"].replace("\x00", "\ufffd"), x["logLevel"])  # noqa: E731
    remaining = sorted(got, key=key)
    for line in sorted(sent, key=key):
        match = next(
            (
                g
                for g in remaining
                if key(g) == key(line)
                and abs(datetime.fromisoformat(g["logAt"].replace("Z", "+00:00")) - instant(line["logAt"]))
                < timedelta(milliseconds=1)
            ),
            None,
        )
        assert match is not None, f"line not read back intact: {line!r}"
        remaining.remove(match)


# --- in-process HTTP ---------------------------------------------------------------------------------------


class InProcess:
    """The in-process node with a supplier, an app and a registered HTTP robot executing a run."""

    def __init__(self, client, admin_headers) -> None:  # noqa: ANN001
        self.client, self.admin = client, admin_headers
        sup = self.value("POST", "/api/v1/suppliers", json={"code": "fuzz", "name": "fuzz"})
        self.secret = sup["secret"]
        self.app_id = self.value(
            "POST", "/api/v1/apps", data={"name": "fuzz", "package": (io.BytesIO(package_zip()), "p.zip")}
        )["appId"]
        self.robot_id = "fuzz-http-1"
        value = self.client.post(
            "/robots/connect/register",
            headers={"robotId": self.robot_id},
            json={
                "supplierCode": "fuzz",
                "supplierSecret": build_supplier_secret(self.robot_id, "fuzz", self.secret),
            },
        )
        self.connect_id = value.get_json()["resultValue"]["robotConnectId"]
        self.run_id = self.new_run()

    def value(self, method: str, path: str, **kw):  # noqa: ANN201
        resp = self.client.open(path, method=method, headers=self.admin, **kw)
        assert resp.status_code < 300, resp.get_data(as_text=True)
        return resp.get_json()["resultValue"]

    def robot_headers(self, kind: str = "robot") -> dict:
        return {
            "robot": {"robotId": self.robot_id, "robotConnectId": self.connect_id},
            "stale": {"robotId": self.robot_id, "robotConnectId": "c_stale"},
            "stranger": {"robotId": "fuzz-nobody", "robotConnectId": "c_x"},
            "none": {},
        }[kind]

    def new_run(self) -> str:
        run = self.value("POST", "/api/v1/runs", json={"appId": self.app_id, "robotId": self.robot_id})
        assert run["status"] == "dispatched", run
        return run["runInstanceId"]

    def finish(self, run_id: str) -> None:
        resp = self.client.post(
            "/robots/connect/reportFinish",
            headers=self.robot_headers(),
            json={"runInstanceId": run_id, "status": 0},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)


@pytest.fixture
def node(client, admin_headers):
    return InProcess(client, admin_headers)


def assert_envelope(resp, what: object) -> None:  # noqa: ANN001
    """A JSON envelope below 500; a failure carries an int errorCode and a hint naming the field."""
    text = resp.get_data(as_text=True)
    assert resp.status_code < 500, (what, resp.status_code, text[:300])
    assert resp.mimetype == "application/json", (what, resp.status_code, text[:300])
    env = resp.get_json()
    assert isinstance(env, dict) and {"successful", "resultHint", "resultValue"} <= set(env), (
        what,
        text[:300],
    )
    if env["successful"] is True:
        assert 200 <= resp.status_code < 300, (what, resp.status_code)
        return
    assert env["successful"] is False and 400 <= resp.status_code < 500, (what, resp.status_code, text[:300])
    code = (env["resultValue"] or {}).get("errorCode")
    assert isinstance(code, int) and not isinstance(code, bool), (what, text[:300])
    assert isinstance(env["resultHint"], str) and HINT.match(env["resultHint"]), (what, env["resultHint"])


@FAST
@given(path=st.sampled_from(HTTP_PATHS), body=json_values, who=st.sampled_from(["robot", "stale", "none"]))
def test_any_json_body_gets_an_envelope(node, path, body, who):
    """Any JSON value as the body of any executor path: an envelope, never a 5xx."""
    resp = node.client.post(
        path, data=json.dumps(body), content_type="application/json", headers=node.robot_headers(who)
    )
    assert_envelope(resp, (path, body))


@FAST
@given(
    path=st.sampled_from(HTTP_PATHS),
    data=st.binary(max_size=600),
    ctype=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", None]),
)
def test_random_bytes_get_an_envelope(node, path, data, ctype):
    """Random bytes with any content type: an envelope, never a 5xx."""
    resp = node.client.post(path, data=data, content_type=ctype, headers=node.robot_headers())
    assert_envelope(resp, (path, data))


@FAST
@given(path=st.sampled_from(HTTP_PATHS), data=st.data(), who=st.sampled_from(["robot", "robot", "stranger"]))
def test_field_aware_bodies_get_an_envelope(node, path, data, who):
    """Bodies with the right field names and wrong, odd or right values: an envelope, never a 5xx."""
    body = substitute(data.draw(FIELD_BODIES[HTTP_ACTION[path.rsplit("/", 1)[1]]]), node.run_id)
    resp = node.client.post(
        path, data=json.dumps(body), content_type="application/json", headers=node.robot_headers(who)
    )
    assert_envelope(resp, (path, body))
    if path.endswith("reportFinish") and resp.status_code == 200 and body.get("runInstanceId") == node.run_id:
        node.run_id = node.new_run()  # the run ended: later examples get a fresh one


@FAST
@given(
    source=st.sampled_from(UPLOAD_SOURCES)
    | st.text(alphabet=string.ascii_letters + "._-", min_size=1, max_size=12),
    field=st.sampled_from(["file", "file", "other"]),
    name=st.text(max_size=60),
    content=st.binary(max_size=300),
    extra=st.dictionaries(
        st.sampled_from(["runInstanceId", "x"]), st.text(max_size=30) | st.just(RUN), max_size=2
    ),
    who=st.sampled_from(["robot", "robot", "stale", "none"]),
)
def test_uploads_get_an_envelope(node, source, field, name, content, extra, who):
    """Multipart uploads with any source, field, file name and content: an envelope, never a 5xx."""
    form = {field: (io.BytesIO(content), name), **substitute(extra, node.run_id)}
    resp = node.client.post(
        f"/v1/file/{source}/upload",
        data=form,
        content_type="multipart/form-data",
        headers=node.robot_headers(who),
    )
    assert_envelope(resp, (source, field, name))
    if resp.status_code == 200:
        value = resp.get_json()["resultValue"]
        assert value["fileName"] and "/" not in value["fileName"] and value["fileId"]


@ROUND_TRIP
@given(lines=st.lists(valid_line, min_size=1, max_size=40))
def test_accepted_logs_read_back_intact_over_http(node, lines):
    """Whatever reportLogs accepts is readable through GET /runs/{id}/logs: no lost line, text intact."""
    run_id = node.new_run() if node.run_id is None else node.run_id
    node.run_id = None
    try:
        resp = node.client.post(
            "/robots/connect/reportLogs",
            headers=node.robot_headers(),
            json={"runInstanceId": run_id, "logs": [wire_line(x) for x in lines]},
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        got = node.value("GET", f"/api/v1/runs/{run_id}/logs?limit=1000")["items"]
        assert_same_lines(lines, got)
    finally:
        node.finish(run_id)


# --- WebSocket on a real node --------------------------------------------------------------------------------


def ws_probe(robot: WsRobot) -> list[dict]:
    """Frames the node sent before answering a ReportFinish for a run that does not exist (10006)."""
    marker = "probe-" + secrets.token_hex(6)
    robot.send("ReportFinish", {"runInstanceId": marker, "status": 0})
    before = []
    while True:
        frame = robot.recv(5)
        assert frame is not None, "no answer to the probe: the connection is stuck"
        body = frame.get("body") or {}
        if frame["action"] == "Error" and marker in str(body.get("message", "")):
            assert body["errorCode"] == 10006, frame
            return before
        before.append(frame)


@st.composite
def ws_frames(draw) -> str | bytes:  # noqa: ANN001
    """A frame: random text or bytes, any JSON, or {action, body} with field-aware or random bodies."""
    kind = draw(st.sampled_from(["text", "bytes", "json", "frame", "frame", "frame"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values))
    action = draw(st.sampled_from(WS_ACTIONS) | st.text(max_size=20) | scalars)
    body = draw(FIELD_BODIES.get(action, json_values))
    frame = {"action": action}
    if draw(st.booleans()):
        frame["body"] = json.dumps(body) if draw(st.booleans()) else body
    if draw(st.booleans()):
        frame[draw(st.text(max_size=10))] = draw(scalars)
    return json.dumps(frame)


@pytest.fixture
def ws_setup(live_node):
    secret = live_node.add_supplier("fuzz")
    app_id = live_node.upload_app(package_zip(), "fuzz")
    robot = WsRobot(live_node, "fuzz-ws-1", "fuzz", secret)
    robot.register()
    assert ws_probe(robot) == []
    yield live_node, robot, app_id
    robot.close()


@pytest.mark.slow
def test_random_ws_frames_get_at_most_an_error_and_the_connection_survives(ws_setup):
    """After Register, random frames get nothing or Error 10001/10003/10006; the connection stays usable:
    a heartbeat still works and a run's logs sent afterwards are stored."""
    node, robot, app_id = ws_setup
    no_such_run = "r_" + "0" * 24  # this robot has no run yet: every runInstanceId is foreign

    @LIVE
    @given(frame=ws_frames())
    def one_frame(frame):
        robot.ws.send(frame.replace(RUN, no_such_run) if isinstance(frame, str) else frame)
        for answer in ws_probe(robot):
            assert answer["action"] == "Error", (frame, answer)
            assert answer["body"]["errorCode"] in ALLOWED_WS_CODES, (frame, answer)

    one_frame()

    robot.heartbeat()
    assert ws_probe(robot) == []
    run_id = node.start_run(app_id, robotId=robot.robot_id)
    execute = robot.expect("Execute")
    assert execute["body"]["runInstanceId"] == run_id
    lines = [{"content": f"最后一行 {i} ✓", "logAt": 1764295200000 + i, "logLevel": i % 3} for i in range(25)]
    robot.send("ReportLogs", {"runInstanceId": run_id, "logs": lines})
    assert ws_probe(robot) == []
    got = node.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000})["items"]
    assert_same_lines(lines, got)


@pytest.mark.slow
def test_accepted_logs_read_back_intact_over_websocket(ws_setup):
    """Over WebSocket (the group-commit writer of a real node) every accepted line reads back intact."""
    node, robot, app_id = ws_setup

    @settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
    @given(batches=st.lists(st.lists(valid_line, min_size=1, max_size=60), min_size=1, max_size=3))
    def one_run(batches):
        run_id = node.start_run(app_id, robotId=robot.robot_id)
        assert robot.expect("Execute")["body"]["runInstanceId"] == run_id
        try:
            for batch in batches:
                robot.send("ReportLogs", {"runInstanceId": run_id, "logs": [wire_line(x) for x in batch]})
            assert ws_probe(robot) == []
            got = node.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000})["items"]
            assert_same_lines([x for b in batches for x in b], got)
        finally:
            robot.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
            assert ws_probe(robot) == []

    one_run()


# --- inputs that once gave a 500 or a changed line (kept as examples) ---------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/robots/connect/reportFinish",
            {"runInstanceId": RUN, "status": 2, "errorCode": 2**70},
            id="errorCode-beyond-64-bit",
        ),
        pytest.param(
            "/robots/connect/reportLogs",
            {"runInstanceId": RUN, "logs": [{"content": "x", "logAt": "0001-01-01T00:00:00", "logLevel": 0}]},
            id="logAt-year-1-naive",
        ),
        pytest.param(
            "/robots/connect/reportLogs",
            {
                "runInstanceId": RUN,
                "logs": [{"content": "x", "logAt": "9999-12-31T23:59:59-23:59", "logLevel": 0}],
            },
            id="logAt-year-9999-negative-offset",
        ),
    ],
)
def test_out_of_range_values_get_a_400(node, path, body):
    """Out-of-range numbers and times are bad input (400/10001), not a 500."""
    resp = node.client.post(path, json=substitute(body, node.run_id), headers=node.robot_headers())
    assert_envelope(resp, body)


def test_log_content_keeps_surrounding_whitespace(node):
    """Log content is stored verbatim, leading indentation and trailing blanks included."""
    lines = [{"content": "    at Foo.bar()  ", "logAt": 1764295200000, "logLevel": 2}]
    resp = node.client.post(
        "/robots/connect/reportLogs",
        headers=node.robot_headers(),
        json={"runInstanceId": node.run_id, "logs": lines},
    )
    assert resp.status_code == 200
    got = node.value("GET", f"/api/v1/runs/{node.run_id}/logs")["items"]
    assert [x["content"] for x in got] == ["    at Foo.bar()  "]
