"""The absolute base URL put into signed links for executors."""

from __future__ import annotations

from flask import Request


def base_url(req: Request, public_url: str) -> str:
    """``public_url`` when configured (set it behind a proxy); else the request's own address.

    Some WebSocket clients send ``Host`` without the port; the port the server answered on fills in.
    """
    if public_url:
        return public_url.rstrip("/") + "/"
    host = req.host
    if ":" not in host.rsplit("]", 1)[-1]:
        port = req.environ.get("SERVER_PORT")
        default = "443" if req.scheme in ("https", "wss") else "80"
        if port and port != default:
            host = f"{host}:{port}"
    scheme = {"ws": "http", "wss": "https"}.get(req.scheme, req.scheme)
    return f"{scheme}://{host}/"
