"""Benchmark formats: loaders returning video dicts, FrameSegments decoders (registered on import), writers."""

from .common import ClassTable, load_category_file
from .kitti_step import load_kitti_step_videos
from .vipseg import load_vipseg_videos
from .vspw import load_vspw_videos
from .ytvis import load_ytvis_videos

__all__ = [
    "ClassTable",
    "load_category_file",
    "load_kitti_step_videos",
    "load_vipseg_videos",
    "load_vspw_videos",
    "load_ytvis_videos",
]
