"""One run: prepare the package, run ``python -m robot --rpa``, stream its events, stop, report."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from executor import errors, process
from executor.errors import Outcome, RunError, map_exit
from executor.packages import Package
from executor.sdk import messages as m
from executor.sdk.errors import SdkError
from executor.variables import build_variables
from executor.video import Recorder, display_for_run

if TYPE_CHECKING:
    from executor.agent import Executor

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
LISTENER = HERE / "rf_listener.py"
LIBRARIES = HERE / "libraries"


class Cancelled(Exception):
    """Stop arrived before the robot process started."""


class RunSession:
    """Executes one ``Execute`` in its own thread; :meth:`request_stop` cancels it."""

    def __init__(self, host: Executor, job: m.ExecuteBody) -> None:
        self.host = host
        self.job = job
        self.run_id = job.run_instance_id
        self.settings = host.settings
        self.dir = host.runs_dir / f"{self.run_id}-{job.attempt or 1}"
        self.cancelled = False
        self.finished = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.outcome: Outcome | None = None
        self._buffer: list[m.RunInstanceLog] = []
        self._buf_lock = threading.Lock()
        self._tail_stop = threading.Event()
        self._events_pos = 0
        self._checkpoint_dirty = False
        self._checkpoint_uploaded_at = 0.0
        self.thread = threading.Thread(target=self.run, name=f"run-{self.run_id}", daemon=True)

    # -- public --------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        """Stop requested by the node: the outcome is ``cancelled`` whatever the exit code."""
        if not self.cancelled:
            self.cancelled = True
            self.log("Stop requested: stopping the run", m.LOG_WARNING)

    def log(
        self, text: str, level: int = m.LOG_INFO, screenshot: str | None = None, at: str | None = None
    ) -> None:
        """Queue one log line of this run (sent within ~0.2 s)."""
        entry = m.RunInstanceLog(
            content=text, log_level=level, screenshot=screenshot, log_at=at or m.now_iso()
        )
        with self._buf_lock:
            self._buffer.append(entry)

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> None:
        tailer = threading.Thread(target=self._tail_loop, name=f"tail-{self.run_id}", daemon=True)
        recorder = xvfb = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.events_file.touch()
            tailer.start()
            attempt = f" (attempt {self.job.attempt})" if self.job.attempt else ""
            self.log(f"Run {self.run_id}{attempt} received by executor {self.settings.robot_id}")
            try:
                pkg = self._prepare()
                python = self.host.envs.python_for(pkg.manifest.dependencies, self.log)
                self._check_cancel()
                cmd, env = self._command(pkg, python)
                display, xvfb, reason = display_for_run(self.job.video_record_required, self.settings.display)
                if display and display != "desktop":
                    env["DISPLAY"] = display
                if self.job.video_record_required:
                    recorder = self._start_video(display, reason)
                self._check_cancel()
                self.outcome = self._execute(cmd, env, pkg)
            except Cancelled:
                self.outcome = map_exit(None, cancelled=True)
            except RunError as exc:
                self.outcome = Outcome(m.STATUS_FAILED, exc.code, f"Run failed: {exc}")
            except Exception as exc:  # an executor bug must still end the run with a report
                log.exception("Run %s: internal error", self.run_id)
                self.outcome = Outcome(
                    m.STATUS_FAILED, errors.INTERNAL_ERROR, f"Executor internal error: {exc!r}"
                )
            if self.cancelled and self.outcome.status != m.STATUS_SUCCESS:
                self.outcome = map_exit(None, cancelled=True)
            video = recorder.stop() if recorder else None
            if xvfb:
                xvfb.stop()
            self._tail_once(final=True)
            self._upload_checkpoint(force=False, final=True)
            level = m.LOG_ERROR if self.outcome.failed else m.LOG_INFO
            self.log(self.outcome.message, level)
            self._flush()
            self.host.report(m.REPORT_FINISH, self._finish_body())
            log.info(
                "Run %s: finished with status %s (%s)", self.run_id, self.outcome.status, self.outcome.message
            )
            self._handle_video(video)
        finally:
            self._tail_stop.set()
            if recorder:
                recorder.stop()
            if xvfb:
                xvfb.stop()
            self.finished.set()
            self.host.run_finished(self)

    def _finish_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"runInstanceId": self.run_id, "status": self.outcome.status}
        if self.outcome.error_code is not None:
            body["errorCode"] = self.outcome.error_code
        return body

    def _check_cancel(self) -> None:
        if self.cancelled:
            raise Cancelled()

    @property
    def events_file(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def checkpoint_file(self) -> Path:
        return self.dir / "checkpoint.json"

    def _prepare(self) -> Package:
        transport = self.host.require_transport()
        pkg = self.host.packages.fetch(
            transport, self.job.package_download_uri, self.job.package_sha256, self.log
        )
        self.log(f"Package {pkg.manifest.name} {pkg.manifest.version}, entry {pkg.manifest.entry}")
        self._check_cancel()
        if self.job.checkpoint_uri:
            self._restore_checkpoint()
        return pkg

    def _restore_checkpoint(self) -> None:
        try:
            self.host.require_transport().download(self.job.checkpoint_uri, self.checkpoint_file)
            state = json.loads(self.checkpoint_file.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                raise ValueError("checkpoint is not a JSON object")
        except (SdkError, OSError, ValueError) as exc:
            raise RunError(errors.CHECKPOINT_FAILED, f"checkpoint could not be restored: {exc}") from exc
        done = state.get("completedTasks") or []
        values = state.get("values") or {}
        self.log(f"Checkpoint restored: {len(done)} completed task(s), {len(values)} value(s)")

    def _fetch_file_argument(self, name: str, url: str) -> str:
        dest = self.dir / "inputs" / name
        try:
            self.host.require_transport().download(url, dest)
        except SdkError as exc:
            raise RunError(
                errors.ARGUMENTS_INVALID, f"file argument {name!r} could not be downloaded: {exc}"
            ) from exc
        return str(dest)

    def _command(self, pkg: Package, python: str) -> tuple[list[str], dict[str, str]]:
        options, varfile = build_variables(pkg.manifest, self.job.arguments, self._fetch_file_argument)
        out = self.dir / "output"
        out.mkdir(exist_ok=True)
        cmd = [
            python,
            "-m",
            "robot",
            "--rpa",
            "--listener",
            f"{LISTENER};{self.events_file};{self.settings.keyword_depth}",
            "--pythonpath",
            str(pkg.root),
            "--pythonpath",
            str(LIBRARIES),
            "--outputdir",
            str(out),
            "--consolecolors",
            "off",
            *options,
        ]
        if varfile:
            path = self.dir / "variables.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(varfile, fh, ensure_ascii=False)
            cmd += ["--variablefile", str(path)]
        cmd.append(str(pkg.entry))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RPA_EXECUTOR_")}
        t = self.host.transport
        env.update(
            {
                "PYTHONIOENCODING": "utf-8",
                "PYTHONUNBUFFERED": "1",
                "RPA_NODE_URL": self.settings.node,
                "RPA_ROBOT_ID": self.settings.robot_id,
                "RPA_RUN_ID": self.run_id,
                "RPA_USER_ID": self.job.user_id,
                "RPA_USER_NAME": self.job.user_name,
                "RPA_ATTEMPT": str(self.job.attempt or 1),
                "RPA_OUTPUT_DIR": str(out),
                "RPA_EVENTS_FILE": str(self.events_file),
                "RPA_CHECKPOINT_FILE": str(self.checkpoint_file),
                "RPA_FILE_UPLOAD_URI": self.job.file_upload_uri or "",
                "RPA_PACKAGE_DIR": str(pkg.root),
            }
        )
        if self.job.run_token:
            # Scoped to this run: the package never needs the supplier secret.
            env["RPA_RUN_TOKEN"] = self.job.run_token
        elif t is not None and getattr(t, "robot_connect_id", None):
            env["RPA_ROBOT_CONNECT_ID"] = t.robot_connect_id
        if self.settings.share_credentials and not self.job.run_token:
            env["RPA_SUPPLIER_CODE"] = self.settings.supplier
            env["RPA_SUPPLIER_SECRET"] = self.settings.secret
        return cmd, env

    def _execute(self, cmd: list[str], env: dict[str, str], pkg: Package) -> Outcome:
        console = self.dir / "console.log"
        timeout = self.job.timeout_seconds
        self.log(f"Starting Robot Framework: {pkg.manifest.entry}")
        with open(console, "wb") as out:
            try:
                self.proc = process.spawn(cmd, self.dir, env, out)
            except OSError as exc:
                raise RunError(errors.START_FAILED, f"robot process could not be started: {exc}") from exc
            log.info("Run %s: robot process %s started", self.run_id, self.proc.pid)
            tree = process.ProcessTree(self.proc.pid)
            started = last_scan = time.monotonic()
            signalled_at: float | None = None
            killed = timed_out = False
            while (rc := self.proc.poll()) is None:
                now = time.monotonic()
                if now - last_scan > 0.25:
                    tree.refresh()
                    last_scan = now
                if timeout and not timed_out and now - started > timeout:
                    timed_out = True
                    self.log(f"Timeout of {timeout:g} s reached: stopping the run", m.LOG_ERROR)
                if (self.cancelled or timed_out) and signalled_at is None:
                    signalled_at = now
                    tree.refresh()  # children that leave when their parent exits must be known now
                    process.interrupt(self.proc)
                elif (
                    signalled_at is not None
                    and not killed
                    and now - signalled_at > self.settings.stop_grace_seconds
                ):
                    killed = True
                    self.log("Robot did not stop in time: killing its process tree", m.LOG_WARNING)
                    tree.refresh()
                    process.kill_tree(self.proc)
                    tree.kill()
                time.sleep(0.02)  # exit detection latency counts in "robot exit -> ReportFinish"
            log.info("Run %s: robot process exited with %s", self.run_id, rc)
            # Leftovers of the run (a browser, a driver, a child in its own session) must not outlive it.
            process.kill_tree(self.proc)
            if leftovers := tree.kill():
                log.info("Run %s: killed %d leftover process(es)", self.run_id, leftovers)
        outcome = map_exit(
            rc, cancelled=self.cancelled, killed=killed or process.was_killed(rc), timed_out=timed_out
        )
        if rc in (252, 255) or (outcome.error_code == errors.TERMINATED and not self.cancelled):
            tail = console.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            if tail:
                self.log("Robot output (last lines):\n" + "\n".join(tail), m.LOG_ERROR)
        return outcome

    # -- video ---------------------------------------------------------------------------------
    def _start_video(self, display: str | None, reason: str | None) -> Recorder | None:
        if not display:
            self.log(f"Video not recorded: {reason}", m.LOG_WARNING)
            return None
        if not Recorder.available():
            self.log("Video not recorded: ffmpeg is not installed", m.LOG_WARNING)
            return None
        recorder = Recorder(display, self.dir / "video.mkv", fps=self.settings.video_fps)
        try:
            recorder.start()
        except (OSError, RuntimeError) as exc:
            self.log(f"Video not recorded: {exc}", m.LOG_WARNING)
            return None
        self.log(f"Recording the screen {display} at {self.settings.video_fps} fps")
        return recorder

    def _handle_video(self, video: Path | None) -> None:
        if video is None:
            return
        mode = self.job.video_record_mode
        if mode == m.VIDEO_NEVER or (mode == m.VIDEO_ON_FAILURE and self.outcome.status == m.STATUS_SUCCESS):
            return
        try:
            info = self.host.require_transport().upload_file("video", video, file_name=f"{self.run_id}.mkv")
        except (SdkError, OSError) as exc:
            log.warning("Run %s: video upload failed: %s", self.run_id, exc)
            self.log(f"Video upload failed: {exc}", m.LOG_WARNING)
            self._flush()
            return
        self.log(f"Video uploaded: {info['fileId']}")
        self._flush()
        self.host.report(m.REPORT_VIDEO_RECORD, {"runInstanceId": self.run_id, "videoId": info["fileId"]})

    # -- events --------------------------------------------------------------------------------
    def _tail_loop(self) -> None:
        while not self._tail_stop.wait(0.1):
            try:
                self._tail_once()
                self._upload_checkpoint()
                self._flush()
            except Exception:  # keep streaming whatever happens to one line
                log.exception("Run %s: event tailing failed", self.run_id)

    def _tail_once(self, final: bool = False) -> None:
        try:
            with open(self.events_file, "rb") as fh:
                fh.seek(self._events_pos)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n")
        if end < 0:
            if final and data:
                end = len(data) - 1
            else:
                return
        self._events_pos += end + 1
        for line in data[: end + 1].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("kind") == "checkpoint":
                self._checkpoint_dirty = True
            screenshot = None
            if event.get("screenshot"):
                screenshot = self._upload_screenshot(event["screenshot"])
            self.log(str(event.get("text", "")), int(event.get("level") or 0), screenshot, event.get("at"))

    def _upload_screenshot(self, path: str) -> str | None:
        try:
            return self.host.require_transport().upload_file("screenshot", path)["fileId"]
        except (SdkError, OSError) as exc:
            log.warning("Run %s: screenshot upload failed: %s", self.run_id, exc)
            return None

    def _upload_checkpoint(self, force: bool = False, final: bool = False) -> None:
        if not (self._checkpoint_dirty or force) or not self.checkpoint_file.exists():
            return
        if not final and time.monotonic() - self._checkpoint_uploaded_at < 1.0:
            return
        self._checkpoint_dirty = False
        self._checkpoint_uploaded_at = time.monotonic()
        try:
            self.host.require_transport().upload_file(
                "checkpoint",
                self.checkpoint_file,
                fields={"runInstanceId": self.run_id},
                file_name=f"{self.run_id}.checkpoint.json",
            )
        except (SdkError, OSError) as exc:
            self._checkpoint_dirty = True  # try again on the next tick
            log.warning("Run %s: checkpoint upload failed: %s", self.run_id, exc)
            if final:
                self.log(f"Checkpoint upload failed: {exc}", m.LOG_WARNING)

    def _flush(self) -> None:
        with self._buf_lock:
            batch, self._buffer = self._buffer, []
        for start in range(0, len(batch), m.MAX_LOGS_PER_REPORT):
            chunk = [x.to_wire() for x in batch[start : start + m.MAX_LOGS_PER_REPORT]]
            self.host.report(m.REPORT_LOGS, {"runInstanceId": self.run_id, "logs": chunk})
