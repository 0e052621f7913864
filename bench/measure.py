"""What a benchmark reads off the process under test, and how it prints the figures: percentiles, VmRSS and
CPU from /proc (of one process, or of a process tree such as gunicorn's master and workers), rows stored,
statement counts from bench/diag, a py-spy profile.

Part of the benchmark harness (``harness.py`` re-exports it).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# --- statistics and printing ---------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def ratio(ours: float, base: float) -> str:
    if not base or base != base or ours != ours:
        return "n/a"
    return f"{ours / base:.2f}"


# --- the process under test, from /proc and its files -------------------------------------------------
def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1]); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def tree_pids(pid: int) -> list[int]:
    """``pid`` followed by all its live descendants, found by scanning /proc/*/stat for parent pids
    (this kernel has no /proc/<pid>/task/<tid>/children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process tree: utime + stime of ``pid`` and every live descendant, plus cutime +
    cstime of each (the CPU of children they already reaped, e.g. a gunicorn worker that was replaced), so
    the figure only grows while the tree runs."""
    total = 0
    for p in tree_pids(pid):
        fields = _stat_fields(p)
        if fields is not None:
            total += sum(int(v) for v in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_kib(pid: int) -> int:
    """Sum of VmRSS over ``pid`` and its descendants in KiB (pages shared between them count once per
    process, so this is an upper bound of the memory the tree holds)."""
    return sum(rss_kib(p) for p in tree_pids(pid))


def sqlite_count(path: Path, table: str = "run_instance_log") -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def sql_counts(path: Path) -> dict[str, int]:
    """The latest cumulative statement counts written by bench/diag (empty if none yet)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    if not lines:
        return {}
    return {k: int(v) for k, v in (item.split("=") for item in lines[-1].split()[1:])}


def start_pyspy(
    pid: int, seconds: float, out: Path, rate: int = 100, subprocesses: bool = False
) -> subprocess.Popen | None:
    """Sample ``pid`` (and its child processes with ``subprocesses``, e.g. gunicorn workers) with py-spy
    (raw collapsed stacks) for ``seconds``; None if py-spy is missing."""
    exe = ROOT / ".venv" / "bin" / "py-spy"
    if not exe.exists():
        print("  (py-spy not installed in the venv: no profile)", flush=True)
        return None
    argv = [
        str(exe),
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        str(rate),
        "-f",
        "raw",
        "-o",
        str(out),
        "--nonblocking",
        *(["--subprocesses"] if subprocesses else []),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
