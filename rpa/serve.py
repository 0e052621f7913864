"""Serving a node in one gevent process (embedded mode and the demo), with a graceful SIGTERM drain."""

from __future__ import annotations

import logging
import signal
import sys

log = logging.getLogger(__name__)


def prepare(app, admin_password: str | None = None) -> str | None:
    """Migrate the database to head and make sure an administrator exists.

    Returns a generated admin password when one had to be made (printed once by the caller).
    """
    import secrets

    from flask_migrate import upgrade

    from common.auth.services import ensure_admin

    with app.app_context():
        upgrade()
        password = admin_password or secrets.token_urlsafe(12)
        created = ensure_admin(password)
    return password if created and not admin_password else None


def serve(app, host: str, port: int, *, ready_line: bool = True, on_stop=None) -> None:
    """Serve until SIGTERM/SIGINT, then drain: stop accepting, flush logs, close executor sockets."""
    import gevent
    import gevent.socket
    from gevent.pywsgi import WSGIHandler, WSGIServer

    from common.runtime_tuning import raise_open_files_limit, set_nodelay
    from node import drain, start_background

    class SingleFdSocket(gevent.socket.socket):
        """simple-websocket dup()s a gevent server's socket (two descriptors per executor, which
        halves how many executors fit under the open-files limit). The WebSocket session runs
        inside the request here, so the request's own socket serves: refusing dup() makes
        simple-websocket use it as it is (its documented fallback)."""

        __slots__ = ()

        def dup(self):
            raise NotImplementedError("one descriptor per WebSocket")

    class Handler(WSGIHandler):
        def handle(self):
            set_nodelay(self.socket)
            return super().handle()

        def handle_one_response(self):
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                self.socket.__class__ = SingleFdSocket
            try:
                return super().handle_one_response()
            finally:
                if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                    # The socket spoke WebSocket: bytes after the session are not a new HTTP request.
                    self.close_connection = True

    raise_open_files_limit()
    start_background(app)
    server = WSGIServer(
        (host, port), app, log=None, error_log=logging.getLogger("gevent.pywsgi"), handler_class=Handler
    )
    server.init_socket()

    def _stop(signum: int) -> None:
        log.info("Signal %s: draining", signum)
        if on_stop is not None:
            on_stop()  # e.g. the demo's executors, while the node can still take their last reports
        server.close()  # stop accepting
        drain(app)
        server.stop(timeout=app.extensions["rpa"].config.drain_seconds)

    def _on_signal(signum: int) -> None:
        gevent.spawn(_stop, signum)  # blocking work may not run inside the signal callback

    gevent.signal_handler(signal.SIGTERM, _on_signal, signal.SIGTERM)
    gevent.signal_handler(signal.SIGINT, _on_signal, signal.SIGINT)
    if ready_line:
        print(f"Node listening on http://{host}:{server.server_port}", flush=True)
    server.serve_forever()
    sys.stdout.flush()
