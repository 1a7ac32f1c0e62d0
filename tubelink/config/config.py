"""Config node on top of fvcore's CfgNode: detectron2's `_BASE_` YAML inheritance, with errors that name the file.

fvcore resolves the whole `_BASE_` chain into one dict before merging, so its "Non-existent config key" and
"Type mismatch" errors cannot say which YAML file is at fault. `CfgNode.merge_from_file` here merges the chain
file by file (bases first, same precedence as fvcore) and re-raises any merge error with the offending file.
It also refuses, naming the file, removed keys, non-default values of keys kept only for Mask2Former YAML
compatibility (`compat.py`), values fvcore's type check lets through (`values.py`: null, a string outside its
choices) and a `_BASE_` cycle.
"""

from __future__ import annotations

import os
import yaml
from fvcore.common.config import BASE_KEY
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from .compat import flatten_keys, refuse_compat_values, refuse_removed_keys
from .values import refuse_bad_values

__all__ = ["CfgNode", "ConfigError", "get_cfg", "merge_config_file", "merge_overrides"]


class ConfigError(ValueError):
    """A config file or override is invalid: unknown, removed or unsupported key, wrong type, unreadable YAML,
    missing base file or a `_BASE_` cycle."""


class CfgNode(_FvcoreCfgNode):
    """fvcore CfgNode whose file merges report the YAML file and key of every error."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        """Merge `cfg_filename` and its `_BASE_` chain (paths relative to the including file) into this node.

        Raises:
            ConfigError: naming the file and the key when a key is unknown or removed, a value has the wrong type
                or is refused (a compatibility key), the YAML does not parse, a base file is missing, or the
                `_BASE_` chain loops (naming the files of the loop).
        """
        merge_config_file(self, cfg_filename)

    @classmethod
    def _resolve_chain(cls, filename: str, including: tuple = ()) -> list:
        """Return [(path, dict)] in merge order: the deepest base first, `filename` last.

        `including`: the files whose `_BASE_` led here, outermost first (to detect a cycle)."""
        filename = os.path.expanduser(str(filename))
        real = os.path.realpath(filename)
        stack = [os.path.realpath(f) for f in including]
        if real in stack:
            loop = list(including[stack.index(real) :]) + [filename]
            raise ConfigError(f"{including[0]}: _BASE_ cycle: {' -> '.join(loop)}")
        if not os.path.isfile(filename):
            raise ConfigError(f"{filename}: config file does not exist")
        with open(filename, "r", encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{filename}: invalid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{filename}: top level must be a mapping, got {type(data).__name__}")
        chain = []
        bases = data.pop(BASE_KEY, None)
        if bases is not None:
            for base in bases if isinstance(bases, list) else [bases]:
                base = os.path.expanduser(base)
                if not os.path.isabs(base):
                    base = os.path.join(os.path.dirname(filename), base)
                chain.extend(cls._resolve_chain(base, including + (filename,)))
        chain.append((filename, data))
        return chain

    def merge_from_list(self, cfg_list: list) -> None:
        """Merge `KEY VALUE ...` overrides (command line), naming the key in errors."""
        merge_overrides(self, cfg_list)

    def dump_to(self, path: str) -> None:
        """Write the resolved config as YAML to `path` (used for the run's `config.yaml`)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.dump())


def merge_config_file(cfg: _FvcoreCfgNode, cfg_filename: str) -> None:
    """Merge a YAML file and its `_BASE_` chain (a path or a list of paths) into any fvcore-based CfgNode,
    detectron2's included; errors name the file and the key (ConfigError)."""
    for path, data in CfgNode._resolve_chain(cfg_filename):
        keys = flatten_keys(data)
        refuse_removed_keys(keys, path)
        try:
            cfg.merge_from_other_cfg(type(cfg)(data))
        except (KeyError, ValueError, AssertionError) as err:
            msg = err.args[0] if err.args else str(err)
            raise ConfigError(f"{path}: {msg}") from None
        refuse_compat_values(cfg, keys, path)
        refuse_bad_values(cfg, keys, path)


def merge_overrides(cfg: _FvcoreCfgNode, cfg_list: list) -> None:
    """Merge `KEY VALUE ...` overrides (the command line) into any fvcore-based CfgNode, detectron2's included;
    errors name the key (ConfigError), with the checks of a file merge."""
    if len(cfg_list) % 2:
        raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd number of items: {cfg_list}")
    keys = [str(k) for k in cfg_list[0::2]]
    refuse_removed_keys(keys, "command-line override")
    try:
        _FvcoreCfgNode.merge_from_list(cfg, cfg_list)
    except (KeyError, ValueError, AssertionError) as err:
        msg = err.args[0] if err.args else str(err)
        raise ConfigError(f"command-line override: {msg}") from None
    refuse_compat_values(cfg, keys, "command-line override")
    refuse_bad_values(cfg, keys, "command-line override")


def get_cfg() -> CfgNode:
    """Return a fresh copy of the complete default config (detectron2 keys plus all Tube-Link keys)."""
    from .defaults import _C

    return _C.clone()
