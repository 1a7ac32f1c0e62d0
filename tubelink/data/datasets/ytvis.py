"""YouTube-VIS 2019 / 2021 and OVIS: JPEG frames and one annotation JSON with per-frame masks (things only).

Layout (as Mask2Former registers them): <image_root>/<video>/<frame>.jpg and a JSON
    {videos: [{id, width, height, length, file_names}], annotations: [{id, video_id, category_id, iscrowd,
     segmentations: [RLE | polygons | None per frame], areas, bboxes}], categories: [{id, name}]}
The annotation id is the instance's track id.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from typing import Iterable, List

import numpy as np
import pycocotools.mask as mask_util

from ..video_dict import FrameSegments, register_annotation_decoder
from .common import ClassTable, check_file, write_jpg

__all__ = ["load_ytvis_videos", "write_ytvis_split", "decode_segmentation"]

logger = logging.getLogger(__name__)


def load_ytvis_videos(json_file: str, image_root: str, dataset_name: str, table: ClassTable) -> List[dict]:
    """Video dicts of a YouTube-VIS-format split. Unannotated splits (no "annotations") get None annotations."""
    check_file(json_file, "YouTube-VIS annotation JSON")
    with open(json_file, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{json_file}: invalid JSON: {err}") from None
    if "videos" not in data:
        raise ValueError(f"{json_file}: missing top-level key 'videos'")
    annotated = "annotations" in data
    by_video = defaultdict(list)
    for ann in data.get("annotations", []):
        table.contiguous_id(ann["category_id"], f"{json_file} (annotation {ann.get('id')})")
        by_video[ann["video_id"]].append(ann)
    videos = []
    for video in data["videos"]:
        n = len(video["file_names"])
        if n == 0:
            logger.warning(f"{json_file}: video {video['id']} has no frame; skipped")
            continue
        frame_anns = None
        if annotated:
            frame_anns = [[] for _ in range(n)]
            for ann in by_video.get(video["id"], []):
                segs = ann["segmentations"]
                if len(segs) != n:
                    raise ValueError(
                        f"{json_file}: annotation {ann['id']} of video {video['id']} has {len(segs)} per-frame "
                        f"segmentations for {n} frames"
                    )
                for t, seg in enumerate(segs):
                    if seg is not None:
                        frame_anns[t].append(
                            {
                                "track_id": int(ann["id"]),
                                "category_id": ann["category_id"],
                                "iscrowd": int(ann.get("iscrowd", 0)),
                                "segmentation": seg,
                            }
                        )
        videos.append(
            {
                "dataset_name": dataset_name,
                "video_id": video["id"],
                "height": video["height"],
                "width": video["width"],
                "length": n,
                "file_names": [os.path.join(image_root, fn) for fn in video["file_names"]],
                "annotation_format": "ytvis",
                "frame_annotations": frame_anns,
            }
        )
    return videos


def decode_segmentation(seg, height: int, width: int, where: str) -> np.ndarray:
    """bool (H, W) mask from a COCO RLE (compressed or not) or a list of polygons."""
    try:
        if isinstance(seg, list):
            rle = mask_util.merge(mask_util.frPyObjects(seg, height, width))
        elif isinstance(seg.get("counts"), list):
            rle = mask_util.frPyObjects(seg, height, width)
        else:
            rle = seg
        mask = mask_util.decode(rle).astype(bool)
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        raise ValueError(f"{where}: malformed segmentation: {err}") from None
    if mask.shape != (height, width):
        raise ValueError(f"{where}: mask is {mask.shape[0]}x{mask.shape[1]}, the video is {height}x{width}")
    return mask


@register_annotation_decoder("ytvis")
def decode_ytvis_frame(video: dict, t: int, metadata) -> FrameSegments:
    """FrameSegments of frame t: one thing per annotated instance (masks may overlap); crowd -> ignore."""
    h, w = video["height"], video["width"]
    table: ClassTable = metadata.class_table
    where = f"{video['dataset_name']} video {video['video_id']} frame {t}"
    masks, tracks, cats = [], [], []
    ignore = np.zeros((h, w), bool)
    for ann in video["frame_annotations"][t]:
        mask = decode_segmentation(ann["segmentation"], h, w, where)
        if ann["iscrowd"]:
            ignore |= mask
            continue
        masks.append(mask)
        tracks.append(ann["track_id"])
        cats.append(table.contiguous_id(ann["category_id"], where))
    return FrameSegments(
        masks=np.stack(masks) if masks else np.zeros((0, h, w), bool),
        track_ids=np.asarray(tracks, np.int64),
        category_ids=np.asarray(cats, np.int64),
        is_thing=np.ones(len(tracks), bool),
        ignore=ignore,
    )


def write_ytvis_split(root: str, split: str, videos: Iterable, class_table: List[dict]) -> None:
    """Write synthetic videos as YouTube-VIS: things only, category ids 1..K over the table's thing classes,
    frames under <root>/<split>/JPEGImages/, annotations in <root>/<split>.json."""
    things = [r for r in class_table if r["isthing"]]
    category_of = {int(r["id"]): k + 1 for k, r in enumerate(things)}
    json_videos, json_anns = [], []
    for video_index, video in enumerate(videos, start=1):
        T, h, w = video.entity_map.shape
        names = [f"{video.video_id}/{t:08d}.jpg" for t in range(T)]
        for t, name in enumerate(names):
            write_jpg(os.path.join(root, split, "JPEGImages", name), video.frames[t])
        json_videos.append({"id": video_index, "width": w, "height": h, "length": T, "file_names": names})
        for eid in sorted(video.entities):
            info = video.entities[eid]
            if not info.is_thing:
                continue
            segs, areas, boxes = [], [], []
            for t in range(T):
                mask = video.entity_map[t] == eid
                if not mask.any():
                    segs.append(None)
                    areas.append(None)
                    boxes.append(None)
                    continue
                rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
                rle["counts"] = rle["counts"].decode("ascii")
                segs.append(rle)
                areas.append(int(mask.sum()))
                boxes.append([float(v) for v in mask_util.toBbox(rle)])
            json_anns.append(
                {
                    "id": len(json_anns) + 1,
                    "video_id": video_index,
                    "category_id": category_of[info.category_id],
                    "iscrowd": 0,
                    "segmentations": segs,
                    "areas": areas,
                    "bboxes": boxes,
                    "width": w,
                    "height": h,
                    "length": 1,
                }
            )
    categories = [{"id": k + 1, "name": r["name"], "supercategory": "object"} for k, r in enumerate(things)]
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, f"{split}.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "videos": json_videos,
                "annotations": json_anns,
                "categories": categories,
                "info": {"description": "tubelink synthetic benchmark"},
                "licenses": [],
            },
            f,
        )
