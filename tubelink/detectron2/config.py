"""tubelink's config on detectron2's CfgNode: the same YAML files give the same values as the native engine."""

from __future__ import annotations

import argparse
import copy

import torch
from detectron2.config import CfgNode
from detectron2.config import get_cfg as detectron2_get_cfg
from fvcore.common.config import CfgNode as _FvcoreCfgNode

from ..config import get_cfg as tubelink_get_cfg
from ..config import merge_config_file, merge_overrides
from ..engine.defaults import resolve_seed

__all__ = ["add_tubelink_config", "merge_tubelink_file", "setup_cfg"]


def _overlay(dst: CfgNode, src: _FvcoreCfgNode) -> None:
    for key, value in src.items():
        if isinstance(value, _FvcoreCfgNode):
            if not isinstance(dst.get(key), _FvcoreCfgNode):
                dst[key] = type(dst)()
            _overlay(dst[key], value)
        else:
            dst[key] = copy.deepcopy(value)


def add_tubelink_config(cfg: CfgNode) -> None:
    """Give detectron2's config every tubelink key with tubelink's default value, in place.

    Keys only detectron2 has (ROI heads, ...) are kept. Shared keys take tubelink's defaults (for example the RGB
    PIXEL_MEAN of Mask2Former's checkpoints and MODEL.DEVICE "auto"), so a YAML file means the same under both
    engines; Mask2Former's `add_maskformer2_config` overrides detectron2 defaults in the same way.
    """
    _overlay(cfg, tubelink_get_cfg())


def merge_tubelink_file(cfg: CfgNode, cfg_filename: str) -> None:
    """Merge a tubelink YAML file into a detectron2 config: its `_BASE_` may be a list (detectron2's own
    `merge_from_file` takes one base only); errors name the file and the key."""
    merge_config_file(cfg, cfg_filename)


def setup_cfg(args: argparse.Namespace) -> CfgNode:
    """detectron2 config of a run: detectron2 defaults <- tubelink defaults <- --config-file <- KEY VALUE; frozen.

    MODEL.DEVICE "auto" becomes "cuda" or "cpu" (detectron2 moves the model to MODEL.DEVICE as given), SEED -1 a
    drawn seed shared by all processes (`resolve_seed`).
    """
    cfg = detectron2_get_cfg()
    add_tubelink_config(cfg)
    if args.config_file:
        merge_tubelink_file(cfg, args.config_file)
    merge_overrides(cfg, args.opts or [])
    if cfg.MODEL.DEVICE == "auto":
        cfg.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
    resolve_seed(cfg)
    cfg.freeze()
    return cfg
