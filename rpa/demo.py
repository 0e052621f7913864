"""``rpa demo``: a province node in embedded mode with a supplier, ready for executors."""

from __future__ import annotations

import os

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", default="./data/demo", show_default=True, type=click.Path(file_okay=False))
def demo_command(host: str, port: int, data_dir: str) -> None:
    """Start a demo node on the embedded default and keep running until Ctrl-C."""
    from common.logsetup import configure
    from config.settings import NodeConfig, load_config
    from node import create_app
    from rpa.serve import prepare, serve

    password = os.environ.get("RPA_ADMIN_PASSWORD") or "admin-demo-password"
    cfg = load_config(NodeConfig, None, data_dir=data_dir, admin_password=password, log_json=False)
    configure("INFO", os.path.join(data_dir, "logs"), json_lines=False, name="demo")
    app = create_app(cfg)
    prepare(app, password)
    click.echo(f"Demo node: http://{host}:{port}/  (user admin, password {password})")
    click.echo(f"API docs:  http://{host}:{port}/api/docs    Ctrl-C stops everything.")
    serve(app, host, port)
