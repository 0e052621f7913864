"""The province node: executor hub, the five centers, management API, scheduler. ``create_app`` builds it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from pathlib import Path

from flask import Flask

from common.auth.cookies import PortalSessionInterface
from common.errors import register_fallbacks
from config.settings import NodeConfig, load_config

log = logging.getLogger(__name__)

# Paths that answer errors with the envelope even outside a blueprint's view (an unknown URL).
JSON_PREFIXES = ("/api/", "/robots/", "/v1/", "/design/personalfile", "/robothub/", "/healthz", "/readyz")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


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
        # Any body: JSON and forms. Upload routes raise it for their own request (the source's limit).
        MAX_CONTENT_LENGTH=max(cfg.max_frame_bytes, 2**20) + 2**20,
        RPA_CONFIG=cfg,
        RPA_VERSION="0.1.0",
        TESTING=cfg.testing,
        # A WebSocket message is buffered up to twice the frame limit: beyond, the socket closes with
        # 1009 while it arrives; between the limit and twice it, it is refused with 10001.
        SOCK_SERVER_OPTIONS={"max_message_size": 2 * cfg.max_frame_bytes},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.session_interface = PortalSessionInterface()
    _init_extensions(app, cfg, key)
    _register_blueprints(app)
    register_fallbacks(app, JSON_PREFIXES)
    if cfg.debug_headers:  # which host/worker answered: for scale-out tests, never by default
        process = f"{socket.gethostname()}:{os.getpid()}"

        @app.after_request
        def _which_process(resp):
            resp.headers["X-RPA-Process"] = process
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

    from common.auth import init_app as init_auth
    from common.auth.csrf import csrf
    from common.crypto import SecretBox
    from common.db import db
    from common.files import BlobStore, LinkSigner
    from common.jobs import Ticker
    from common.kv import make_redis
    from node.hub import runtime as hub_parts
    from node.packages import versions
    from node.robots import runtime as robots_parts
    from node.runs import runtime as runs_parts
    from node.runtime import NodeRuntime

    db.init_app(app)
    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    init_auth(app, cfg.redis_url)
    redis_client = make_redis(cfg.redis_url)
    app.extensions["rpa"] = NodeRuntime(
        config=cfg,
        secret_key=key,
        box=SecretBox(key),
        blobs=BlobStore(Path(cfg.data_dir) / "files"),
        links=LinkSigner(key, cfg.link_ttl),
        redis=redis_client,
        ticker=Ticker(app, redis_client, prefix=cfg.node_code),
    )
    robots_parts.init_app(app, redis_client, distributed=bool(cfg.redis_url))
    runs_parts.init_app(app)
    versions.init_app(app)
    hub_parts.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from node import api, web
    from node.hub import ws
    from node.hub.files import bp as files_bp
    from node.hub.http import bp as http_bp

    ws.init_app(app)
    for bp in (http_bp, files_bp, web.bp, web.probes):
        app.register_blueprint(bp)
    api.init_app(app)
    web.init_app(app)


def start_background(app: Flask) -> None:
    """Start this process's background work: GC policy, SQLite checkpoints, the bus listener, the
    group-commit writers and the declared periodic jobs (``node.jobs``)."""
    from common.db import db
    from common.runtime_tuning import GcPolicy
    from common.sqlite_wal import WalCheckpointer
    from node.jobs import periodic_jobs

    rt = app.extensions["rpa"]
    if rt.gc is None:
        rt.gc = GcPolicy()
    rt.gc.start()
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        if rt.wal is None:
            rt.wal = WalCheckpointer(engine)
        rt.wal.start()
    robots, runs = app.extensions["rpa.robots"], app.extensions["rpa.runs"]
    robots.bus.start()
    for writer in (runs.logs, runs.desk):
        writer.start()
    rt.ticker.start(periodic_jobs(rt.config))


def drain(app: Flask) -> None:
    """Graceful stop: close executor sockets ("going away"), flush logs and last-seen times."""
    rt = app.extensions["rpa"]
    robots, runs = app.extensions["rpa.robots"], app.extensions["rpa.runs"]
    closed = app.extensions["rpa.hub"].connections.close_all()
    rt.ticker.stop()
    if rt.gc is not None:
        rt.gc.stop()
    for writer in (runs.desk, runs.logs):
        writer.stop()
    with app.app_context():
        robots.presence.flush()
    if rt.wal is not None:
        rt.wal.stop()
    robots.bus.close()
    log.info("Node drained: %d executor connections closed, logs flushed", closed)
