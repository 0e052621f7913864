"""The click commands behind ``rpa``."""

from __future__ import annotations

import os
import sys

import click

from common.jobs import QUEUES
from config.settings import NodeConfig, load_config


def _node_config(config: str | None, data_dir: str | None, **extra) -> NodeConfig:
    try:
        return load_config(NodeConfig, config, data_dir=data_dir, **extra)  # type: ignore[return-value]
    except ValueError as exc:  # a setting that cannot be used: say which, no traceback
        raise click.ClickException(str(exc)) from None


def _app(config: str | None, data_dir: str | None):
    from node import create_app

    return create_app(_node_config(config, data_dir))


config_option = click.option("--config", "config", type=click.Path(dir_okay=False), help="TOML settings file")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), help="data directory")


class LazyGroup(click.Group):
    """Commands that live with their own packages are imported only when invoked (fast start-up,
    and a node never imports the executor)."""

    lazy = {
        "executor": ("executor.cli", "executor_command"),
        "conformance": ("conformance.cli", "conformance_command"),
        "demo": ("rpa.demo", "demo_command"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            from importlib import import_module

            module, attr = self.lazy[name]
            return getattr(import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
def cli() -> None:
    """RPA general component (T/CES): province node, HQ, executor."""


@cli.group()
def node() -> None:
    """The province node."""


@node.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@data_dir_option
@config_option
def node_run(host: str, port: int, data_dir: str | None, config: str | None) -> None:
    """Serve a node (embedded mode unless RPA_DATABASE_URL/RPA_REDIS_URL say otherwise)."""
    from common.logsetup import configure
    from node import create_app
    from rpa.serve import prepare, serve

    cfg = _node_config(config, data_dir)
    configure(cfg.log_level, os.path.join(cfg.data_dir, "logs"), cfg.log_json)
    app = create_app(cfg)
    generated = prepare(app, cfg.admin_password or None)
    if generated:
        click.echo(f"Administrator created: user 'admin', password {generated} (shown once)")
    serve(app, host, port)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@data_dir_option
@config_option
def db_upgrade(data_dir: str | None, config: str | None) -> None:
    """Migrate the database to the newest schema (run before starting gunicorn)."""
    from rpa.serve import prepare

    cfg = _node_config(config, data_dir)
    generated = prepare(_app(config, data_dir), cfg.admin_password or None)
    if generated:
        click.echo(f"Administrator created: user 'admin', password {generated} (shown once)")
    click.echo("Database is at the newest schema")


@cli.group()
def supplier() -> None:
    """Suppliers (vendors) whose executors may register."""


@supplier.command("add")
@click.argument("code")
@click.option("--name", default="", help="display name")
@click.option("--engine", "engines", multiple=True, help="engine the supplier's executors run (repeatable)")
@data_dir_option
@config_option
def supplier_add(
    code: str, name: str, engines: tuple[str, ...], data_dir: str | None, config: str | None
) -> None:
    """Add a supplier and print its secret once."""
    from common.envelope import ApiError
    from node.robots.suppliers import add_supplier

    app = _app(config, data_dir)
    with app.app_context():
        try:
            sup, secret = add_supplier(code, name, list(engines) or None, actor="cli")
        except ApiError as exc:
            raise click.ClickException(exc.hint) from None
    click.echo(f"Supplier {sup.code} added. Secret (shown once): {secret}")


@cli.group()
def user() -> None:
    """User accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", default="viewer", type=click.Choice(["admin", "operator", "viewer", "auditor"]))
@click.option(
    "--password", envvar="RPA_USER_PASSWORD", prompt=True, hide_input=True, confirmation_prompt=True
)
@data_dir_option
@config_option
def user_create(username: str, role: str, password: str, data_dir: str | None, config: str | None) -> None:
    """Create a user."""
    from common.auth.services import AuthError, create_user

    app = _app(config, data_dir)
    with app.app_context():
        try:
            create_user(username, password, role, actor="cli")
        except AuthError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"User {username} created with role {role}")


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@data_dir_option
@config_option
def audit_verify(data_dir: str | None, config: str | None) -> None:
    """Recompute the audit chain; exit 1 and name the first bad event if it was tampered with."""
    from common.audit import verify_chain

    app = _app(config, data_dir)
    with app.app_context():
        report = verify_chain()
    if report.ok:
        click.echo(f"Audit chain intact: {report.events} events")
        return
    click.echo(
        f"Audit chain BROKEN at event {report.first_bad_seq}: {report.reason} "
        f"({report.events} events verified before it)",
        err=True,
    )
    sys.exit(1)


@cli.command()
@click.option("--queue", "queues", multiple=True, default=QUEUES, show_default=True)
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@data_dir_option
@config_option
def worker(queues: tuple[str, ...], burst: bool, data_dir: str | None, config: str | None) -> None:
    """Run an RQ worker (production mode: needs RPA_REDIS_URL)."""
    from common.jobs import run_worker
    from common.logsetup import configure

    cfg = _node_config(config, data_dir)
    if not cfg.redis_url:
        raise click.ClickException(
            "RPA_REDIS_URL is not set: embedded mode runs its jobs inside the node process"
        )
    configure(cfg.log_level, os.path.join(cfg.data_dir, "logs"), cfg.log_json, name="worker")
    app = _app(config, data_dir)
    run_worker(app, app.extensions["rpa"].redis, list(queues), burst=burst)
