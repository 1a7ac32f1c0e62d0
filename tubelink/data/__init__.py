"""Datasets, catalogs, annotation decoders, clip sampling and mappers."""

from .catalog import DatasetCatalog, Metadata, MetadataCatalog
from .video_dict import FrameSegments, decode_frame

__all__ = ["DatasetCatalog", "MetadataCatalog", "Metadata", "FrameSegments", "decode_frame"]
