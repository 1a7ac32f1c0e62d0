"""Channel count and stride of a feature map (detectron2's ShapeSpec)."""

from typing import NamedTuple, Optional


class ShapeSpec(NamedTuple):
    """channels: feature channels; stride: input pixels per feature pixel."""

    channels: Optional[int] = None
    stride: Optional[int] = None
