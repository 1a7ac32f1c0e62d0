"""ResNet with detectron2's module names (`stem.conv1`, `res2.0.conv1`, ...), so detectron2 / Mask2Former
checkpoints load without renaming. Bottleneck blocks; stride in the 3x3 conv unless STRIDE_IN_1X1 (torchvision /
Mask2Former style is the default)."""

from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import Conv2d, ShapeSpec, get_norm
from ..registry import BACKBONE_REGISTRY
from .base import Backbone

__all__ = ["ResNet", "build_resnet_backbone"]

_DEPTHS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


class BasicStem(nn.Module):
    """7x7 stride-2 conv + norm + ReLU, then 3x3 stride-2 max pool (stride 4)."""

    def __init__(self, in_channels: int, out_channels: int, norm: str) -> None:
        super().__init__()
        self.conv1 = Conv2d(
            in_channels, out_channels, 7, stride=2, padding=3, bias=False, norm=get_norm(norm, out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/4, W/4)."""
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 -> 1x1 with a projection shortcut when the shape changes."""

    def __init__(
        self, in_ch: int, out_ch: int, bottleneck: int, stride: int, norm: str, stride_in_1x1: bool, dilation: int = 1
    ) -> None:
        super().__init__()
        self.shortcut = (
            Conv2d(in_ch, out_ch, 1, stride=stride, bias=False, norm=get_norm(norm, out_ch))
            if in_ch != out_ch
            else None
        )
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = Conv2d(in_ch, bottleneck, 1, stride=s1, bias=False, norm=get_norm(norm, bottleneck))
        self.conv2 = Conv2d(
            bottleneck,
            bottleneck,
            3,
            stride=s3,
            padding=dilation,
            dilation=dilation,
            bias=False,
            norm=get_norm(norm, bottleneck),
        )
        self.conv3 = Conv2d(bottleneck, out_ch, 1, bias=False, norm=get_norm(norm, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H/stride, W/stride)."""
        out = self.conv3(F.relu_(self.conv2(F.relu_(self.conv1(x)))))
        return F.relu_(out + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(Backbone):
    """Stem + res2..res5, returning the requested stages."""

    def __init__(
        self,
        depth: int = 50,
        out_features=("res2", "res3", "res4", "res5"),
        norm: str = "FrozenBN",
        stride_in_1x1: bool = False,
        freeze_at: int = 0,
        stem_out: int = 64,
        res2_out: int = 256,
        res5_dilation: int = 1,
    ) -> None:
        super().__init__()
        if depth not in _DEPTHS:
            raise ValueError(f"MODEL.RESNETS.DEPTH: {depth} not supported; use one of {sorted(_DEPTHS)}")
        self.stem = BasicStem(3, stem_out, norm)
        self.out_features = list(out_features)
        in_ch, out_ch, stride = stem_out, res2_out, 4
        self.stage_names: List[str] = []
        for i, blocks in enumerate(_DEPTHS[depth]):
            name = f"res{i + 2}"
            first_stride = 1 if i == 0 or (i == 3 and res5_dilation == 2) else 2
            stride *= first_stride
            dilation = res5_dilation if i == 3 else 1
            stage = nn.Sequential(
                *[
                    BottleneckBlock(
                        in_ch if b == 0 else out_ch,
                        out_ch,
                        out_ch // 4,
                        first_stride if b == 0 else 1,
                        norm,
                        stride_in_1x1,
                        dilation,
                    )
                    for b in range(blocks)
                ]
            )
            self.add_module(name, stage)
            self.stage_names.append(name)
            self._shapes[name] = ShapeSpec(out_ch, stride)
            in_ch, out_ch = out_ch, out_ch * 2
        self.freeze(freeze_at)

    applies_freeze_at = True

    def freeze(self, freeze_at: int) -> None:
        """Stop gradients of the stem (freeze_at >= 1) and of res2..res{freeze_at} (detectron2's FREEZE_AT)."""
        modules = [self.stem] + [getattr(self, n) for n in self.stage_names]
        for module in modules[:freeze_at]:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, 3, H, W) normalised images -> {"res2": (B, 256, H/4, W/4), ..., "res5": (B, 2048, H/32, W/32)}."""
        out = {}
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self.out_features:
                out[name] = x
        return out


@BACKBONE_REGISTRY.register()
def build_resnet_backbone(cfg) -> ResNet:
    """ResNet from MODEL.RESNETS.* and MODEL.BACKBONE.FREEZE_AT."""
    r = cfg.MODEL.RESNETS
    if r.NUM_GROUPS != 1 or r.WIDTH_PER_GROUP != 64:
        raise ValueError("MODEL.RESNETS: only NUM_GROUPS 1 and WIDTH_PER_GROUP 64 (plain ResNet) are supported")
    if r.STEM_TYPE != "basic":
        raise ValueError(f"MODEL.RESNETS.STEM_TYPE: only 'basic' is supported, got {r.STEM_TYPE!r}")
    return ResNet(
        r.DEPTH,
        r.OUT_FEATURES,
        r.NORM,
        r.STRIDE_IN_1X1,
        cfg.MODEL.BACKBONE.FREEZE_AT,
        r.STEM_OUT_CHANNELS,
        r.RES2_OUT_CHANNELS,
        r.RES5_DILATION,
    )
