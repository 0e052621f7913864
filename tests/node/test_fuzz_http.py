"""Property-based tests: random and malformed HTTP input never breaks the node.

HTTP bodies go through the in-process app (fast, many examples): never a 5xx, always the envelope with a
protocol code and a hint, and every log line accepted can be read back intact (protocol.md §2-§5).
The WebSocket side: test_fuzz_ws.py; shared strategies: fuzz_inputs.py.
"""

from __future__ import annotations

import io
import json
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.secret import build_supplier_secret
from tests.node.fuzz_inputs import (
    FAST,
    FIELD_BODIES,
    ROUND_TRIP,
    RUN,
    assert_same_lines,
    json_values,
    substitute,
    valid_line,
    wire_line,
)
from tests.support import package_zip

HTTP_PATHS = [
    f"/robots/connect/{p}"
    for p in ("register", "heartbeat", "reportLogs", "reportFinish", "reportVideoRecord")
] + ["/design/personalfile"]
UPLOAD_SOURCES = ["file", "demand", "icon", "video", "screenshot", "checkpoint", "package"]
HINT = re.compile(r"^[^\s:][^:]{0,160}:")  # "logs[0].logLevel: ...": the hint names what is wrong
HTTP_ACTION = {
    "register": "Register",
    "heartbeat": "Heartbeat",
    "reportLogs": "ReportLogs",
    "reportFinish": "ReportFinish",
    "reportVideoRecord": "ReportVideoRecord",
    "personalfile": "PersonalFile",
}


# --- in-process HTTP ---------------------------------------------------------------------------------------


class InProcess:
    """The in-process node with a supplier, an app and a registered HTTP robot executing a run."""

    def __init__(self, client, admin_headers) -> None:
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

    def value(self, method: str, path: str, **kw):
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


def assert_envelope(resp, what: object) -> None:
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
