"""A small four-stage CNN (strides 4-32) for the synthetic benchmark and tests on a CPU."""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from ..layers import Conv2d, ShapeSpec, get_norm
from ..registry import BACKBONE_REGISTRY
from .base import Backbone

__all__ = ["SmallCNN", "build_small_cnn_backbone"]


class SmallCNN(Backbone):
    """Stride-4 stem, then one stride-2 stage per width: outputs res2..res5 like a ResNet."""

    def __init__(self, widths=(16, 32, 64, 128), norm: str = "GN") -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"MODEL.SMALL_CNN.WIDTHS needs 4 stage widths, got {list(widths)}")
        gn = lambda c: get_norm(norm, c) if norm != "GN" else nn.GroupNorm(min(8, c), c)  # noqa: E731
        act = nn.ReLU(inplace=True)
        self.stem = nn.Sequential(
            Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False, norm=gn(widths[0]), activation=act),
            Conv2d(widths[0], widths[0], 3, stride=2, padding=1, bias=False, norm=gn(widths[0]), activation=act),
        )
        self.stages = nn.ModuleList()
        in_ch = widths[0]
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.stages.append(
                nn.Sequential(
                    Conv2d(in_ch, w, 3, stride=stride, padding=1, bias=False, norm=gn(w), activation=act),
                    Conv2d(w, w, 3, padding=1, bias=False, norm=gn(w), activation=act),
                )
            )
            in_ch = w
        self._shapes = {f"res{i + 2}": ShapeSpec(w, 4 * 2**i) for i, w in enumerate(widths)}

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, 3, H, W) -> {"res2": (B, w0, H/4, W/4), ..., "res5": (B, w3, H/32, W/32)}."""
        x = self.stem(x)
        out = {}
        for i, stage in enumerate(self.stages):
            x = stage(x)
            out[f"res{i + 2}"] = x
        return out


@BACKBONE_REGISTRY.register()
def build_small_cnn_backbone(cfg) -> SmallCNN:
    """SmallCNN from MODEL.SMALL_CNN.WIDTHS."""
    return SmallCNN(cfg.MODEL.SMALL_CNN.WIDTHS)
