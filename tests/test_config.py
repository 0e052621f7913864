"""Settings: TOML file, RPA_* variables and explicit overrides, in that order."""

import pytest

from config.settings import NodeConfig, load_config


def test_env_overrides_toml_and_overrides_win(tmp_path, monkeypatch):
    """A variable beats the file; an explicit override beats both; types are coerced."""
    cfg_file = tmp_path / "node.toml"
    cfg_file.write_text('data_dir = "/from/toml"\nheartbeat_interval = 7.5\nnode_code = "fj"\n')
    monkeypatch.setenv("RPA_HEARTBEAT_INTERVAL", "4")
    monkeypatch.setenv("RPA_APPROVE_NEW_ROBOTS", "true")
    cfg = load_config(NodeConfig, cfg_file, data_dir="/explicit")
    assert cfg.data_dir == "/explicit"
    assert cfg.heartbeat_interval == 4.0
    assert cfg.approve_new_robots is True
    assert cfg.node_code == "fj"


def test_unknown_toml_key_is_an_error(tmp_path):
    """A typo in a deployment file is reported, not ignored."""
    cfg_file = tmp_path / "node.toml"
    cfg_file.write_text("heartbeat_intervall = 3\n")
    with pytest.raises(ValueError, match="heartbeat_intervall"):
        load_config(NodeConfig, cfg_file)


def test_a_setting_that_cannot_be_used_is_named(monkeypatch):
    """A number that is not one names its variable; a pool of 0 (SQLAlchemy: "no limit") is refused."""
    monkeypatch.setenv("RPA_DB_POOL_SIZE", "abc")
    with pytest.raises(ValueError, match=r"RPA_DB_POOL_SIZE: int expected, not 'abc'"):
        load_config(NodeConfig)
    monkeypatch.setenv("RPA_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size: at least 1"):
        load_config(NodeConfig)
