"""WSGI entry for gunicorn (``node.wsgi:app``): settings from ``RPA_*`` variables / ``RPA_CONFIG``."""

from __future__ import annotations

import os

from common.logsetup import configure
from common.runtime_tuning import nodelay_first
from config.settings import NodeConfig, load_config
from node import create_app

_cfg = load_config(NodeConfig, os.environ.get("RPA_CONFIG") or None)
configure(_cfg.log_level, os.path.join(_cfg.data_dir, "logs"), _cfg.log_json, name=f"node-{os.getpid()}")
app = create_app(_cfg)
app.wsgi_app = nodelay_first(app.wsgi_app)
