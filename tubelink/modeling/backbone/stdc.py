"""STDC (Short-Term Dense Concatenate) networks, the efficient backbones of the Tube-Link paper.

STDC1 = STDCNet813 (stages of 2, 2, 2 blocks), STDC2 = STDCNet1446 (4, 5, 3). Module names follow the original
STDCNet (`features.i.conv_list.j.conv`, `avd_layer`, ...), so its ImageNet checkpoints map onto `backbone.features`.
Outputs res2..res5 with 64 / 256 / 512 / 1024 channels at strides 4..32.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn

from ..layers import ShapeSpec
from ..registry import BACKBONE_REGISTRY
from .base import Backbone

__all__ = ["STDCNet", "build_stdc_backbone"]

_STAGES = {"STDC1": (2, 2, 2), "STDC2": (4, 5, 3)}


class ConvX(nn.Sequential):
    """conv (no bias) -> BatchNorm -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)


class CatBottleneck(nn.Module):
    """1x1 to half the width, then 3x3 convs halving the width each step; the outputs are concatenated."""

    def __init__(self, in_ch: int, out_ch: int, block_num: int = 4, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        widths = [out_ch // 2] + [out_ch // 2 ** min(i + 2, block_num - 1) for i in range(block_num - 1)]
        self.conv_list = nn.ModuleList([ConvX(in_ch, widths[0], kernel=1)])
        for i in range(1, block_num):
            self.conv_list.append(ConvX(widths[i - 1], widths[i]))
        if stride == 2:
            self.avd_layer = nn.Sequential(
                nn.Conv2d(widths[0], widths[0], 3, 2, 1, groups=widths[0], bias=False), nn.BatchNorm2d(widths[0])
            )
            self.skip = nn.AvgPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H/stride, W/stride)."""
        first = self.conv_list[0](x)
        out, outs = first, []
        for i, conv in enumerate(self.conv_list[1:]):
            out = conv(self.avd_layer(out) if i == 0 and self.stride == 2 else out)
            outs.append(out)
        return torch.cat([self.skip(first) if self.stride == 2 else first] + outs, 1)


class STDCNet(Backbone):
    """STDC backbone (see the module docstring)."""

    def __init__(self, variant: str = "STDC1", base: int = 64, block_num: int = 4) -> None:
        super().__init__()
        if variant not in _STAGES:
            raise ValueError(f"MODEL.STDC.VARIANT must be one of {sorted(_STAGES)}, got {variant!r}")
        layers = [ConvX(3, base // 2, 3, 2), ConvX(base // 2, base, 3, 2)]
        self.stage_ends = [1]  # index of the last module of res2, res3, res4, res5
        in_ch = base
        for i, count in enumerate(_STAGES[variant]):
            out_ch = base * 4 * 2**i
            for j in range(count):
                layers.append(CatBottleneck(in_ch if j == 0 else out_ch, out_ch, block_num, 2 if j == 0 else 1))
            in_ch = out_ch
            self.stage_ends.append(len(layers) - 1)
        self.features = nn.Sequential(*layers)
        self._shapes = {
            f"res{i + 2}": ShapeSpec(c, 4 * 2**i) for i, c in enumerate([base, base * 4, base * 8, base * 16])
        }

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, 3, H, W) -> {"res2": (B, 64, H/4, W/4), ..., "res5": (B, 1024, H/32, W/32)}."""
        out, stage = {}, 0
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == self.stage_ends[stage]:
                out[f"res{stage + 2}"] = x
                stage += 1
        return out


@BACKBONE_REGISTRY.register()
def build_stdc_backbone(cfg) -> STDCNet:
    """STDC1 / STDC2 from MODEL.STDC.VARIANT."""
    return STDCNet(cfg.MODEL.STDC.VARIANT)
