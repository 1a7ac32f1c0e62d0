"""The data contract between dataset loaders, mappers and evaluators.

A dataset loader returns a list of **video dicts**, one per video, cheap to build (no image or mask is decoded
at registration time):

    {
        "dataset_name": str,
        "video_id": str | int,          # the benchmark's own video id
        "height": int, "width": int,    # frame size of the video
        "length": int,                  # number of frames
        "file_names": [str, ...],       # frame image paths, in temporal order
        "annotation_format": str,       # a registered format: "vipseg" | "kitti_step" | "vspw" | "ytvis"
        "frame_annotations": [Any, ...] | None,  # per frame, the format's own lazy reference (a path,
                                        # a segments_info list, RLEs ...); None for unlabelled splits
    }

The split's format object (tubelink.data.datasets.format) turns one frame's reference into `FrameSegments`, the
single in-memory form every mapper consumes.

Track-id convention: thing instances keep the dataset's instance id (stable within a video). Stuff segments get
`track_id = STUFF_TRACK_BASE + category_id`, so one stuff class is one entity per video, never colliding with
instance ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

STUFF_TRACK_BASE = 1 << 40
"""Stuff entity track ids are STUFF_TRACK_BASE + contiguous category id."""


@dataclass
class FrameSegments:
    """All labelled segments of one frame.

    Attributes:
        masks: bool (S, H, W), one binary mask per segment (may overlap only for "ytvis").
        track_ids: int64 (S,), entity id stable across the video's frames (see the module docstring).
        category_ids: int64 (S,), contiguous class ids 0..C-1 of the dataset's metadata.
        is_thing: bool (S,), whether each segment is a thing instance.
        ignore: bool (H, W), pixels excluded from training losses and evaluation (void and crowd).
    """

    masks: np.ndarray
    track_ids: np.ndarray
    category_ids: np.ndarray
    is_thing: np.ndarray
    ignore: np.ndarray

    def __post_init__(self) -> None:
        s = len(self.track_ids)
        if self.masks.ndim != 3 or self.masks.shape[0] != s:
            raise ValueError(f"masks must be (S={s}, H, W), got {self.masks.shape}")
        if not (len(self.category_ids) == len(self.is_thing) == s):
            raise ValueError("track_ids, category_ids and is_thing must have the same length")
        if self.ignore.shape != self.masks.shape[1:]:
            raise ValueError(f"ignore must be {self.masks.shape[1:]}, got {self.ignore.shape}")

    @property
    def image_size(self) -> tuple:
        """(H, W)."""
        return tuple(self.ignore.shape)

    @classmethod
    def empty(cls, height: int, width: int) -> "FrameSegments":
        """A frame with no labelled segment."""
        return cls(
            masks=np.zeros((0, height, width), bool),
            track_ids=np.zeros(0, np.int64),
            category_ids=np.zeros(0, np.int64),
            is_thing=np.zeros(0, bool),
            ignore=np.zeros((height, width), bool),
        )


def decode_frame(video: Dict[str, Any], frame_index: int, metadata: Any) -> FrameSegments:
    """Decode frame `frame_index` of `video` with the format of its `annotation_format`
    (tubelink.data.datasets.format.FORMATS)."""
    from .datasets.format import FORMATS  # the formats build on this module's types

    fmt = video.get("annotation_format")
    if fmt not in FORMATS:
        raise KeyError(
            f"video {video.get('video_id')!r} of dataset {video.get('dataset_name')!r}: unknown annotation "
            f"format {fmt!r}; known: {sorted(FORMATS)}"
        )
    if video.get("frame_annotations") is None:
        raise ValueError(f"video {video.get('video_id')!r} of {video.get('dataset_name')!r} has no annotations")
    return FORMATS[fmt].decode_frame(video, frame_index, metadata)
