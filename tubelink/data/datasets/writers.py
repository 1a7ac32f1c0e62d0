"""Writers of a split from synthetic videos, one per benchmark format: SPLIT_WRITERS[fmt](root, split, videos,
class_table)."""

from .kitti_step import write_kitti_step_split
from .vipseg import write_vipseg_split
from .vspw import write_vspw_split
from .ytvis import write_ytvis_split

SPLIT_WRITERS = {
    "vipseg": write_vipseg_split,
    "ytvis": write_ytvis_split,
    "vspw": write_vspw_split,
    "kitti_step": write_kitti_step_split,
}

__all__ = ["SPLIT_WRITERS"]
