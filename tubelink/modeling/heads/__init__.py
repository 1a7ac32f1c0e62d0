"""Heads: the segmentation head (pixel + tube decoder) and Tube-Link's link / embedding heads."""

from .link_head import CrossTubeLink, TubeEmbeddingHead
from .tube_head import TubeLinkHead

__all__ = ["CrossTubeLink", "TubeEmbeddingHead", "TubeLinkHead"]
