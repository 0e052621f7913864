"""Inputs for the protocol fuzz tests (test_fuzz_http.py, test_fuzz_ws.py): hypothesis settings, strategies
for bodies and log lines, and the check that accepted log lines read back intact (protocol.md §2-§5).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
ROUND_TRIP = settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
LIVE = settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK, database=None)

RUN = "__RUN__"  # placeholder for the run the test robot executes, substituted at send time

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


def substitute(value, run_id: str):
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
