"""Executor overhead against a real node: Execute received → robot process started, and robot exit →
ReportFinish sent, for a trivial package (cached after the first run), beside a bare
``python -m robot --rpa`` of the same package run in the same invocation.

The phases are read from the executor's own log lines (millisecond timestamps): "Execute received",
"robot process … started", "robot process exited", "ReportFinish sent".
Usage: ``.venv/bin/python bench/executor_overhead.py [runs] [--protocol ws|http]``.
Targets (issue 3): < 300 ms and < 100 ms with the package cached.
"""

from __future__ import annotations

import argparse
import os
import re
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
from tests.support import LiveNode  # noqa: E402

ROBOT = "*** Tasks ***\nTrivial\n    Log    hello\n"
LINE = re.compile(r"^(\S+ \S+) INFO \S+: Run (r_[0-9a-f]+): (.*)$")
EVENTS = {
    "Execute received": "execute",
    "robot process exited": "exit",
    "ReportFinish sent": "finish",
}


def _when(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def phases(log_text: str) -> dict[str, dict[str, float]]:
    """run id → {execute, start, exit, finish} times from the executor log."""
    out: dict[str, dict[str, float]] = {}
    for line in log_text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        stamp, run_id, msg = m.groups()
        key = "start" if msg.startswith("robot process") and msg.endswith("started") else None
        key = key or next((v for k, v in EVENTS.items() if msg.startswith(k)), None)
        if key:
            out.setdefault(run_id, {}).setdefault(key, _when(stamp))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=int, default=10)
    parser.add_argument("--protocol", choices=["ws", "http"], default="ws")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rpa-bench-exec-"))
    pkg_dir = work / "pkg"
    pkg_dir.mkdir()
    (pkg_dir / "manifest.json").write_text('{"name": "bench", "version": "1", "entry": "tasks.robot"}')
    (pkg_dir / "tasks.robot").write_text(ROBOT)

    bare = []
    for _ in range(args.runs):
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

    node = LiveNode(work / "node", env={"RPA_HEARTBEAT_INTERVAL": "10"}).start()
    log_path = work / "executor.log"
    try:
        secret = node.add_supplier("bench")
        app_id = node.upload_app(build_package(pkg_dir), "bench")
        env = {**os.environ, "RPA_EXECUTOR_SECRET": secret}
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rpa",
                    "executor",
                    "--node",
                    node.url,
                    "--id",
                    "bench-1",
                    "--supplier",
                    "bench",
                    "--protocol",
                    args.protocol,
                    "--work-dir",
                    str(work / "ex"),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        node.wait_robot("bench-1", timeout=30)
        through = []
        for _ in range(args.runs + 1):  # the first run downloads and unpacks the package
            t0 = time.perf_counter()
            run_id = node.start_run(app_id, robotId="bench-1")
            node.wait_status(run_id, {"succeeded", "failed"}, timeout=60)
            through.append(time.perf_counter() - t0)
    finally:
        if "proc" in locals():
            proc.terminate()
            proc.wait(30)
        node.stop()

    runs = list(phases(log_path.read_text()).values())
    first, cached = runs[0], [r for r in runs[1:] if {"execute", "start", "exit", "finish"} <= set(r)]
    to_start = [(r["start"] - r["execute"]) * 1000 for r in cached]
    to_finish = [(r["finish"] - r["exit"]) * 1000 for r in cached]
    print(
        f"executor overhead ({args.protocol}), {len(cached)} cached runs of a one-keyword package; work dir {work}"
    )
    print(
        f"  Execute received -> robot started : p50 {statistics.median(to_start):6.0f} ms  p95 "
        f"{pct(to_start, 0.95):6.0f} ms   (first run, not cached: {(first['start'] - first['execute']) * 1000:.0f} ms)"
        "   target < 300 ms"
    )
    print(
        f"  robot exit -> ReportFinish sent   : p50 {statistics.median(to_finish):6.0f} ms  p95 "
        f"{pct(to_finish, 0.95):6.0f} ms   target < 100 ms"
    )
    print(f"  bare `python -m robot --rpa`      : p50 {statistics.median(bare) * 1000:6.0f} ms")
    print(
        f"  API start -> succeeded in the API : p50 {statistics.median(through[1:]) * 1000:6.0f} ms "
        f"(ratio to bare {statistics.median(through[1:]) / statistics.median(bare):.2f})"
    )


if __name__ == "__main__":
    main()
