"""The simulated executors of ``hub_capacity.py``: one load-generator process (started by the controller as
``hub_capacity.py --worker CONFIG``) holding many WebSocket executors on gevent.

Each executor registers and, if it is one of the ``log_fraction`` that send logs, gets a run of its own;
then it sends a Heartbeat every ``hb_interval`` s and (with a run) a ReportLogs every ``log_interval`` ×
``log_fraction`` s, both divided by ``time_scale``, each with the latency probe (see hub_capacity.py). Commands from the controller, one JSON line each on stdin: ``grow`` to ``n`` executors,
``stats`` of a time window, ``stop``.
"""

from __future__ import annotations

import json
import random
import time

import harness as h


# --- worker process -----------------------------------------------------------------------------------
def worker_main(cfg: dict) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import requests
    from gevent.event import Event
    from gevent.lock import Semaphore
    from gevent.queue import Queue

    h.raise_nofile()
    read_command, reply = h.worker_channel()
    setup_sem = Semaphore(cfg["setup_concurrency"])
    sessions: Queue = Queue()
    for _ in range(cfg["api_concurrency"]):
        s = requests.Session()
        if cfg.get("token"):
            s.headers["Authorization"] = f"Bearer {cfg['token']}"
        sessions.put(s)
    hb_int = cfg["hb_interval"] / cfg["time_scale"]
    log_int = cfg["log_interval"] / cfg["time_scale"]
    st = {"ready": 0, "failed": 0, "pending": 0, "stop": False, "busy": 0, "lines": 0}
    hb_rec: list[tuple[float, float]] = []
    log_rec: list[tuple[float, float]] = []
    errors: list[tuple[float, str]] = []
    socks: list = []
    greenlets: list = []
    grown = Event()
    base = f"http://{cfg['host']}:{cfg['port']}"

    def await_probe(ws, timeout: float = 30.0) -> list[str]:
        """Read until the probe's Error; return the other Error messages seen before it."""
        bad = []
        with gevent.Timeout(timeout, TimeoutError(f"no probe answer within {timeout}s")):
            while True:
                msg = ws.recv_frame()
                if h.is_probe_reply(msg):
                    return bad
                if msg.get("action") == "Error":
                    bad.append(json.dumps(msg.get("body"))[:200])

    def start_run(robot_id: str) -> str:
        s = sessions.get()
        try:
            r = s.post(f"{base}/api/v1/runs", json={"appId": cfg["app"], "robotId": robot_id}, timeout=60)
        finally:
            sessions.put(s)
        if r.status_code >= 300:
            raise RuntimeError(f"POST /runs {r.status_code}: {r.text[:200]}")
        return r.json()["resultValue"]["runInstanceId"]

    def robot(idx: int) -> None:
        rid = f"{cfg['prefix']}-{idx:05d}"
        frac = cfg["log_fraction"]
        has_run = int((idx + 1) * frac) > int(idx * frac)  # this executor holds a run and sends logs
        try:
            with setup_sem:
                ws = h.RawWs(cfg["host"], cfg["port"], f"/robothub/{rid}")
                socks.append(ws)
                ws.send(h.register_frame(rid, cfg["supplier"], cfg["secret"]), h.PROBE)
                bad = await_probe(ws)
                if bad:
                    raise RuntimeError(f"Register refused: {bad[0]}")
                if not has_run:
                    run_id = None
                elif cfg.get("app"):
                    run_id = start_run(rid)
                    with gevent.Timeout(60, TimeoutError("no Execute within 60s")):
                        while True:
                            msg = ws.recv_frame()
                            if msg.get("action") == "Execute" and msg["body"]["runInstanceId"] == run_id:
                                break
                else:
                    run_id = f"r_{rid}"
                hb = h.frame("Heartbeat", {"runInstanceId": run_id} if run_id else {})
                ws.send(hb, h.PROBE)
                bad = await_probe(ws)
                if bad:
                    raise RuntimeError(f"Heartbeat refused: {bad[0]}")
            st["ready"] += 1
        except Exception as exc:
            st["failed"] += 1
            errors.append((time.monotonic(), f"setup {rid}: {exc!r}"[:300]))
            return
        finally:
            st["pending"] -= 1
            if st["pending"] == 0:
                grown.set()
        lines = h.log_lines(cfg["log_lines"], rid)
        logs = h.logs_frame(run_id, lines)
        now = time.monotonic()
        my_log_int = log_int * frac  # fewer senders, same aggregate ReportLogs rate
        next_hb = now + random.uniform(0, hb_int)
        next_log = now + random.uniform(0, my_log_int) if has_run else float("inf")
        while not st["stop"]:
            now = time.monotonic()
            due = min(next_hb, next_log)
            if due > now:
                gevent.sleep(due - now)
                continue
            if next_log <= next_hb:
                kind, data, rec = "log", logs, log_rec
                next_log += my_log_int
            else:
                kind, data, rec = "hb", hb, hb_rec
                next_hb += hb_int
            st["busy"] += 1
            t0 = time.monotonic()
            try:
                ws.send(data, h.PROBE)
                bad = await_probe(ws)
                lat = time.monotonic() - t0
                rec.append((t0, lat))
                if bad:
                    errors.extend((t0, f"{kind} {rid}: {b}") for b in bad)
                elif kind == "log":
                    st["lines"] += len(lines)
            except Exception as exc:
                errors.append((t0, f"{kind} {rid}: {exc!r}"[:300]))
                return
            finally:
                st["busy"] -= 1

    count = 0
    while True:
        cmd = read_command()
        if cmd is None or cmd["cmd"] == "stop":
            st["stop"] = True
            deadline = time.monotonic() + 40
            while st["busy"] and time.monotonic() < deadline:
                gevent.sleep(0.01)
            gevent.killall(greenlets, block=True, timeout=5)
            for ws in socks:
                ws.close()
            if cmd is not None:
                reply({"lines": st["lines"], "errors": len(errors), "sample": [e[1] for e in errors[:5]]})
            return
        if cmd["cmd"] == "grow":
            t0 = time.monotonic()
            grown.clear()
            add = cmd["n"] - count
            st["pending"] += add
            for i in range(count, cmd["n"]):
                greenlets.append(gevent.spawn(robot, i))
            count = cmd["n"]
            if add > 0:
                grown.wait()
            reply(
                {
                    "ready": st["ready"],
                    "failed": st["failed"],
                    "seconds": time.monotonic() - t0,
                    "sample": [e[1] for e in errors[:3]],
                }
            )
        elif cmd["cmd"] == "stats":
            a, b = cmd["since"], cmd["until"]
            reply(
                {
                    "hb": [lat for t, lat in hb_rec if a <= t < b],
                    "log": [lat for t, lat in log_rec if a <= t < b],
                    "errors": [m for t, m in errors if a <= t < b][:20],
                    "errors_total": len(errors),
                    "lines": st["lines"],
                }
            )
