"""Conv2d with optional `norm` / `activation` children (detectron2's key layout) and a norm factory."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["Conv2d", "get_norm"]


def get_norm(name: str, channels: int) -> Optional[nn.Module]:
    """Normalisation layer by detectron2's name: "FrozenBN", "BN", "SyncBN", "GN" (32 groups), "LN" or "" (none)."""
    if not name:
        return None
    factories = {
        "FrozenBN": lambda c: FrozenBatchNorm2d(c),
        "BN": nn.BatchNorm2d,
        "SyncBN": nn.SyncBatchNorm,
        "GN": lambda c: nn.GroupNorm(32, c),
    }
    if name not in factories:
        raise ValueError(f"unknown norm {name!r}; expected one of {sorted(factories)} or ''")
    return factories[name](channels)


class Conv2d(nn.Conv2d):
    """nn.Conv2d followed by optional `norm` and `activation`, stored as children so that checkpoint keys read
    `<name>.weight`, `<name>.norm.weight`, ... exactly as detectron2 writes them."""

    def __init__(self, *args, norm: Optional[nn.Module] = None, activation: Optional[Callable] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.norm = norm
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H', W')."""
        x = super().forward(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x
