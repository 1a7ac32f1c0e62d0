"""Config system: fvcore CfgNode with `_BASE_` inheritance and file-naming errors."""

from .config import CfgNode, ConfigError, get_cfg, merge_config_file, merge_overrides
from .defaults import add_tubelink_config

__all__ = ["CfgNode", "ConfigError", "get_cfg", "add_tubelink_config", "merge_config_file", "merge_overrides"]
