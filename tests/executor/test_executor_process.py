"""The real executor process against the fake node, only for what a real node cannot be made to do.

Everything a real node can drive (runs, exit codes, arguments, Stop, failover with checkpoints, node
restarts, video) is tested against the real node process in test_real_node_runs.py,
test_real_node_interruptions.py and test_e2e_node.py.
"""

from __future__ import annotations

import pytest

from executor import errors
from tests.executor.realnode import make_package

pytestmark = pytest.mark.slow


def registered(node, robot_id):
    return node.wait(lambda: any(r == robot_id for r, _ in node.registrations), 20)


# Fault injection: a real node always sends the packageSha256 of the package it serves, so a mismatch
# cannot be produced through it.
def test_package_hash_mismatch_fails_the_run(fake_node, start_executor, tmp_path):
    """A package that does not match packageSha256 is not run."""
    start_executor(fake_node.url, "robot-1", "http")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1", make_package(tmp_path, "*** Tasks ***\nA\n    Log    x\n"), packageSha256="0" * 64
    )
    assert fake_node.wait_finish(run_id)["errorCode"] == errors.PACKAGE_HASH_MISMATCH


# The real node enforces timeoutSeconds itself (its sweeper marks the run timed_out and sends Stop at
# the same deadline), so against it the executor's own TIMEOUT report races the node and is not
# observable deterministically; the fake node lets the executor's timeout act alone.
def test_timeout_stops_the_run(fake_node, start_executor, tmp_path):
    """timeoutSeconds stops the run and reports it failed with the TIMEOUT code."""
    start_executor(fake_node.url, "robot-1", stop_grace_seconds=2.0)
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1", make_package(tmp_path, "*** Tasks ***\nA\n    Sleep    60\n"), timeoutSeconds=2
    )
    assert fake_node.wait_finish(run_id, 30) == {
        "runInstanceId": run_id,
        "status": 2,
        "errorCode": errors.TIMEOUT,
    }
