"""Diagnostics only, loaded by the node when this directory is on its PYTHONPATH (benchmarks' --gc-trace /
--sql-trace options). Nothing here changes behaviour; it only observes.

BENCH_GC_LOG=FILE   every generation-2 garbage collection (pause, objects) and per-generation totals.
BENCH_SQL_LOG=FILE  cumulative count of SQLite statements by verb (SELECT, INSERT, UPDATE, COMMIT, ...),
                    written once a second (sqlite3.dbapi2.connect wrapped to set a trace callback).
"""

import os
import time

_gc_path = os.environ.get("BENCH_GC_LOG")
if _gc_path:
    import gc

    _t = [0.0]
    _tot = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
    _last = [time.monotonic()]

    def _cb(phase: str, info: dict) -> None:
        if phase == "start":
            _t[0] = time.perf_counter()
            return
        gen, dur = info["generation"], time.perf_counter() - _t[0]
        _tot[gen][0] += 1
        _tot[gen][1] += dur
        now = time.monotonic()
        if gen == 2 or now - _last[0] > 5:
            _last[0] = now
            with open(_gc_path, "a") as fh:
                fh.write(
                    f"{now:.3f} gen{gen} {dur * 1000:.1f}ms collected={info['collected']} objects="
                    f"{len(gc.get_objects()) if gen == 2 else -1} totals="
                    + " ".join(f"g{g}:{n}/{s:.2f}s" for g, (n, s) in _tot.items())
                    + "\n"
                )

    gc.callbacks.append(_cb)

_sql_path = os.environ.get("BENCH_SQL_LOG")
if _sql_path:
    _counts: dict[str, int] = {}
    _written = [0.0]

    def _trace(statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
        _counts[verb] = _counts.get(verb, 0) + 1
        now = time.monotonic()
        if now - _written[0] > 1:
            _written[0] = now
            with open(_sql_path, "a") as fh:
                fh.write(f"{now:.3f} " + " ".join(f"{k}={v}" for k, v in sorted(_counts.items())) + "\n")

    import sqlite3.dbapi2

    _connect = sqlite3.dbapi2.connect

    def _traced_connect(*args, **kwargs):
        conn = _connect(*args, **kwargs)
        conn.set_trace_callback(_trace)
        return conn

    sqlite3.dbapi2.connect = _traced_connect
