"""Dispatch: from the API call that starts a run to the Execute frame at the executor, and the full loop.

Setup: ``--robots`` WebSocket executors (one gevent process) register and answer every Execute at once
with ReportFinish status 0; they also heartbeat every 5 s (own greenlet). API calls come from a
second gevent process over keep-alive ``http.client`` connections.

Phase 1, latency: ``POST /api/v1/runs {appId}`` paced at ``--rate`` runs/s for ``--seconds`` s (open
loop: each call starts on its tick whatever the previous ones do). Dispatch latency = time the
Execute frame naming the run arrives at the executor minus the time the POST was sent (both
CLOCK_MONOTONIC, which is system-wide on Linux, so the two client processes compare). Also the POST
answer time. Runs without an Execute within ``--grace`` s count as lost.

Phase 2, round-trip throughput: ``--users`` closed-loop users each start a run and poll
``GET /api/v1/runs/{id}`` every ``--poll-ms`` ms until it is ``succeeded``, then start the next, for
``--seconds`` s. Throughput = runs seen succeeded / elapsed.

The same two phases run against the bare Flask + flask-sock baseline (``baselines.py dispatch``:
in-memory queue, POST pushes an Execute frame to an idle connected WebSocket) in the same invocation
(unless ``--no-baseline``).

``--production``: "ours" is the node in production mode, not embedded: gunicorn with ``--workers``
gevent workers (``deploy/gunicorn.conf.py``; ``production.py`` runs ``rpa db upgrade`` first, as
tests/production does) on a new database in the PostgreSQL server ``--database-url`` (dropped at the
end) and the Redis database ``--redis-url`` (flushed first). Robots and API connections land on either
worker, so many runs reach their executor through Redis pub/sub (the scale-out path). Server CPU (in %
of one core: may exceed 100) and RSS are then summed over master + workers.

Run:  .venv/bin/python bench/dispatch.py --robots 50 --rate 200 --seconds 20 --users 50
      .venv/bin/python bench/dispatch.py --production --redis-url redis://127.0.0.1:6390/5 \
          --database-url postgresql+psycopg://postgres@127.0.0.1:5439/postgres
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


# --- worker processes ----------------------------------------------------------------------------------
def robots_worker(cfg: dict, read_command, reply) -> None:
    import gevent
    from gevent.lock import Semaphore

    executes: dict[str, float] = {}
    errors: list[str] = []
    conns: list = []
    finish_sent = [0]

    def robot(idx: int) -> None:
        rid = f"{cfg['prefix']}-{idx:04d}"
        ws = h.RawWs(cfg["host"], cfg["port"], f"/robothub/{rid}")
        lock = Semaphore()
        conns.append(ws)
        ws.send(h.register_frame(rid, cfg["supplier"], cfg["secret"]), h.PROBE)
        while True:
            msg = ws.recv_frame()
            if h.is_probe_reply(msg):
                break
            if msg.get("action") == "Error":
                raise RuntimeError(f"Register refused: {msg.get('body')}")

        def beat() -> None:
            while True:
                gevent.sleep(5)
                with lock:
                    ws.send(h.frame("Heartbeat", {}))

        gevent.spawn(beat)
        ready.append(rid)
        while True:
            msg = ws.recv_frame()
            t = time.monotonic()
            if msg.get("action") == "Execute":
                run_id = msg["body"]["runInstanceId"]
                executes[run_id] = t
                with lock:
                    ws.send(h.frame("ReportFinish", {"runInstanceId": run_id, "status": 0}))
                finish_sent[0] += 1
            elif msg.get("action") == "Error":
                errors.append(json.dumps(msg.get("body"))[:200])

    ready: list[str] = []
    greenlets = [gevent.spawn(robot, i) for i in range(cfg["robots"])]
    deadline = time.monotonic() + 60
    while len(ready) < cfg["robots"] and time.monotonic() < deadline:
        if any(g.dead for g in greenlets):
            break
        gevent.sleep(0.05)
    reply({"ready": len(ready), "failed": [repr(g.exception) for g in greenlets if g.dead][:3]})
    while True:
        cmd = read_command()
        if cmd is None or cmd["cmd"] == "stop":
            gevent.killall(greenlets, timeout=5)
            return
        if cmd["cmd"] == "executes":
            reply({"executes": executes, "errors": errors[:20], "error_count": len(errors)})


def poster_worker(cfg: dict, read_command, reply) -> None:
    import gevent
    from gevent.pool import Pool

    api = h.HttpPool(cfg["host"], cfg["port"], cfg["connections"], cfg.get("token"))
    body = {"appId": cfg["app"]} if cfg.get("app") else {}

    def post() -> tuple[str | None, float, float]:
        t0 = time.monotonic()
        status, data = api.call("POST", "/api/v1/runs", body)
        t1 = time.monotonic()
        if status >= 300:
            return None, t0, t1
        return data["resultValue"]["runInstanceId"], t0, t1

    def paced(rate: float, seconds: float) -> dict:
        pool = Pool(cfg["connections"] * 4)
        sent: list[tuple[str | None, float, float]] = []
        start = time.monotonic()
        i = 0
        while i < rate * seconds:
            due = start + i / rate
            now = time.monotonic()
            if due > now:
                gevent.sleep(due - now)
            pool.spawn(lambda: sent.append(post()))
            i += 1
        pool.join(timeout=60)
        return {"sent": sent, "elapsed": time.monotonic() - start}

    def loop(users: int, seconds: float, poll: float) -> dict:
        done: list[float] = []
        failures: list[str] = []
        gets = [0]
        stop_at = time.monotonic() + seconds

        def user() -> None:
            while time.monotonic() < stop_at:
                run_id, t0, _ = post()
                if run_id is None:
                    failures.append("POST failed")
                    continue
                while True:
                    gevent.sleep(poll)
                    status, data = api.call("GET", f"/api/v1/runs/{run_id}")
                    gets[0] += 1
                    st = data.get("resultValue", {}).get("status") if status == 200 else None
                    if st == "succeeded":
                        done.append(time.monotonic() - t0)
                        break
                    if st in ("failed", "cancelled", "interrupted", "timed_out") or status >= 300:
                        failures.append(f"{run_id}: {status} {st}")
                        break

        start = time.monotonic()
        gevent.joinall([gevent.spawn(user) for _ in range(users)])
        return {
            "done": done,
            "elapsed": time.monotonic() - start,
            "failures": failures[:10],
            "failure_count": len(failures),
            "gets": gets[0],
        }

    while True:
        cmd = read_command()
        if cmd is None or cmd["cmd"] == "stop":
            return
        if cmd["cmd"] == "paced":
            reply(paced(cmd["rate"], cmd["seconds"]))
        elif cmd["cmd"] == "loop":
            reply(loop(cmd["users"], cmd["seconds"], cmd["poll_ms"] / 1000))


def worker_main(cfg: dict) -> None:
    from gevent import monkey

    monkey.patch_all()
    h.raise_nofile()
    read_command, reply = h.worker_channel()
    (robots_worker if cfg["role"] == "robots" else poster_worker)(cfg, read_command, reply)


# --- controller -----------------------------------------------------------------------------------------
def start_server(args, target: str, workdir: Path) -> h.Server:
    """The server under test: ``node`` (embedded), ``production`` (gunicorn, PostgreSQL, Redis) or
    ``baseline``."""
    if target == "node":
        return h.start_node(workdir / "node", env=h.diag_env(sql_log=args.sql_trace))
    if target == "production":
        import production

        return production.GunicornNode(
            workdir / "production", args.database_url, args.redis_url, args.workers
        )
    return h.start_baseline("dispatch", workdir / "baseline")


def run_target(args, target: str, workdir: Path) -> dict:
    """Both phases against one server; returns the figures (also printed)."""
    server = start_server(args, target, workdir)
    robots = poster = None
    out: dict = {"target": target}
    try:
        if target == "baseline":
            common = {"supplier": "x", "secret": "x", "app": None, "token": None}
        else:
            api = h.Api(server.url)
            fx = h.node_fixture(api, "dispatch")
            common = {**fx, "token": api.token}  # supplier, secret, app
        common.update(host="127.0.0.1", port=server.port)
        robots = h.Worker(
            Path(__file__), {**common, "role": "robots", "robots": args.robots, "prefix": "disp"}
        )
        started = robots.recv()
        if started["ready"] != args.robots:
            raise RuntimeError(f"{target}: only {started['ready']} of {args.robots} robots ready: {started}")
        poster = h.Worker(Path(__file__), {**common, "role": "poster", "connections": args.connections})
        time.sleep(1)
        if target == "production":
            sockets = ", ".join(f"pid {p}: {n}" for p, n in server.sockets_per_worker().items())
            print(f"  [{target}] open sockets per gunicorn worker: {sockets}", flush=True)
        # phase 1: paced dispatch latency
        spy = None
        if target != "baseline" and args.profile and args.profile_phase == "paced":
            spy = h.start_pyspy(server.pid, args.seconds, args.profile, subprocesses=server.tree)
        cpu0 = server.cpu_seconds()
        paced = poster.call(cmd="paced", rate=args.rate, seconds=args.seconds)
        cpu, usage = server.usage(cpu0, paced["elapsed"], len(paced["sent"]))
        if spy is not None:
            spy.wait(30)
            print(f"  [{target}] py-spy profile of the node over the paced phase: {args.profile}")
        time.sleep(min(args.grace, 2))
        wanted = {rid for rid, _, _ in paced["sent"] if rid}
        deadline = time.monotonic() + args.grace
        while True:
            ex = robots.call(cmd="executes")
            if wanted <= ex["executes"].keys() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        execs = ex["executes"]
        lat = [execs[rid] - t0 for rid, t0, _ in paced["sent"] if rid in execs]
        api_lat = [t1 - t0 for rid, t0, t1 in paced["sent"] if rid]
        out.update(
            posted=len(paced["sent"]),
            post_failed=sum(1 for rid, _, _ in paced["sent"] if not rid),
            lost=len(wanted - execs.keys()),
            p50=h.pct(lat, 50),
            p90=h.pct(lat, 90),
            p99=h.pct(lat, 99),
            max=max(lat or [float("nan")]),
            api_p50=h.pct(api_lat, 50),
            api_p99=h.pct(api_lat, 99),
            achieved_rate=len(paced["sent"]) / paced["elapsed"],
            cpu_paced=cpu,
            robot_errors=ex["error_count"],
        )
        print(
            f"  [{target}] paced {args.rate}/s x {args.seconds:g}s: posted {out['posted']} "
            f"({out['achieved_rate']:.0f}/s), POST failed {out['post_failed']}, no Execute {out['lost']} | "
            f"API call -> Execute p50 {h.ms(out['p50'])} p90 {h.ms(out['p90'])} p99 {h.ms(out['p99'])} "
            f"max {h.ms(out['max'])} ms | POST answer p50 {h.ms(out['api_p50'])} p99 {h.ms(out['api_p99'])} ms"
            f" | {usage} | Error frames {ex['error_count']}",
            flush=True,
        )
        for e in ex["errors"][:3]:
            print(f"      error frame: {e}", flush=True)
        time.sleep(1)
        # phase 2: closed-loop round trip
        spy = None
        if target != "baseline" and args.profile and args.profile_phase == "round-trip":
            spy = h.start_pyspy(server.pid, args.seconds, args.profile, subprocesses=server.tree)
        cpu0 = server.cpu_seconds()
        sql0 = h.sql_counts(args.sql_trace) if target == "node" and args.sql_trace else {}
        loop = poster.call(cmd="loop", users=args.users, seconds=args.seconds, poll_ms=args.poll_ms)
        cpu, usage = server.usage(cpu0, loop["elapsed"], len(loop["done"]))
        if spy is not None:
            spy.wait(30)
            print(f"  [{target}] py-spy profile of the node over the round-trip phase: {args.profile}")
        rt = loop["done"]
        if target == "node" and args.sql_trace:
            time.sleep(1.5)
            sql1 = h.sql_counts(args.sql_trace)
            per = {k: (v - sql0.get(k, 0)) / max(1, len(rt)) for k, v in sql1.items() if v - sql0.get(k, 0)}
            print(
                f"  [{target}] SQLite statements per round-trip run (incl. the GET polls): "
                + ", ".join(f"{k} {v:.1f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]))
                + f"; total {sum(per.values()):.1f}",
                flush=True,
            )
        out.update(
            rt_runs=len(rt),
            rt_per_s=len(rt) / loop["elapsed"],
            rt_p50=h.pct(rt, 50),
            rt_p99=h.pct(rt, 99),
            rt_failures=loop["failure_count"],
            cpu_loop=cpu,
            gets_per_run=loop["gets"] / max(1, len(rt)),
        )
        print(
            f"  [{target}] round trip, {args.users} users: {len(rt)} runs in {loop['elapsed']:.1f}s = "
            f"{out['rt_per_s']:.0f} runs/s (start -> Execute -> ReportFinish -> succeeded in the API) | "
            f"per run p50 {h.ms(out['rt_p50'])} p99 {h.ms(out['rt_p99'])} ms | failures "
            f"{loop['failure_count']} | GETs/run {out['gets_per_run']:.1f} | {usage}",
            flush=True,
        )
        for f in loop["failures"][:3]:
            print(f"      failure: {f}", flush=True)
    finally:
        for wk in (poster, robots):
            if wk is not None:
                try:
                    wk.send(cmd="stop")
                except Exception:
                    pass
                wk.close()
        server.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--robots", type=int, default=50)
    ap.add_argument("--rate", type=float, default=200.0, help="runs started per second in phase 1")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each phase")
    ap.add_argument("--users", type=int, default=50, help="closed-loop users in phase 2")
    ap.add_argument("--poll-ms", type=float, default=5.0, help="phase 2: GET interval while waiting")
    ap.add_argument("--connections", type=int, default=32, help="keep-alive API connections")
    ap.add_argument("--grace", type=float, default=15.0, help="seconds to wait for late Execute frames")
    ap.add_argument("--p50-ms", type=float, default=5.0)
    ap.add_argument("--p99-ms", type=float, default=25.0)
    ap.add_argument("--min-rps", type=float, default=300.0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--production", action="store_true", help="ours = gunicorn + PostgreSQL + Redis")
    ap.add_argument("--database-url", default="", help="--production: PostgreSQL server (a new db is made)")
    ap.add_argument("--redis-url", default="", help="--production: Redis database (flushed first)")
    ap.add_argument("--workers", type=int, default=2, help="--production: gunicorn workers")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy raw profile of the node")
    ap.add_argument("--profile-phase", choices=("paced", "round-trip"), default="round-trip")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument(
        "--sql-trace",
        type=Path,
        default=None,
        help="diagnostic: count the node's SQLite statements per run (bench/diag)",
    )
    args = ap.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    if args.production and not (args.database_url and args.redis_url):
        ap.error("--production needs --database-url and --redis-url")
    if args.production and args.sql_trace:
        ap.error("--sql-trace counts SQLite statements: embedded mode only")
    h.raise_nofile()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    print(
        f"dispatch: {args.robots} robots, {args.rate:g} runs/s paced, {args.users} round-trip users, "
        f"{args.seconds:g}s per phase, workdir {workdir}",
        flush=True,
    )
    if args.production:
        print(f"ours: production mode, gunicorn with {args.workers} gevent workers, PostgreSQL + Redis")
    ours = run_target(args, "production" if args.production else "node", workdir)
    base = {} if args.no_baseline else run_target(args, "baseline", workdir)
    nan = float("nan")
    print("\nmetric                         |     ours |     bare | ratio (ours/bare)")
    for label, key, scale in (
        ("API call -> Execute p50 (ms)", "p50", 1000),
        ("API call -> Execute p99 (ms)", "p99", 1000),
        ("POST /runs answer p99 (ms)", "api_p99", 1000),
        ("round trip throughput (runs/s)", "rt_per_s", 1),
        ("round trip per run p99 (ms)", "rt_p99", 1000),
    ):
        o, b = ours.get(key, nan), base.get(key, nan)
        print(f"{label:<30} | {o * scale:8.2f} | {b * scale:8.2f} | {h.ratio(o, b)}")
    ok_lat = ours["p50"] * 1000 < args.p50_ms and ours["p99"] * 1000 < args.p99_ms and ours["lost"] == 0
    ok_rps = ours["rt_per_s"] >= args.min_rps and ours["rt_failures"] == 0
    print(
        f"\ntarget p50 < {args.p50_ms:g} ms and p99 < {args.p99_ms:g} ms at {args.rate:g} runs/s: "
        f"{'MET' if ok_lat else 'MISSED'}; target >= {args.min_rps:g} runs/s round trip: "
        f"{'MET' if ok_rps else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
