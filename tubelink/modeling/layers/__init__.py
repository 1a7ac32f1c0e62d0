"""Building blocks shared by the model's modules (the only copy of each)."""

from .conv import Conv2d, get_norm
from .position_encoding import PositionEmbeddingSine, PositionEmbeddingSine3D
from .shape_spec import ShapeSpec

__all__ = ["Conv2d", "get_norm", "PositionEmbeddingSine", "PositionEmbeddingSine3D", "ShapeSpec"]
