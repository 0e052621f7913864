"""Executor overhead: a trivial package run bare (`python -m robot --rpa`) versus through the reference
executor (Execute -> ReportFinish), and how late log lines reach the node.

Runs the real executor process against the in-process fake node of the executor tests and prints
its figures. Usage: ``.venv/bin/python bench/executor_overhead.py [runs]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from executor.samples.build import build_package  # noqa: E402
from tests.executor.fake_node import FakeNode  # noqa: E402

ROBOT = "*** Tasks ***\nLines\n    FOR    ${i}    IN RANGE    20\n        Log    line ${i}\n        Sleep    0.05\n    END\n"


def main(runs: int = 5) -> None:
    work = Path(tempfile.mkdtemp(prefix="rpa-bench-"))
    pkg_dir = work / "pkg"
    pkg_dir.mkdir()
    (pkg_dir / "manifest.json").write_text('{"name": "bench", "version": "1", "entry": "tasks.robot"}')
    (pkg_dir / "tasks.robot").write_text(ROBOT)
    package = build_package(pkg_dir)

    bare = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "robot",
                "--rpa",
                "--output",
                "NONE",
                "--report",
                "NONE",
                "--log",
                "NONE",
                "--console",
                "none",
                str(pkg_dir / "tasks.robot"),
            ],
            check=True,
        )
        bare.append(time.perf_counter() - t0)

    node = FakeNode().start()
    env = {**os.environ, "RPA_EXECUTOR_SECRET": "s3cret", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "executor.cli",
            "--node",
            node.url,
            "--id",
            "bench",
            "--supplier",
            "ACME",
            "--work-dir",
            str(work / "ex"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        node.wait(lambda: node.registrations, 30)
        through, latencies = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            run_id = node.execute("bench", package)
            node.wait_finish(run_id, 60)
            through.append(time.perf_counter() - t0)
            time.sleep(0.3)
        # Log latency: logAt (written by the listener) -> arrival at the node, measured by polling.
        seen: dict[str, float] = {}
        run_id = node.execute("bench", package)
        deadline = time.monotonic() + 60
        while run_id not in node.finishes and time.monotonic() < deadline:
            for item in list(node.logs.get(run_id, [])):
                key = item["logAt"] + item["content"]
                if key not in seen and item["content"].startswith("line "):
                    seen[key] = time.time()
                    latencies.append(seen[key] - datetime.fromisoformat(item["logAt"]).timestamp())
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(30)
        node.stop_server()

    print(f"runs: {runs}, package: 20 log lines over ~1 s")
    print(f"bare robot         median {statistics.median(bare) * 1000:7.0f} ms")
    print(f"through executor   median {statistics.median(through) * 1000:7.0f} ms  (Execute -> ReportFinish)")
    print(
        f"overhead           median {(statistics.median(through) - statistics.median(bare)) * 1000:7.0f} ms"
    )
    if latencies:
        latencies.sort()
        p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
        print(
            f"log latency        median {statistics.median(latencies) * 1000:7.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {latencies[-1] * 1000:.0f} ms ({len(latencies)} lines)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
