"""gunicorn settings for a province node in production (``gunicorn -c deploy/gunicorn.conf.py node.wsgi:app``).

Settings of the node itself come from ``RPA_*`` variables (or ``RPA_CONFIG``, a TOML file). Run
``rpa db upgrade`` once before starting (the app factory never migrates).
"""

import os
import signal

bind = os.environ.get("RPA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("RPA_WORKERS", "2"))
worker_class = "gevent"  # needs gunicorn[gevent]; one worker holds thousands of executor sockets
worker_connections = int(os.environ.get("RPA_WORKER_CONNECTIONS", "12000"))  # default 1,000 is too few
timeout = 60
graceful_timeout = 30
keepalive = 5
control_socket_disable = True  # several gunicorns on one host must not share ~/.gunicorn
accesslog = None
errorlog = "-"


def post_worker_init(worker):
    """Start the node's greenlets in each worker, and drain it before the worker stops on SIGTERM."""
    import gevent

    from common.runtime_tuning import raise_open_files_limit
    from node import drain, start_background

    app = worker.wsgi
    raise_open_files_limit()
    start_background(app)
    original = worker.handle_exit

    def _drain_then_exit() -> None:
        try:
            drain(app)  # close executor sockets with 1001 "going away", flush log batches
        finally:
            original(signal.SIGTERM, None)

    def handle_term(signum, frame):
        gevent.spawn(_drain_then_exit)

    signal.signal(signal.SIGTERM, handle_term)
