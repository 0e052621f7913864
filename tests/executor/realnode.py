"""Helpers for the tests of a real executor process against a real node process (``live_node``):
packages built like real ones, an executor attached and online, a run's logs, waiting, downloads, and the
run's processes as /proc shows them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import requests

from executor.samples.build import build_package

FINAL = {"succeeded", "failed", "cancelled", "interrupted", "timed_out"}
HAVE_DISPLAY = bool(shutil.which("Xvfb") and shutil.which("ffmpeg"))
HAVE_VIDEO = HAVE_DISPLAY and bool(shutil.which("ffprobe"))


def make_package(tmp_path: Path, robot: str, files: dict[str, str] | None = None, **manifest) -> bytes:
    """A process package (manifest.json + tasks.robot + ``files``), built like a real one."""
    folder = tmp_path / f"pkg-{abs(hash(robot)) % 10**8}"
    folder.mkdir(exist_ok=True)
    meta = {"name": "test", "version": "1", "engine": "robotframework", "entry": "tasks.robot", **manifest}
    (folder / "manifest.json").write_text(json.dumps(meta))
    (folder / "tasks.robot").write_text(robot)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return build_package(folder)


def attach(node, start_executor, monkeypatch, robot_id: str, protocol: str = "http", **settings):
    """Register supplier ACME on the node (once) and start an executor that comes online."""
    if getattr(node, "_acme", None) is None:
        node._acme = node.add_supplier("ACME")
        monkeypatch.setenv("RPA_EXECUTOR_SECRET", node._acme)
    ex = start_executor(node.url, robot_id, protocol, **settings)
    deadline = time.monotonic() + 60
    while True:
        r = node.api("GET", f"/robots/{robot_id}")
        if r.status_code == 200 and r.json()["resultValue"]["online"]:
            return ex
        if time.monotonic() > deadline or ex.proc.poll() is not None:
            raise AssertionError(f"executor {robot_id} did not come online:\n{ex.output()[-3000:]}")
        time.sleep(0.1)


def logs(node, run_id: str) -> list[dict]:
    """All of a run's log lines, page by page (a chatty run passes the API's 1000-line page)."""
    items: list[dict] = []
    while True:
        page = node.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000, "offset": len(items)})
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            return items


def texts(node, run_id: str, attempt: int | None = None) -> list[str]:
    return [x["content"] for x in logs(node, run_id) if attempt is None or x["attempt"] == attempt]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {what}")
        time.sleep(0.2)


def wait_log(node, run_id: str, text: str, timeout: float = 60) -> list[str]:
    return wait_for(lambda: (t := texts(node, run_id)) and text in t and t, timeout, f"log {text!r}")


def finished(node, run_id: str, ex=None, timeout: float = 120) -> dict:
    try:
        return node.wait_status(run_id, FINAL, timeout=timeout)
    except AssertionError as exc:
        out = ex.output()[-3000:] if ex is not None else ""
        raise AssertionError(f"{exc}\nexecutor:\n{out}\nnode logs: {texts(node, run_id)[-20:]}") from None


def download(node, file_id: str) -> bytes:
    """Fetch a stored file through the node's signed download link (``GET /v1/file/{id}/content``).

    The management API hands out links only for the personal folder; a run's video and screenshots
    have none, so the link is signed here with the node's own key, as the node signs its links.
    """
    from common.files import LinkSigner

    key = (node.data_dir / "secret_key").read_text().strip()
    token = LinkSigner(key, 3600).sign(file_id, "user:admin")
    r = requests.get(f"{node.url}/v1/file/{file_id}/content", params={"token": token}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.content


def processes_of_run(run_id: str) -> list[int]:
    """Live processes whose environment names the run (every process a robot starts inherits it)."""
    found = []
    needle = f"RPA_RUN_ID={run_id}".encode()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != b"Z":
            found.append(int(name))
    return found


def alive(pid: int) -> bool:
    """True for a live process (a zombie waiting for its reaper is dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def kill_hard(ex) -> None:
    """The executor's machine dies: SIGKILL the executor and every process of its tree (the robot runs
    in its own process group, so the group of each descendant is killed too)."""
    tree = descendants(ex.proc.pid)
    ex.proc.kill()
    for pid in tree:
        with contextlib.suppress(OSError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    ex.proc.wait(10)
