"""KITTI-STEP in the Video K-Net / Tube-Link layout: one PNG per frame with semantic and instance ids.

Layout under the dataset root:
    video_sequence/<split>/<seq:06d>_<frame:06d>_leftImg8bit.png     RGB frame
    video_sequence/<split>/<seq:06d>_<frame:06d>_panoptic.png        R = semantic train id (255 = void),
                                                                     instance = G*256 + B (0 = none)
Thing pixels with instance 0 are crowd (ignored), as in deeplab2. Instance ids are stable within a sequence, so
(semantic, instance) is the track id.
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from typing import Iterable, List

import numpy as np

from ..codecs import kitti_step_decode, kitti_step_encode
from ..video_dict import FrameSegments, register_annotation_decoder
from .common import ClassTable, read_label_png, segments_from_id_map, write_png

__all__ = ["load_kitti_step_videos", "write_kitti_step_split"]

logger = logging.getLogger(__name__)
_FRAME = re.compile(r"^(\d{6})_(\d{6})_leftImg8bit\.png$")
VOID = 255


def load_kitti_step_videos(root: str, split: str, dataset_name: str, table: ClassTable) -> List[dict]:
    """Video dicts of a KITTI-STEP split, one per sequence, frames in order; a frame without its panoptic PNG is
    an error for annotated splits (train/val)."""
    folder = os.path.join(root, "video_sequence", split)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: KITTI-STEP split folder does not exist (see datasets/README.md)")
    frames = defaultdict(list)
    for name in sorted(os.listdir(folder)):
        m = _FRAME.match(name)
        if m:
            frames[m.group(1)].append((int(m.group(2)), name))
    if not frames:
        raise ValueError(f"{folder}: no '<seq>_<frame>_leftImg8bit.png' frame found")
    annotated = split != "test"
    videos = []
    for seq in sorted(frames):
        items = sorted(frames[seq])
        images = [os.path.join(folder, n) for _, n in items]
        anns = None
        if annotated:
            anns = [p.replace("_leftImg8bit.png", "_panoptic.png") for p in images]
            missing = [p for p in anns if not os.path.isfile(p)]
            if missing:
                raise FileNotFoundError(f"{missing[0]}: panoptic label of a frame does not exist")
        h, w = read_label_png(images[0]).shape[:2]
        videos.append(
            {
                "dataset_name": dataset_name,
                "video_id": seq,
                "height": h,
                "width": w,
                "length": len(images),
                "file_names": images,
                "annotation_format": "kitti_step",
                "frame_annotations": anns,
            }
        )
    return videos


@register_annotation_decoder("kitti_step")
def decode_kitti_step_frame(video: dict, t: int, metadata) -> FrameSegments:
    """FrameSegments of frame t: void (255) and crowd (thing pixels with instance 0) are ignored."""
    path = video["frame_annotations"][t]
    label = read_label_png(path)
    if label.ndim != 3:
        raise ValueError(f"{path}: expected an RGB KITTI-STEP panoptic PNG")
    semantic, instance = kitti_step_decode(label)
    table: ClassTable = metadata.class_table
    combined = (semantic << 16) + instance
    segments = {}
    for value in np.unique(combined).tolist():
        sem, inst = value >> 16, value & 0xFFFF
        if sem == VOID:
            continue
        cat = table.contiguous_id(sem, path)
        thing = table.is_thing[cat]
        segments[value] = (cat, thing, value if thing else None, thing and inst == 0)
    void_values = [v for v in np.unique(combined).tolist() if v >> 16 == VOID]
    return segments_from_id_map(combined, segments, ignore_ids=void_values, where=path)


def write_kitti_step_split(root: str, split: str, videos: Iterable, class_table: List[dict]) -> None:
    """Write synthetic videos as KITTI-STEP PNGs; the class table's ids take the place of train ids."""
    folder = os.path.join(root, "video_sequence", split)
    for seq, video in enumerate(videos):
        instance_of, per_class = {}, defaultdict(int)
        for eid in sorted(video.entities):
            info = video.entities[eid]
            if info.is_thing:
                per_class[info.category_id] += 1
                instance_of[eid] = per_class[info.category_id]
        for t in range(len(video.frames)):
            emap = video.entity_map[t]
            semantic = np.full(emap.shape, VOID, np.int64)
            instance = np.zeros(emap.shape, np.int64)
            for eid in np.unique(emap).tolist():
                if eid == 0:
                    continue
                mask = emap == eid
                semantic[mask] = video.entities[eid].category_id
                instance[mask] = instance_of.get(eid, 0)
            stem = os.path.join(folder, f"{seq:06d}_{t:06d}")
            write_png(stem + "_leftImg8bit.png", video.frames[t])
            write_png(stem + "_panoptic.png", kitti_step_encode(semantic, instance))
