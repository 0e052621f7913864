"""`rpa demo` (the README's run command): node + two executors + sample run, and a clean Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.support import free_port, wait_http


@pytest.mark.slow
def test_demo_runs_the_sample_and_stops_cleanly(tmp_path):
    """The sample meter-reading run succeeds and delivers its summary; Ctrl-C stops node and executors."""
    port = free_port()
    env = {**os.environ, "RPA_ADMIN_PASSWORD": "demo-test-password"}
    out_path = tmp_path / "demo.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rpa",
                "demo",
                "--port",
                str(port),
                "--data-dir",
                "demo",
            ],  # relative, as in the README
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", timeout=60, proc=proc)
        token = requests.post(
            url + "/api/v1/auth/token",
            json={"username": "admin", "password": "demo-test-password"},
            timeout=10,
        ).json()["resultValue"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 90
        run = None
        while time.monotonic() < deadline:
            text = out_path.read_text()
            found = re.search(r"/api/v1/runs/(r_[0-9a-f]+)", text)
            if found:
                run = requests.get(f"{url}/api/v1/runs/{found.group(1)}", headers=headers, timeout=10).json()
                if run["resultValue"]["status"] in {"succeeded", "failed", "interrupted", "timed_out"}:
                    break
            time.sleep(0.5)
        assert run is not None and run["resultValue"]["status"] == "succeeded", run
        robots = requests.get(f"{url}/api/v1/robots", headers=headers, timeout=10).json()["resultValue"][
            "items"
        ]
        assert {(r["robotId"], r["transport"], r["online"]) for r in robots} == {
            ("demo-ws-1", "ws", True),
            ("demo-http-1", "http", True),
        }
        files = requests.get(f"{url}/api/v1/me/files", headers=headers, timeout=10).json()["resultValue"]
        assert files["total"] >= 1
        summary = requests.get(files["items"][0]["downloadUrl"], timeout=10)
        assert summary.status_code == 200 and summary.content
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(40)
    assert code == 0, out_path.read_text()[-2000:]
    left = subprocess.run(
        ["pgrep", "-f", f"rpa executor --node http://127.0.0.1:{port}"], capture_output=True
    )
    assert left.stdout == b"", "executor processes were left behind"
    assert "Demo stopped." in out_path.read_text()
