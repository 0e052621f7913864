"""Settings: one config class per tier, loaded from a TOML file and ``RPA_*`` environment variables."""

from config.settings import BaseConfig, HQConfig, NodeConfig, TestingConfig, load_config

__all__ = ["BaseConfig", "HQConfig", "NodeConfig", "TestingConfig", "load_config"]
