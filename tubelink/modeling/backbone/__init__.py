"""Backbones, registered in BACKBONE_REGISTRY and built by name from MODEL.BACKBONE.NAME."""

from ..registry import BACKBONE_REGISTRY
from .resnet import ResNet, build_resnet_backbone
from .small_cnn import SmallCNN, build_small_cnn_backbone
from .stdc import STDCNet, build_stdc_backbone
from .swin import SwinTransformer, build_swin_backbone

__all__ = [
    "ResNet",
    "SmallCNN",
    "STDCNet",
    "SwinTransformer",
    "build_stdc_backbone",
    "build_backbone",
    "build_resnet_backbone",
    "build_small_cnn_backbone",
    "build_swin_backbone",
]


def build_backbone(cfg):
    """The backbone named by MODEL.BACKBONE.NAME; MODEL.BACKBONE.FREEZE_AT is refused where it would be ignored."""
    name = cfg.MODEL.BACKBONE.NAME
    try:
        builder = BACKBONE_REGISTRY.get(name)
    except KeyError:
        raise KeyError(
            f"MODEL.BACKBONE.NAME: unknown backbone {name!r}; known: {sorted(k for k, _ in BACKBONE_REGISTRY)}"
        ) from None
    backbone = builder(cfg)
    freeze_at = cfg.MODEL.BACKBONE.FREEZE_AT
    if freeze_at and not getattr(backbone, "applies_freeze_at", False):
        raise ValueError(
            f"MODEL.BACKBONE.FREEZE_AT = {freeze_at}: {name} does not freeze stages (only ResNet backbones do, as in "
            "detectron2 / Mask2Former); set 0"
        )
    return backbone
