"""Hub capacity: how many WebSocket executors one node process holds within the latency/memory target.

Load: N simulated executors (spread over ``--clients`` gevent processes) each send a Heartbeat every
``--hb-interval`` s and a 15-line ReportLogs every ``--log-interval`` s (both divided by
``--time-scale``; first send at a random phase). Every executor first registers, gets a run of its
own through ``POST /api/v1/runs {appId, robotId}`` (waits for the Execute frame), and names that run
in its heartbeats and logs, as a real executor does.

Handling latency: Heartbeat and ReportLogs have no answer on success. Each of them is therefore sent
together with a probe frame ``{"action": "BenchProbe"}`` (an unknown action): the node handles the
frames of one connection in order and answers the probe with Error 10001, so the time from sending
the pair to receiving that Error is the time the node took to handle the frame (for ReportLogs: until
the lines are committed, since the node only reads the next frame after the group commit) plus the
cost of the probe, which is one JSON parse without database access. Any other Error before the probe
answer is counted as an error of that frame.

With ``--log-fraction F`` < 1 only every (1/F)-th executor holds a run and sends logs, F times as often,
so the aggregate ReportLogs rate (N / log-interval per second, 15 lines each) is unchanged while the setup
(one run started through the API per log-sending executor) is shorter.

Steps: N grows through ``--steps`` (connections are added, not restarted). At each step, after
``--settle`` s, a ``--window`` s window is measured: p50/p99/max latency of heartbeats and of
ReportLogs, node VmRSS (max over the window, /proc/PID/status), node CPU, errors, and log lines
accepted versus rows in ``run_instance_log`` (SQLite, read-only). A step passes with p99 < ``--p99-ms``
for both kinds, VmRSS < ``--rss-mib``, zero errors and zero lost lines. The largest passing N is the
result. The same steps then run against the bare flask-sock baseline (``baselines.py hub``).

Run:  .venv/bin/python bench/hub_capacity.py --steps 1000,2500,5000,10000 --log-fraction 0.2 --window 15

Diagnostics: ``--profile FILE`` (py-spy of the node over the last window; summarise with profile_top.py),
``--gc-trace FILE`` (the node's generation-2 garbage collections, via bench/diag/sitecustomize.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h
from hub_executors import worker_main


# --- controller -------------------------------------------------------------------------------------
def run_target(args, target: str, workdir: Path, steps: list[int], deadline: float) -> list[dict]:
    if target == "node":
        server = h.start_node(workdir / "node", env=h.diag_env(gc_log=args.gc_trace))
        api = h.Api(server.url)
        fx = h.node_fixture(api, "hub")
        count_rows = lambda: h.sqlite_count(workdir / "node" / "node.db")  # noqa: E731
        base_cfg = {"supplier": fx["supplier"], "secret": fx["secret"], "app": fx["app"], "token": api.token}
    else:
        server = h.start_baseline("hub", workdir / "baseline")
        count_rows = lambda: h.sqlite_count(workdir / "baseline" / "baseline-hub.db")  # noqa: E731
        base_cfg = {"supplier": "x", "secret": "x", "app": None, "token": None}
    workers = []
    results: list[dict] = []
    try:
        for w in range(args.clients):
            cfg = {
                **base_cfg,
                "host": "127.0.0.1",
                "port": server.port,
                "prefix": f"hub{w}",
                "hb_interval": args.hb_interval,
                "log_interval": args.log_interval,
                "time_scale": args.time_scale,
                "log_lines": args.log_lines,
                "log_fraction": args.log_fraction,
                "setup_concurrency": args.setup_concurrency,
                "api_concurrency": 8,
            }
            workers.append(h.Worker(Path(__file__), cfg))
        for n in steps:
            if time.monotonic() > deadline:
                print(f"  [{target}] N={n}: skipped (time budget --seconds exhausted)", flush=True)
                break
            per = [n // args.clients + (1 if i < n % args.clients else 0) for i in range(args.clients)]
            t_grow = time.monotonic()
            for wk, k in zip(workers, per, strict=True):
                wk.send(cmd="grow", n=k)
            grow = [wk.recv() for wk in workers]
            grow_s = time.monotonic() - t_grow
            if server.proc.poll() is not None:
                print(
                    f"  [{target}] the server process exited with code {server.proc.returncode} "
                    f"(log: {server.log})",
                    flush=True,
                )
            ready = sum(g["ready"] for g in grow)
            failed = sum(g["failed"] for g in grow)
            time.sleep(args.settle)
            spy = None
            if target == "node" and args.profile and n == steps[-1]:
                spy = h.start_pyspy(server.pid, args.window, args.profile)
            cpu0, t0 = h.cpu_seconds(server.pid), time.monotonic()
            rss = 0.0
            while time.monotonic() - t0 < args.window:
                rss = max(rss, server.rss_mib())
                time.sleep(0.5)
            t1 = time.monotonic()
            cpu = (h.cpu_seconds(server.pid) - cpu0) / (t1 - t0)
            stats = [wk.call(cmd="stats", since=t0, until=t1) for wk in workers]
            if spy is not None:
                spy.wait(30)
                print(f"  [{target}] py-spy profile of the node over this window: {args.profile}", flush=True)
            rows = count_rows()
            accepted = sum(s["lines"] for s in stats)
            hb = [x for s in stats for x in s["hb"]]
            lg = [x for s in stats for x in s["log"]]
            errs = [e for s in stats for e in s["errors"]]
            res = {
                "target": target,
                "n": n,
                "ready": ready,
                "setup_failed": failed,
                "grow_s": grow_s,
                "hb_count": len(hb),
                "hb_p50": h.pct(hb, 50),
                "hb_p99": h.pct(hb, 99),
                "hb_max": max(hb or [0]),
                "log_count": len(lg),
                "log_p50": h.pct(lg, 50),
                "log_p99": h.pct(lg, 99),
                "log_max": max(lg or [0]),
                "rss_mib": rss,
                "cpu": cpu,
                "errors": len(errs) + failed,
                "lost": max(0, accepted - rows),
                "accepted": accepted,
                "rows": rows,
            }
            res["pass"] = (
                ready == n
                and res["errors"] == 0
                and res["lost"] == 0
                and res["rss_mib"] < args.rss_mib
                and res["hb_p99"] * 1000 < args.p99_ms
                and res["log_p99"] * 1000 < args.p99_ms
            )
            results.append(res)
            print(
                f"  [{target}] N={n:>6} ready={ready} grow={grow_s:.0f}s | heartbeat n={len(hb)} "
                f"p50={h.ms(res['hb_p50'])} p99={h.ms(res['hb_p99'])} max={h.ms(res['hb_max'])} ms | "
                f"ReportLogs n={len(lg)} p50={h.ms(res['log_p50'])} p99={h.ms(res['log_p99'])} "
                f"max={h.ms(res['log_max'])} ms | RSS {rss:.0f} MiB | CPU {cpu * 100:.0f}% | "
                f"errors {res['errors']} lost {res['lost']} | {'PASS' if res['pass'] else 'FAIL'}",
                flush=True,
            )
            for e in (errs + [s for g in grow for s in g["sample"]])[:3]:
                print(f"      error: {e}", flush=True)
            if not res["pass"] and args.stop_on_fail:
                break
        totals = [wk.call(cmd="stop") for wk in workers]
        time.sleep(0.5)
        accepted, rows = sum(t["lines"] for t in totals), count_rows()
        print(
            f"  [{target}] end: log lines accepted {accepted}, rows stored {rows}, "
            f"lost {max(0, accepted - rows)}, errors {sum(t['errors'] for t in totals)}",
            flush=True,
        )
        if results:
            results[-1]["final_lost"] = max(0, accepted - rows)
    finally:
        for wk in workers:
            wk.close()
        server.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--steps", default="1000,2500,5000,10000", help="executor counts, ascending")
    ap.add_argument("--clients", type=int, default=2, help="load-generator processes")
    ap.add_argument("--hb-interval", type=float, default=10.0)
    ap.add_argument("--log-interval", type=float, default=30.0)
    ap.add_argument("--log-lines", type=int, default=15)
    ap.add_argument(
        "--log-fraction",
        type=float,
        default=1.0,
        help="share of executors that hold a run and send logs (more often, so the aggregate "
        "ReportLogs rate stays N/log-interval); below 1 it shortens the setup",
    )
    ap.add_argument("--time-scale", type=float, default=1.0, help="divide both intervals by this")
    ap.add_argument("--window", type=float, default=20.0, help="measured seconds per step")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds between growing and measuring")
    ap.add_argument("--setup-concurrency", type=int, default=32, help="registrations in flight per client")
    ap.add_argument("--seconds", type=float, default=150.0, help="time budget per target (node, baseline)")
    ap.add_argument("--p99-ms", type=float, default=50.0)
    ap.add_argument("--rss-mib", type=float, default=1024.0)
    ap.add_argument(
        "--baseline",
        choices=["all", "max", "none"],
        default="all",
        help="baseline steps: all, only the largest N the node reached, or none",
    )
    ap.add_argument("--stop-on-fail", action="store_true", help="stop stepping at the first failing N")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument(
        "--gc-trace",
        type=Path,
        default=None,
        help="diagnostic: log the node's garbage collections to this file (bench/diag)",
    )
    ap.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy raw profile of the node during the last step's window (see profile_top.py)",
    )
    args = ap.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    h.raise_nofile()
    steps = [int(x) for x in args.steps.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-hub-"))
    print(
        f"hub_capacity: steps {steps}, heartbeat every {args.hb_interval / args.time_scale:g}s, "
        f"{args.log_lines}-line ReportLogs every {args.log_interval / args.time_scale:g}s, window "
        f"{args.window:g}s, workdir {workdir}",
        flush=True,
    )
    ours = run_target(args, "node", workdir, steps, time.monotonic() + args.seconds)
    base: list[dict] = []
    if args.baseline != "none" and ours:
        bsteps = steps[: len(ours)] if args.baseline == "all" else [ours[-1]["n"]]
        base = run_target(args, "baseline", workdir, bsteps, time.monotonic() + args.seconds)
    print(
        "\nN       | heartbeat p99 ms (ours / bare / ratio) | ReportLogs p99 ms (ours / bare / ratio) "
        "| RSS MiB (ours / bare) | pass"
    )
    by_n = {r["n"]: r for r in base}
    for r in ours:
        b = by_n.get(r["n"], {})
        print(
            f"{r['n']:>7} | {h.ms(r['hb_p99'])} / {h.ms(b.get('hb_p99', float('nan')))} / "
            f"{h.ratio(r['hb_p99'], b.get('hb_p99'))} | {h.ms(r['log_p99'])} / "
            f"{h.ms(b.get('log_p99', float('nan')))} / {h.ratio(r['log_p99'], b.get('log_p99'))} | "
            f"{r['rss_mib']:.0f} / {b.get('rss_mib', float('nan')):.0f} | {'PASS' if r['pass'] else 'FAIL'}"
        )
    passing = [r["n"] for r in ours if r["pass"]]
    print(
        f"\nLargest N meeting the target (p99 < {args.p99_ms:g} ms, RSS < {args.rss_mib:g} MiB, no errors, "
        f"no lost lines): {max(passing) if passing else 'none'}"
    )


if __name__ == "__main__":
    main()
