"""The reference executor: stays attached to a node, runs what it is told, reports what happened."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from executor import errors
from executor.confirmations import Confirmations
from executor.packages import EnvManager, PackageCache
from executor.reporter import Reporter
from executor.runner import RunSession
from executor.sdk import ConnectionLost, ProtocolError, Transport, make_transport
from executor.sdk import messages as m
from executor.settings import ExecutorSettings
from executor.spool import Spool
from executor.variables import cleanup_runs

log = logging.getLogger(__name__)

VERSION = "rpa-reference-executor/0.1.0"


def collect_metrics(path: Path) -> dict[str, float]:
    """Best-effort {cpu, memory, disk} in percent, standard library only."""
    metrics: dict[str, float] = {}
    with contextlib.suppress(AttributeError, OSError):  # no load average on Windows
        metrics["cpu"] = round(min(os.getloadavg()[0] / (os.cpu_count() or 1) * 100, 100.0), 1)
    try:
        info = {}
        with open("/proc/meminfo") as fh:
            for line in fh:
                key, value = line.split(":", 1)
                info[key] = int(value.split()[0])
        metrics["memory"] = round(100 * (1 - info["MemAvailable"] / info["MemTotal"]), 1)
    except (OSError, KeyError, ValueError):
        pass
    try:
        usage = shutil.disk_usage(path)
        metrics["disk"] = round(100 * usage.used / usage.total, 1)
    except OSError:
        pass
    return metrics


class Executor:
    """Connect with backoff, read commands, heartbeat, and run one run at a time."""

    def __init__(self, settings: ExecutorSettings, transport: Transport | None = None) -> None:
        self.settings = settings
        work = Path(settings.work_dir)
        self.runs_dir = work / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.spool = Spool(work / "spool")
        self.packages = PackageCache(work / "packages")
        self.envs = EnvManager(work / "envs", settings.wheelhouse, settings.index_url)
        self.transport: Transport | None = transport or make_transport(
            settings.protocol,
            settings.node,
            settings.robot_id,
            settings.supplier,
            settings.secret,
            version=VERSION,
        )
        self.reporter = Reporter(self.spool, lambda: self.transport, self._mark_lost)
        self.confirmations = Confirmations(fallback_after=2 * settings.heartbeat_interval)
        self.session: RunSession | None = None
        self._recent: deque[str] = deque(maxlen=200)  # run ids already executed (Execute is at-least-once)
        self._lock = threading.Lock()
        self._finishing_run_id: str | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._online = threading.Event()

    # -- hooks for RunSession ------------------------------------------------------------------
    def report(self, action: str, body: dict[str, Any]) -> None:
        """Spool a report and wake the sender."""
        self.spool.append(action, body)
        self.reporter.wake()

    def require_transport(self) -> Transport:
        """The transport, for file calls of a run (waits a little for a reconnect)."""
        if not self._online.wait(30) or self.transport is None:
            raise ConnectionLost("not connected to the node")
        return self.transport

    def run_finished(self, session: RunSession) -> None:
        with self._lock:
            if self.session is session:
                self.session = None
            # Heartbeats keep naming the run until its ReportFinish has left the spool: a heartbeat
            # naming no run while the run is still open on the node would make the node interrupt it.
            self._finishing_run_id = session.run_id
        if self.transport is not None:
            self.transport.current_run_id = self._reported_run_id()
        cleanup_runs(self.runs_dir, self.settings.keep_runs)

    def _reported_run_id(self) -> str | None:
        """The run heartbeats name: the running one, or one whose ReportFinish is not yet delivered."""
        with self._lock:
            if self.session is not None:
                return self.session.run_id
            finishing = self._finishing_run_id
        if finishing is None:
            return None
        if any(
            e.action == m.REPORT_FINISH and e.body.get("runInstanceId") == finishing
            for e in self.spool.pending()
        ):
            return finishing
        with self._lock:
            if self._finishing_run_id == finishing:
                self._finishing_run_id = None
        return None

    # -- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask :meth:`run_forever` to return (a running run is stopped first)."""
        self._stop.set()

    def _mark_lost(self) -> None:
        self._online.clear()
        self._lost.set()

    def run_forever(self) -> None:
        """Main loop: until :meth:`stop`, stay connected and serve commands."""
        self.reporter.start()
        hb = threading.Thread(target=self._heartbeat_loop, name="rpa-heartbeat", daemon=True)
        hb.start()
        delay = self.settings.backoff_initial
        try:
            while not self._stop.is_set():
                try:
                    self._connect()
                    delay = self.settings.backoff_initial
                    self._serve()
                except ConnectionLost as exc:
                    log.warning(
                        "Robot %s: node unreachable (%s); retrying in %.1f s",
                        self.settings.robot_id,
                        exc,
                        delay,
                    )
                except ProtocolError as exc:
                    hint = (
                        " (check the supplier secret, or ask an admin to enable/approve the robot)"
                        if exc.fatal
                        else ""
                    )
                    log.error(
                        "Robot %s: node refused: %s%s; retrying in %.1f s",
                        self.settings.robot_id,
                        exc,
                        hint,
                        delay,
                    )
                    if exc.fatal:
                        delay = self.settings.backoff_max
                self._online.clear()
                if self.transport is not None:
                    self.transport.close()
                if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                    break
                delay = min(delay * 2, self.settings.backoff_max)
        finally:
            self._shutdown()

    def _connect(self) -> None:
        t = self.transport
        self._lost.clear()
        license_content = t.connect(VERSION)
        t.current_run_id = self._reported_run_id()
        self._online.set()
        log.info(
            "Robot %s: connected to %s over %s%s",
            self.settings.robot_id,
            self.settings.node,
            t.protocol,
            " (license received)" if license_content else "",
        )
        self.reporter.wake()
        self._send_heartbeat()

    def _serve(self) -> None:
        t = self.transport
        while not self._stop.is_set():
            if self._lost.is_set():
                raise ConnectionLost("connection lost")
            cmd = t.next_command(timeout=min(self.settings.heartbeat_interval, 5))
            if cmd is not None:
                self.handle(cmd)

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
            if self._online.is_set():
                self._send_heartbeat()

    def _send_heartbeat(self) -> None:
        t = self.transport
        gen = t.generation
        run_id = t.current_run_id = self._reported_run_id()
        before = time.monotonic()
        token = self.confirmations.token(gen, before) if t.protocol == "ws" else None
        try:
            t.heartbeat(run_id, collect_metrics(Path(self.settings.work_dir)), confirm=token)
        except ConnectionLost as exc:
            log.warning("Robot %s: heartbeat failed: %s", self.settings.robot_id, exc)
            self._mark_lost()
            return
        except ProtocolError as exc:
            log.warning("Robot %s: heartbeat refused: %s", self.settings.robot_id, exc)
            self._mark_lost()
            return
        if t.generation != gen:
            return
        if token is None:  # HTTP: each report was answered on its own
            self.reporter.confirm(gen, before)
        elif (upto := self.confirmations.written(gen, before)) is not None:
            self.reporter.confirm(gen, upto)  # a node without the Confirm extension

    def _on_confirm(self, cmd: m.Command) -> None:
        hit = self.confirmations.confirmed((cmd.body or {}).get("confirm"))
        t = self.transport
        if hit is not None and t is not None and t.generation == hit[0]:
            self.reporter.confirm(*hit)

    def _await_confirms(self, seconds: float) -> None:
        """At shutdown (the command loop has ended): read frames for Confirm answers only."""
        t = self.transport
        deadline = time.monotonic() + seconds
        while t is not None and (left := deadline - time.monotonic()) > 0:
            try:
                cmd = t.next_command(timeout=left)
            except (ConnectionLost, ProtocolError):
                return
            if cmd is not None and cmd.action == m.CONFIRM:
                self._on_confirm(cmd)
                if not self.reporter.unconfirmed():
                    return

    def _shutdown(self) -> None:
        session = self.session
        if session is not None:
            session.request_stop()
            session.finished.wait(self.settings.stop_grace_seconds + 15)
        # Last chance to deliver what is spooled (it stays on disk for the next start otherwise).
        deadline = time.monotonic() + 5
        while len(self.spool) and time.monotonic() < deadline and self._online.is_set():
            self.reporter.drain()
            if self.reporter.unconfirmed():
                self._send_heartbeat()  # WS: its Confirm vouches for what was written before it
                self._await_confirms(0.5)
            else:
                time.sleep(0.05)
        self.reporter.stop()
        if self.transport is not None:
            self.transport.close()

    # -- commands ------------------------------------------------------------------------------
    def handle(self, cmd: m.Command) -> None:
        """React to one command from the node."""
        if cmd.action == m.EXECUTE:
            self._on_execute(cmd)
        elif cmd.action == m.STOP:
            with self._lock:
                session = self.session
            if session is None:
                log.info("Robot %s: Stop received while idle; ignored", self.settings.robot_id)
            else:
                log.info("Run %s: Stop received", session.run_id)
                session.request_stop()
        elif cmd.action == m.CONFIRM:
            self._on_confirm(cmd)
        elif cmd.action == m.SEND_LICENSE:
            log.info("Robot %s: license received", self.settings.robot_id)
        elif cmd.action == m.ERROR:
            log.warning("Robot %s: node error %s %s", self.settings.robot_id, cmd.error_code, cmd.message)
            if cmd.error_code in (10000, 10003):
                self._mark_lost()
        else:
            log.warning("Robot %s: unknown command %s ignored", self.settings.robot_id, cmd.action)

    def _on_execute(self, cmd: m.Command) -> None:
        try:
            job = cmd.execute()
        except ValueError as exc:
            log.error("Robot %s: malformed Execute ignored: %s", self.settings.robot_id, exc)
            run_id = (cmd.body or {}).get("runInstanceId")
            if isinstance(run_id, str) and run_id:
                self.report(
                    m.REPORT_FINISH,
                    {"runInstanceId": run_id, "status": m.STATUS_FAILED, "errorCode": errors.PACKAGE_INVALID},
                )
            return
        key = f"{job.run_instance_id}#{job.attempt or 1}"
        with self._lock:
            busy = self.session
            if key in self._recent:
                log.info("Run %s: repeated Execute ignored", job.run_instance_id)
                return
            if busy is not None:
                log.error(
                    "Run %s: Execute while run %s is executing; refused", job.run_instance_id, busy.run_id
                )
                refused = True
            else:
                refused = False
                self._recent.append(key)
                self.session = RunSession(self, job)
                if self.transport is not None:
                    self.transport.current_run_id = job.run_instance_id
        if refused:
            self.report(
                m.REPORT_LOGS,
                {
                    "runInstanceId": job.run_instance_id,
                    "logs": [
                        m.RunInstanceLog(
                            content=f"Executor busy with run {busy.run_id}", log_level=m.LOG_ERROR
                        ).to_wire()
                    ],
                },
            )
            self.report(
                m.REPORT_FINISH,
                {
                    "runInstanceId": job.run_instance_id,
                    "status": m.STATUS_FAILED,
                    "errorCode": errors.EXECUTOR_BUSY,
                },
            )
            return
        log.info("Run %s: Execute received", job.run_instance_id)
        self.session.start()
