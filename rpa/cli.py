"""``rpa``: one console script for every tier (architecture.md, CLI)."""

from __future__ import annotations

import sys

GEVENT_COMMANDS = {"node", "demo", "hq"}


def main() -> None:
    # Serving commands need gevent's monkey patching before anything imports socket or threading.
    if len(sys.argv) > 1 and sys.argv[1] in GEVENT_COMMANDS and "--help" not in sys.argv:
        from gevent import monkey

        monkey.patch_all()
    from rpa.commands import cli

    cli(prog_name="rpa")
