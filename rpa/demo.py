"""``rpa demo``: a province node (embedded mode), two reference executors (one WebSocket, one HTTP)
and a real Robot Framework sample package — a meter-reading check a power-company clerk recognises —
run once so there is something to look at. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

SUPPLIER = "demo-vendor"
ROBOTS = (("demo-ws-1", "ws"), ("demo-http-1", "http"))


def _seed(app) -> tuple[str, str]:
    """Make sure the demo supplier and the sample package exist; return (supplier secret, app id)."""
    from sqlalchemy import select

    from common.db import db
    from executor.samples.build import build_package, sample_path
    from node.packages.models import App
    from node.packages.publish import publish_package
    from node.robots.models import Supplier
    from node.robots.suppliers import add_supplier
    from node.runtime import runtime

    with app.app_context():
        sup = db.session.get(Supplier, SUPPLIER)
        if sup is None:
            _sup, secret = add_supplier(SUPPLIER, "Demo vendor", ["robotframework"], actor="demo")
        else:  # the demo runs in the node's own process, which can open its sealed secret
            secret = runtime().box.open(sup.secret_sealed)
        existing = db.session.scalar(select(App).where(App.name == "抄表数据核对 Meter reading check"))
        if existing is None:
            import io

            created, _ver = publish_package(
                io.BytesIO(build_package(sample_path("meter_reading"))),
                name="抄表数据核对 Meter reading check",
                description="核对抄表数据并生成汇总 (validate a month of meter readings, deliver a summary)",
                category="营销",
                business_domain="用电信息采集",
                scenario="抄表核算",
                tags=["demo"],
                actor="demo",
            )
            app_id = created.id
        else:
            app_id = existing.id
    return secret, app_id


def _start_executors(url: str, secret: str, data_dir: Path) -> list[subprocess.Popen]:
    procs = []
    env = {**os.environ, "RPA_EXECUTOR_SECRET": secret}
    for robot_id, protocol in ROBOTS:
        work = data_dir / "executors" / robot_id
        work.mkdir(parents=True, exist_ok=True)
        log = open(work / "executor.log", "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rpa",
                    "executor",
                    "--node",
                    url,
                    "--id",
                    robot_id,
                    "--supplier",
                    SUPPLIER,
                    "--protocol",
                    protocol,
                    "--work-dir",
                    str(work),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        log.close()
    return procs


def _first_run(app, app_id: str) -> str | None:
    """Start one run of the sample as admin (queued until an executor is up)."""
    from sqlalchemy import select

    from common.auth.models import User
    from common.db import db
    from node.runs.services import RunOptions, start_run

    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        run = start_run(app_id, None, None, str(admin.id), admin.username, RunOptions())
        return run.id


def _watch_run(app, run_id: str, url: str, timeout: float = 600) -> None:
    """Say when the sample run has finished and how it ended."""
    import time

    import gevent

    from common.db import db
    from node.runs import lifecycle
    from node.runs.services import read_run

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with app.app_context():
            run = read_run(run_id)
            db.session.remove()
        if run.status in lifecycle.FINAL:
            took = (run.finished_at - run.created_at).total_seconds() if run.finished_at else 0
            if run.status == lifecycle.SUCCEEDED:
                click.echo(
                    f"  first run {run.status} in {took:.1f} s: its summary is in {url}/api/v1/me/files"
                )
            else:
                click.echo(
                    f"  first run ended {run.status} ({run.cause}); see {url}/api/v1/runs/{run_id}/logs"
                )
            return
        gevent.sleep(0.5)
    click.echo(f"  first run still {run.status} after {timeout:.0f} s: {url}/api/v1/runs/{run_id}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", default="./data/demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--no-executors", is_flag=True, help="start only the node")
def demo_command(host: str, port: int, data_dir: str, no_executors: bool) -> None:
    """Start the demo: node + two executors + the sample package; runs until Ctrl-C."""
    import gevent

    from common.logsetup import configure
    from config.settings import NodeConfig, load_config
    from node import create_app
    from rpa.serve import prepare, serve

    password = os.environ.get("RPA_ADMIN_PASSWORD") or "admin-demo-password"
    cfg = load_config(NodeConfig, None, data_dir=data_dir, admin_password=password, log_json=False)
    configure("WARNING", os.path.join(data_dir, "logs"), json_lines=False, name="demo")
    app = create_app(cfg)
    prepare(app, password)
    secret, app_id = _seed(app)
    url = f"http://{host}:{port}"
    procs: list[subprocess.Popen] = []

    def _after_start() -> None:
        nonlocal procs
        if not no_executors:
            procs = _start_executors(url, secret, Path(data_dir))
        run_id = _first_run(app, app_id)
        click.echo(f"  first run:   {url}/api/v1/runs/{run_id}  (status, /logs, /transitions)")
        gevent.spawn(_watch_run, app, run_id, url)

    def _stop_executors(*_a) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    click.echo(f"RPA demo — province node on {url}/  (user admin, password {password})")
    click.echo(f"  API docs:    {url}/api/docs")
    click.echo(f"  executors:   {', '.join(f'{r} ({p})' for r, p in ROBOTS)}; logs in {data_dir}/executors/")
    click.echo(f"  personal folder of admin: {url}/api/v1/me/files")
    click.echo("  Ctrl-C stops everything.")
    gevent.spawn_later(0.5, _after_start)
    try:
        serve(app, host, port, ready_line=False, on_stop=_stop_executors)
    finally:
        _stop_executors()
    click.echo("Demo stopped.")
