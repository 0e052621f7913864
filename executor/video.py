"""Screen recording of a run: Xvfb when there is no display, ffmpeg (H.264, ~5 fps, Matroska)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

WINDOWS = sys.platform == "win32"


class Xvfb:
    """A virtual X display for one run."""

    def __init__(self, size: str = "1280x800", depth: int = 24) -> None:
        self.size = size
        self.depth = depth
        self.proc: subprocess.Popen | None = None
        self.display = ""

    @staticmethod
    def available() -> bool:
        return not WINDOWS and shutil.which("Xvfb") is not None

    def start(self, timeout: float = 10) -> str:
        """Start on the first free display number from :99; returns ``":N"``."""
        for n in range(99, 200):
            if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
                continue
            cmd = ["Xvfb", f":{n}", "-screen", "0", f"{self.size}x{self.depth}", "-nolisten", "tcp"]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    self.proc, self.display = proc, f":{n}"
                    return self.display
                time.sleep(0.05)
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
        raise RuntimeError("Xvfb did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class Recorder:
    """ffmpeg grabbing a display into an H.264 Matroska file (readable even if ffmpeg is killed)."""

    def __init__(self, display: str, dest: Path, fps: int = 5, size: str | None = None) -> None:
        self.display = display
        self.dest = dest
        self.fps = fps
        self.size = size
        self.proc: subprocess.Popen | None = None
        self._log = None

    @staticmethod
    def available() -> bool:
        return shutil.which("ffmpeg") is not None

    def start(self) -> None:
        if WINDOWS:
            source = ["-f", "gdigrab", "-framerate", str(self.fps), "-i", "desktop"]
        else:
            source = ["-f", "x11grab", "-framerate", str(self.fps)]
            if self.size:
                source += ["-video_size", self.size]
            source += ["-i", self.display]
        cmd = [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            *source,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-f",
            "matroska",
            str(self.dest),
        ]
        self._log = open(self.dest.with_suffix(".ffmpeg.log"), "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=self._log, stderr=subprocess.STDOUT)
        time.sleep(0.3)
        if self.proc.poll() is not None:
            self._close_log()
            raise RuntimeError(f"ffmpeg exited at start (code {self.proc.returncode})")

    def stop(self, timeout: float = 15) -> Path | None:
        """Finish the file ('q' on stdin, then escalate); returns it if it holds anything."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.stdin.write(b"q")
                proc.stdin.flush()
                proc.stdin.close()
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._close_log()
        if self.dest.exists() and self.dest.stat().st_size > 0:
            return self.dest
        return None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def display_for_run(want_display: bool, mode: str) -> tuple[str | None, Xvfb | None, str | None]:
    """Pick the display of a run: ``(DISPLAY value, Xvfb we started, reason when none)``.

    ``mode``: ``auto`` uses ``$DISPLAY`` or starts Xvfb when a display is wanted, ``xvfb`` always
    starts one, ``none`` never gives a display.
    """
    if mode == "none":
        return None, None, "display disabled by configuration"
    if WINDOWS:
        return "desktop", None, None
    if mode != "xvfb" and os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"], None, None
    if not want_display and mode != "xvfb":
        return None, None, "no display"
    if not Xvfb.available():
        return None, None, "Xvfb is not installed"
    xvfb = Xvfb()
    try:
        return xvfb.start(), xvfb, None
    except (OSError, RuntimeError) as exc:
        return None, None, f"Xvfb failed to start: {exc}"
