"""VSPW (VSPW_480p): frames, per-frame label PNGs and split lists.

Layout under the dataset root:
    data/<video>/origin/<frame>.jpg
    data/<video>/mask/<frame>.png      raw value v: 0 ("others"), 253, 254, 255 = void; class = v - 1 (0..123)
    <split>.txt                        video names, one per line
The official evaluator reads the same raw values and shifts them by one, so prediction PNGs hold class + 1.
"""

from __future__ import annotations

import os
from typing import Iterable, List

import numpy as np

from ..video_dict import FrameSegments, register_annotation_decoder
from .common import ClassTable, check_file, read_label_png, segments_from_id_map, write_jpg, write_png

__all__ = ["load_vspw_videos", "write_vspw_split", "VSPW_VOID_VALUES"]

VSPW_VOID_VALUES = (0, 253, 254, 255)


def load_vspw_videos(root: str, split: str, dataset_name: str, table: ClassTable) -> List[dict]:
    """Video dicts of a VSPW split; frames are the sorted JPEGs of each video's `origin/` folder."""
    split_file = check_file(os.path.join(root, f"{split}.txt"), "VSPW split list")
    with open(split_file, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    videos = []
    for name in names:
        origin = os.path.join(root, "data", name, "origin")
        if not os.path.isdir(origin):
            raise FileNotFoundError(f"{origin}: frame folder of video '{name}' listed in {split_file} does not exist")
        stems = sorted(os.path.splitext(f)[0] for f in os.listdir(origin) if f.lower().endswith(".jpg"))
        if not stems:
            raise ValueError(f"{origin}: video '{name}' has no frame")
        anns = None
        if split != "test":
            anns = [os.path.join(root, "data", name, "mask", s + ".png") for s in stems]
            for a in anns:
                check_file(a, "VSPW label PNG")
        h, w = read_label_png(anns[0] if anns else os.path.join(origin, stems[0] + ".jpg")).shape[:2]
        videos.append(
            {
                "dataset_name": dataset_name,
                "video_id": name,
                "height": h,
                "width": w,
                "length": len(stems),
                "file_names": [os.path.join(origin, s + ".jpg") for s in stems],
                "annotation_format": "vspw",
                "frame_annotations": anns,
            }
        )
    return videos


@register_annotation_decoder("vspw")
def decode_vspw_frame(video: dict, t: int, metadata) -> FrameSegments:
    """FrameSegments of frame t: one stuff-like entity per class present."""
    path = video["frame_annotations"][t]
    raw = read_label_png(path)
    if raw.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel (palette or L) VSPW label PNG")
    table: ClassTable = metadata.class_table
    segments = {}
    for value in np.unique(raw).tolist():
        if value in VSPW_VOID_VALUES:
            continue
        cat = table.contiguous_id(value - 1, path)
        segments[value] = (cat, False, None, False)
    return segments_from_id_map(raw, segments, ignore_ids=VSPW_VOID_VALUES, where=path)


def write_vspw_split(root: str, split: str, videos: Iterable, class_table: List[dict]) -> None:
    """Write synthetic videos as a VSPW split: label value = class id + 1, void = 0."""
    names = []
    for video in videos:
        names.append(video.video_id)
        lut = {eid: info.category_id + 1 for eid, info in video.entities.items()}
        for t in range(len(video.frames)):
            stem = f"{t:08d}"
            emap = video.entity_map[t]
            label = np.zeros(emap.shape, np.uint8)
            for eid, value in lut.items():
                label[emap == eid] = value
            write_jpg(os.path.join(root, "data", video.video_id, "origin", stem + ".jpg"), video.frames[t])
            write_png(os.path.join(root, "data", video.video_id, "mask", stem + ".png"), label)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, f"{split}.txt"), "w", encoding="utf-8") as f:
        f.write("".join(n + "\n" for n in names))
