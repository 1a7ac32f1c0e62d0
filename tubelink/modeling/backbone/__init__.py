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
    """The backbone named by MODEL.BACKBONE.NAME."""
    name = cfg.MODEL.BACKBONE.NAME
    try:
        builder = BACKBONE_REGISTRY.get(name)
    except KeyError:
        raise KeyError(
            f"MODEL.BACKBONE.NAME: unknown backbone {name!r}; known: {sorted(k for k, _ in BACKBONE_REGISTRY)}"
        ) from None
    return builder(cfg)
