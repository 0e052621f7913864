"""Socket tuning of the production entry point."""

from __future__ import annotations

import socket

from common.runtime_tuning import nodelay_first


def test_gunicorn_requests_get_tcp_nodelay_before_they_are_handled():
    """A WebSocket's request lasts the whole connection: its frames must not wait for delayed ACKs,
    so the option is on before the app runs (it used to be set only after a request ended)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_side, _ = listener.accept()
    seen = []

    def app(environ, start_response):
        seen.append(server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return [b"ok"]

    try:
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        assert nodelay_first(app)({"gunicorn.socket": server_side}, None) == [b"ok"]
        assert seen == [1]
        assert nodelay_first(app)({}, None) == [b"ok"]  # not under gunicorn: nothing to do
    finally:
        for s in (client, server_side, listener):
            s.close()
