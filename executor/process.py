"""Start a process in its own group and stop its whole tree, on POSIX and on Windows."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

log = logging.getLogger(__name__)

WINDOWS = sys.platform == "win32"


def spawn(
    cmd: Sequence[str], cwd: str | os.PathLike[str], env: Mapping[str, str], stdout: IO[Any] | int | None
) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new process group (POSIX session / Windows process group)."""
    kw: dict[str, Any] = {}
    if WINDOWS:
        kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        kw["start_new_session"] = True
    return subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=dict(env),
        stdout=stdout,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        **kw,
    )


def interrupt(proc: subprocess.Popen) -> None:
    """Ask the process group to stop gracefully (Robot Framework finishes the current keyword)."""
    if proc.poll() is not None:
        return
    try:
        if WINDOWS:
            proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError, OSError) as exc:
        log.debug("interrupt %s: %s", proc.pid, exc)


def kill_tree(proc: subprocess.Popen) -> None:
    """Kill the process and everything in its group/tree; safe to call after it exited."""
    if WINDOWS:
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(proc.pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        if proc.poll() is None:
            proc.kill()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):  # the group is already gone
        os.killpg(proc.pid, signal.SIGKILL)


def was_killed(returncode: int | None) -> bool:
    """True when the return code says the process died of a signal (POSIX) or was force-killed."""
    if returncode is None:
        return True
    if WINDOWS:
        return False  # Windows has no signal deaths; the executor tracks its own kills
    return returncode < 0


def _children_map() -> dict[int, list[int]]:
    """ppid -> child pids of every process we can see (empty where unsupported)."""
    out: dict[int, list[int]] = {}
    if WINDOWS:
        return out
    if os.path.isdir("/proc"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            out.setdefault(int(fields[1]), []).append(int(name))
        return out
    try:  # macOS and other POSIX systems without /proc
        text = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            out.setdefault(int(parts[1]), []).append(int(parts[0]))
    return out


def _identity(pid: int) -> str | None:
    """Something that changes when a pid is reused (start time), or None if the process is gone."""
    if os.path.isdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            return None
        fields = stat[stat.rfind(b")") + 2 :].split()
        return None if fields[0] == b"Z" else fields[19].decode()
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return "alive"


class ProcessTree:
    """Remembers every descendant of a process seen while it ran, so that descendants that left its
    process group (Robot Framework's Process library starts each child in a new session) or were
    orphaned when it exited can still be killed."""

    def __init__(self, root_pid: int) -> None:
        self.root = root_pid
        self.known: dict[int, str] = {}

    def refresh(self) -> None:
        if WINDOWS:
            return  # taskkill /T walks the tree itself
        children = _children_map()
        stack = [self.root, *self.known]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in self.known:
                    ident = _identity(child)
                    if ident is not None:
                        self.known[child] = ident
                        stack.append(child)

    def kill(self) -> int:
        """Kill every remembered descendant still alive (same start time); returns how many."""
        killed = 0
        for pid, ident in list(self.known.items()):
            if _identity(pid) != ident:
                continue
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        return killed
