"""The backbone contract (detectron2's `Backbone`): named feature maps with known channels and strides."""

from __future__ import annotations

from typing import Dict

from torch import nn

from ..layers import ShapeSpec

__all__ = ["Backbone"]


class Backbone(nn.Module):
    """Subclasses fill `self._shapes` ({name: ShapeSpec}) and may restrict `self.out_features`; those that apply
    MODEL.BACKBONE.FREEZE_AT set `applies_freeze_at` (any other value than 0 is refused for the rest)."""

    applies_freeze_at = False

    def __init__(self) -> None:
        super().__init__()
        self._shapes: Dict[str, ShapeSpec] = {}
        self.out_features = None

    def output_shape(self) -> Dict[str, ShapeSpec]:
        """Channels and stride of every returned feature map."""
        names = self.out_features if self.out_features is not None else list(self._shapes)
        return {k: self._shapes[k] for k in names}

    @property
    def size_divisibility(self) -> int:
        """Inputs are padded to a multiple of this (the coarsest stride)."""
        return 32
