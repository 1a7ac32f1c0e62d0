"""Datasets, catalogs, benchmark formats, clip sampling and mappers."""

from .catalog import DatasetCatalog, Metadata, MetadataCatalog
from .register import (
    register_kitti_step_panoptic,
    register_split,
    register_vipseg_panoptic,
    register_vspw_semantic,
    register_ytvis_instances,
)
from .video_dict import FrameSegments, decode_frame

__all__ = [
    "DatasetCatalog",
    "MetadataCatalog",
    "Metadata",
    "FrameSegments",
    "decode_frame",
    "register_split",
    "register_vipseg_panoptic",
    "register_kitti_step_panoptic",
    "register_vspw_semantic",
    "register_ytvis_instances",
]
