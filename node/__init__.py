"""The province node: executor hub, the five centers, management API, scheduler. ``create_app`` builds it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from common.auth.cookies import PortalSessionInterface
from common.envelope import UNKNOWN_ERROR, ApiError, error_envelope
from config.settings import NodeConfig, load_config

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/robots/", "/v1/", "/design/", "/robothub/", "/healthz", "/readyz")


def _secret_key(cfg: NodeConfig) -> str:
    """The configured secret, or one generated once and kept (0600) in the data dir."""
    if cfg.secret_key:
        return cfg.secret_key
    path = Path(cfg.data_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    return key


def database_url(cfg: NodeConfig) -> str:
    return cfg.database_url or f"sqlite:///{Path(cfg.data_dir).resolve() / 'node.db'}"


def create_app(config: NodeConfig | None = None) -> Flask:
    """Build a node app. No migrations, no prompts, no background work until ``start_background``."""
    cfg = config or load_config(NodeConfig)
    # An absolute data dir: file paths must not depend on the working directory (send_file, workers).
    cfg = cfg.with_overrides(data_dir=str(Path(cfg.data_dir).resolve()))
    Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    key = _secret_key(cfg)
    app.config.update(
        SECRET_KEY=key,
        SQLALCHEMY_DATABASE_URI=database_url(cfg),
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(cfg),
        MAX_CONTENT_LENGTH=max(cfg.upload_limits.values()) + 2**20,
        RPA_CONFIG=cfg,
        RPA_VERSION="0.1.0",
        TESTING=cfg.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = PortalSessionInterface()
    _init_extensions(app, cfg, key)
    _register_blueprints(app)
    _register_errors(app)
    process = f"{socket.gethostname()}:{os.getpid()}"

    @app.after_request
    def _which_process(resp):
        resp.headers["X-RPA-Process"] = process  # which host/worker answered (operations, scale-out tests)
        return resp

    return app


def _engine_options(cfg: NodeConfig) -> dict:
    """SQLite: hand out the connection used last, whose page cache is warm (FIFO rotation made every
    connection re-read pages the others had written). PostgreSQL: ``db_pool_size`` connections,
    opened once and kept; more callers at once wait for one. (SQLAlchemy's 5 + 10 overflow closed an
    overflow connection on every return, so a busy worker opened a connection, and the server forked a
    backend, for nearly every transaction.)"""
    if not cfg.database_url:
        return {"pool_use_lifo": True}
    return {"pool_pre_ping": True, "pool_size": cfg.db_pool_size, "max_overflow": 0}


def _init_extensions(app: Flask, cfg: NodeConfig, key: str) -> None:
    from flask_migrate import Migrate

    from common.crypto import SecretBox
    from common.db import db
    from common.files import BlobStore, LinkSigner
    from common.kv import make_redis
    from node.context import NodeRuntime
    from node.hub.bus import CommandBus
    from node.hub.connections import ConnectionRegistry
    from node.hub.ingest import LogWriter
    from node.hub.presence import Presence
    from node.schedule.batches import RunDesk

    db.init_app(app)
    Migrate(
        app,
        db,
        directory=str(Path(__file__).resolve().parent.parent / "migrations"),
        render_as_batch=True,
        compare_type=True,
    )
    redis_client = make_redis(cfg.redis_url, name=str(Path(cfg.data_dir).resolve()))
    bus = CommandBus(redis_client, distributed=bool(cfg.redis_url))
    connections = ConnectionRegistry(app)
    bus.subscribe(connections.on_bus)
    app.extensions["rpa"] = NodeRuntime(
        config=cfg,
        secret_key=key,
        box=SecretBox(key),
        blobs=BlobStore(Path(cfg.data_dir) / "files"),
        links=LinkSigner(key, cfg.link_ttl),
        redis=redis_client,
        bus=bus,
        connections=connections,
        logs=LogWriter(app, cfg.log_flush_interval),
        presence=Presence(app, redis_client, cfg.last_seen_flush_interval),
        desk=RunDesk(app, cfg.run_batch_window),
    )


def _register_blueprints(app: Flask) -> None:
    from node import web
    from node.api.views import bp as api_bp
    from node.design.views import bp as design_bp
    from node.hub import ws
    from node.hub.files import bp as files_bp
    from node.hub.http import bp as http_bp

    ws.init_app(app)
    for bp in (http_bp, files_bp, design_bp, api_bp, web.bp):
        app.register_blueprint(bp)
    web.init_app(app)


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_envelope(exc.code, exc.hint, exc.status)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if request.path.startswith(JSON_PREFIXES) or request.accept_mimetypes.best == "application/json":
            code = {404: 10404, 405: 10001, 413: 10007, 403: 10403, 401: 10401}.get(exc.code or 400, 10001)
            return error_envelope(code, f"{request.path}: {exc.name.lower()}", exc.code or 400)
        return exc

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        from common.db import db

        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_envelope(UNKNOWN_ERROR, "internal error; nothing was changed", 500)


def start_background(app: Flask) -> None:
    """Start this process's greenlets: bus listener, log writer, presence flusher, lifecycle sweeper."""
    from common.db import db
    from common.runtime_tuning import GcPolicy
    from common.sqlite_wal import WalCheckpointer
    from node.schedule.sweeper import Sweeper

    rt = app.extensions["rpa"]
    rt.extras.setdefault("gc", GcPolicy()).start()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        rt.extras.setdefault("wal", WalCheckpointer(engine)).start()
    rt.bus.start()
    for writer in (rt.logs, rt.desk):
        writer.start()
    rt.presence.start()
    sweeper = rt.extras.get("sweeper") or Sweeper(app, rt.config.sweep_interval)
    rt.extras["sweeper"] = sweeper
    sweeper.start()


def drain(app: Flask) -> None:
    """Graceful stop: close executor sockets ("going away"), flush logs and last-seen times."""
    rt = app.extensions["rpa"]
    closed = rt.connections.close_all()
    for part in ("sweeper", "gc"):
        if rt.extras.get(part) is not None:
            rt.extras[part].stop()
    for writer in (rt.desk, rt.logs):
        writer.stop()
    rt.presence.stop()
    if rt.extras.get("wal") is not None:
        rt.extras["wal"].stop()
    rt.bus.close()
    log.info("Node drained: %d executor connections closed, logs flushed", closed)
