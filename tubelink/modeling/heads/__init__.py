"""Heads: the segmentation head (pixel + tube decoder) and Tube-Link's link / embedding heads."""

from .link_head import CrossTubeLink, QuasiDenseEmbedHead, TubeEmbeddingHead, build_embed_head
from .tube_head import TubeLinkHead

__all__ = ["CrossTubeLink", "QuasiDenseEmbedHead", "TubeEmbeddingHead", "TubeLinkHead", "build_embed_head"]
