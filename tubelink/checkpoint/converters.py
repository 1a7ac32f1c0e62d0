"""Key conversions from other layouts to tubelink's (detectron2's) module names."""

from __future__ import annotations

import re
from typing import Dict

import torch

__all__ = ["is_torchvision_resnet", "torchvision_resnet_to_detectron2"]


def is_torchvision_resnet(state: Dict[str, torch.Tensor]) -> bool:
    """True for a torchvision ResNet state dict (`conv1.weight`, `layer1.0.conv1.weight`, ...)."""
    return "conv1.weight" in state and any(k.startswith("layer1.") for k in state)


def torchvision_resnet_to_detectron2(
    state: Dict[str, torch.Tensor], prefix: str = "backbone."
) -> Dict[str, torch.Tensor]:
    """Rename a torchvision ResNet (ImageNet) state dict to detectron2's layout under `prefix`; drops `fc.*` and
    `num_batches_tracked` (FrozenBN has no such buffer)."""
    out = {}
    for key, value in state.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        new = re.sub(r"^conv1\.", "stem.conv1.", key)
        new = re.sub(r"^bn1\.", "stem.conv1.norm.", new)
        new = re.sub(r"^layer(\d)\.", lambda m: f"res{int(m.group(1)) + 1}.", new)
        new = re.sub(r"\.bn(\d)\.", r".conv\1.norm.", new)
        new = new.replace(".downsample.0.", ".shortcut.").replace(".downsample.1.", ".shortcut.norm.")
        out[prefix + new] = value
    return out
